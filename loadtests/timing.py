"""Per-request timestamps on a monotonic clock, exactly as ``load-metrics.md`` names them.

One :class:`RequestRecord` per request, filled in by the users while the response streams and
aggregated later by :mod:`loadtests.metrics`. Timestamps are ``time.perf_counter_ns()`` values of
the process that sent the request; ``epoch_offset_ns`` converts them to wall-clock nanoseconds so
that records from several worker processes land on one time axis (durations never mix clocks).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["ERROR_CLASSES", "RequestRecord", "epoch_offset_ns", "now_ns"]

now_ns = time.perf_counter_ns

# The error classes of interface.md, in report order.
ERROR_CLASSES: tuple[str, ...] = ("http_4xx", "http_5xx", "timeout", "connection", "protocol")


def epoch_offset_ns() -> int:
    """Wall-clock minus monotonic clock for this process (add to a timestamp to get epoch ns)."""
    return time.time_ns() - time.perf_counter_ns()


@dataclass
class RequestRecord:
    """Everything measured about one request. ``None`` means the moment never came."""

    request_id: str
    api: str
    stream: bool
    worker: int = 0
    user: int = 0
    intended_start_ns: int = 0
    sent_ns: int = 0
    headers_ns: int | None = None
    first_byte_ns: int | None = None
    first_event_ns: int | None = None
    first_token_ns: int | None = None
    last_token_ns: int | None = None
    done_ns: int | None = None
    # Arrival time of every chunk that carried a token (content, reasoning or tool call).
    token_chunk_ns: list[int] = field(default_factory=list)
    status: int | None = None
    error_class: str | None = None
    error: str | None = None
    input_tokens: int | None = None  # server usage (prompt_tokens / prompt_eval_count)
    output_tokens: int | None = None  # server usage (completion_tokens / eval_count)
    output_words: int = 0  # whitespace-separated words in the generated text (third count)
    prompt_tokens_requested: int = 0
    max_tokens_requested: int = 0
    epoch_offset_ns: int = 0
    # Response headers a simulator sends with its true timings (``x-sim-*``), kept for proof tests.
    server_timing: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error_class is None and self.done_ns is not None

    @property
    def token_chunks(self) -> int:
        return len(self.token_chunk_ns)

    @property
    def output_token_count(self) -> int:
        """N for TPOT: the server's usage when it gave one, else the token-bearing chunks."""
        return self.output_tokens if self.output_tokens is not None else self.token_chunks

    def epoch(self, mono_ns: int) -> int:
        return mono_ns + self.epoch_offset_ns

    def to_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies every list and costs milliseconds per record.
        return {name: getattr(self, name) for name in _FIELD_NAMES}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RequestRecord:
        return cls(**{k: v for k, v in data.items() if k in _FIELD_NAMES})

    def fail(self, error_class: str, message: str) -> None:
        if error_class not in ERROR_CLASSES:
            raise ValueError(f"unknown error class {error_class!r}")
        if self.error_class is None:  # the first cause is the one that counts
            self.error_class = error_class
            self.error = message[:500]


_FIELD_NAMES = tuple(f.name for f in fields(RequestRecord))
