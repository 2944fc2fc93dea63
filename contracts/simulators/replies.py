"""What a personality's handler returns; the HTTP core (server.py) sends it.

``Reply`` goes out at once. ``Streamed`` and ``Delayed`` are inference answers: the core applies
faults, waits for a slot, then sends them on the generation's schedule.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contracts.simulators.config import SimulatorConfig
from contracts.simulators.generation import Generation

__all__ = ["Call", "Delayed", "Reply", "Streamed", "dumps", "json_reply", "text_reply"]


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)  # one instance: dumps() builds one per call


def dumps(body: Any) -> bytes:
    return _ENCODER.encode(body).encode("utf-8")


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    # Close the keep-alive connection right after this answer, without `connection: close`
    # (llama-cpp-python's 500 to a body that is not JSON).
    drop_connection: bool = False


def json_reply(status: int, body: Any, *, content_type: str = "application/json") -> Reply:
    return Reply(status, dumps(body), content_type)


def text_reply(status: int, text: str, *, content_type: str = "text/plain; charset=utf-8") -> Reply:
    return Reply(status, text.encode("utf-8"), content_type)


@dataclass
class Streamed:
    generation: Generation
    content_type: str
    preamble: bytes  # sent with the headers once a slot is held (role-only chunk, if any)
    render: Callable[[int], bytes]  # content chunk i, rendered when it is due (no burst of work on arrival)
    trailer: bytes  # sent together with the last content chunk (finish chunk, usage, [DONE])
    malformed: bytes  # what the malformed-chunk fault sends instead of a chunk
    model: str = ""

    @property
    def count(self) -> int:
        return self.generation.chunk_count


@dataclass
class Delayed:
    generation: Generation
    reply: Reply  # sent when the schedule's last chunk is due
    model: str = ""


@dataclass
class Call:
    """One request as a personality sees it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    config: SimulatorConfig
    request_id: int
    counters: dict[str, Any]  # the core's live numbers (for /metrics, /slots, /api/ps)
    note_model: Callable[[str], None]  # count an inference request against a model

    def violates(self, rule: str) -> bool:
        return rule in self.config.violations
