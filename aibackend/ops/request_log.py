"""Reading the gateway's JSON log: per-request records, tailing, and the per-group analysis.

The gateway log (``<config-dir>/.run/gateway-<slot>.log``) mixes LiteLLM's start-up banner (plain
text), LiteLLM's and uvicorn's JSON log lines, and -- with the request logger callback
(``generator/request_logger.py``) -- one ``"message": "aibackend.request"`` line per request::

    {"message": "aibackend.request", "timestamp": "2026-11-23T19:06:27.668+00:00",
     "model_group": "llama3.2:latest", "original_model_group": "chat",
     "deployment": "llama3.2:latest@ol/llama3.2:latest", "api_base": "http://127.0.0.1:53859/api/chat",
     "status": "success", "status_code": 200, "latency_ms": 75.0, "ttft_ms": 75.0,
     "prompt_tokens": 1, "completion_tokens": 3, "attempted_fallbacks": 1, ...}

A deployment that fails inside a fallback chain writes its own ``failure`` line before the
fallback's ``success`` line. Without the callback only uvicorn's access lines
(``"POST /v1/chat/completions HTTP/1.1" 200``) carry per-request facts: status, no group.

Lines are classified, never trusted: a line that starts like JSON but does not parse, or a
request record with a missing or mistyped field, is ``malformed`` (counted and reported with its
line number); plain text lines (the banner) are ``text``.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from generator.stats import DEFAULT_PERCENTILES, percentile, percentile_key

__all__ = [
    "AccessLine",
    "Analysis",
    "LineKind",
    "Malformed",
    "RequestRecord",
    "analyze",
    "classify",
    "format_record",
    "parse_duration",
    "percentile",
    "read_lines",
]

EVENT = "aibackend.request"
_ACCESS = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[0-9.]+" (?P<status>\d{3})')
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
INFERENCE_PATHS = ("/chat/completions", "/v1/chat/completions", "/completions", "/v1/completions",
                   "/v1/embeddings", "/embeddings", "/v1/messages")

_ENDPOINT_SUFFIXES = ("/chat/completions", "/completions", "/api/chat", "/api/generate", "/embeddings", "/messages")

LineKind = Literal["request", "access", "json", "text", "malformed", "blank"]


@dataclass(frozen=True)
class RequestRecord:
    line: int
    timestamp: datetime
    model_group: str
    original_model_group: str | None
    backend: str  # the api_base that served (or failed) it
    deployment: str
    status: str  # success | failure
    status_code: int | None
    latency_ms: float | None
    ttft_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    stream: bool
    error_class: str | None

    @property
    def ok(self) -> bool:
        return self.status == "success"

    @property
    def fallback_from(self) -> str | None:
        """The group originally asked for, when another group answered it."""
        if self.original_model_group and self.original_model_group != self.model_group:
            return self.original_model_group
        return None


@dataclass(frozen=True)
class AccessLine:
    line: int
    method: str
    path: str
    status: int


@dataclass(frozen=True)
class Malformed:
    line: int
    reason: str
    text: str


def _number(value: Any, name: str, *, optional: bool = True) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"`{name}` is not a number: {value!r}")
    return float(value)


def _int(value: Any, name: str) -> int | None:
    number = _number(value, name)
    return None if number is None else int(number)


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"`timestamp` is not a string: {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"`timestamp` is not an ISO time: {value!r}") from None
    return moment if moment.tzinfo else moment.astimezone()  # LiteLLM's own lines are local time


def _server_root(api_base: str) -> str:
    """LiteLLM logs the full endpoint URL; the backend is the server (``.../v1/chat/completions`` -> ``.../v1``)."""
    for suffix in _ENDPOINT_SUFFIXES:
        if api_base.endswith(suffix):
            return api_base[: -len(suffix)]
    return api_base


def _record(number: int, data: dict[str, Any]) -> RequestRecord:
    status = data.get("status")
    if status not in ("success", "failure"):
        raise ValueError(f"`status` must be success or failure, got {status!r}")
    group = data.get("model_group")
    if not isinstance(group, str):
        raise ValueError(f"`model_group` is missing or not a string: {group!r}")
    original = data.get("original_model_group")
    return RequestRecord(
        line=number,
        timestamp=_timestamp(data.get("timestamp")),
        model_group=group or "(no group)",
        original_model_group=original if isinstance(original, str) and original else None,
        backend=_server_root(str(data.get("api_base") or "(none)")),
        deployment=str(data.get("deployment") or ""),
        status=status,
        status_code=_int(data.get("status_code"), "status_code"),
        latency_ms=_number(data.get("latency_ms"), "latency_ms"),
        ttft_ms=_number(data.get("ttft_ms"), "ttft_ms"),
        prompt_tokens=_int(data.get("prompt_tokens"), "prompt_tokens"),
        completion_tokens=_int(data.get("completion_tokens"), "completion_tokens"),
        stream=bool(data.get("stream")),
        error_class=str(data.get("error_class")) if data.get("error_class") else None,
    )


def classify(number: int, line: str) -> tuple[LineKind, RequestRecord | AccessLine | Malformed | None]:
    text = line.strip()
    if not text:
        return "blank", None
    if not text.startswith("{"):
        return "text", None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return "malformed", Malformed(number, f"not valid JSON ({exc.msg} at column {exc.colno})", text[:160])
    if not isinstance(data, dict):
        return "malformed", Malformed(number, "a JSON value that is not an object", text[:160])
    message = data.get("message")
    if message == EVENT:
        try:
            return "request", _record(number, data)
        except ValueError as exc:
            return "malformed", Malformed(number, f"request record: {exc}", text[:160])
    if data.get("component") == "uvicorn.access" and isinstance(message, str):
        match = _ACCESS.search(message)
        if match:
            return "access", AccessLine(number, match["method"], match["path"], int(match["status"]))
    return "json", None


def read_lines(lines: Iterable[str], start: int = 1) -> Iterator[tuple[LineKind, RequestRecord | AccessLine | Malformed | None]]:
    for number, line in enumerate(lines, start=start):
        yield classify(number, line)


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``1d``, ``500ms`` (a bare number is seconds)."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration: use a number and a unit, e.g. 30s, 15m, 2h, 1d")
    return timedelta(seconds=float(match[1]) * _UNITS[match[2]])


@dataclass
class GroupStats:
    model_group: str
    backend: str
    count: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    completion_tokens: int = 0
    status_codes: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        def pct(values: list[float], q: float) -> float | None:
            return round(percentile(sorted(values), q), 2) if values else None

        return {
            "model_group": self.model_group, "backend": self.backend, "count": self.count, "errors": self.errors,
            "error_rate": round(self.errors / self.count, 4) if self.count else 0.0,
            "latency_ms": {**{percentile_key(q): pct(self.latencies, q) for q in DEFAULT_PERCENTILES},
                           "max": max(self.latencies, default=None)},
            "ttft_ms": {percentile_key(q): pct(self.ttfts, q) for q in DEFAULT_PERCENTILES},
            "completion_tokens": self.completion_tokens,
            "status_codes": dict(sorted(self.status_codes.items())),
        }


@dataclass
class Analysis:
    groups: dict[tuple[str, str], GroupStats] = field(default_factory=dict)
    fallbacks: Counter[tuple[str, str]] = field(default_factory=Counter)
    access_status: Counter[int] = field(default_factory=Counter)
    malformed: list[Malformed] = field(default_factory=list)
    lines: Counter[str] = field(default_factory=Counter)
    first: datetime | None = None
    last: datetime | None = None
    skipped_before_since: int = 0

    @property
    def requests(self) -> int:
        return sum(stats.count for stats in self.groups.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "records": self.requests,
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
            "groups": [stats.to_json() for _, stats in sorted(self.groups.items())],
            "fallbacks": [{"from": source, "to": target, "count": count}
                          for (source, target), count in sorted(self.fallbacks.items())],
            "access_log_status": {str(code): n for code, n in sorted(self.access_status.items())},
            "lines": dict(sorted(self.lines.items())),
            "skipped_before_since": self.skipped_before_since,
            "malformed": [{"line": m.line, "reason": m.reason, "text": m.text} for m in self.malformed],
        }


def analyze(lines: Iterable[str], *, since: datetime | None = None) -> Analysis:
    result = Analysis()
    for kind, item in read_lines(lines):
        result.lines[kind] += 1
        if isinstance(item, Malformed):
            result.malformed.append(item)
        elif isinstance(item, AccessLine):
            if item.method == "POST" and item.path.split("?")[0] in INFERENCE_PATHS:
                result.access_status[item.status] += 1
        elif isinstance(item, RequestRecord):
            if since is not None and item.timestamp < since:
                result.skipped_before_since += 1
                continue
            result.first = item.timestamp if result.first is None else min(result.first, item.timestamp)
            result.last = item.timestamp if result.last is None else max(result.last, item.timestamp)
            key = (item.model_group, item.backend)
            stats = result.groups.setdefault(key, GroupStats(*key))
            stats.count += 1
            stats.status_codes[str(item.status_code) if item.status_code is not None else "?"] += 1
            if not item.ok:
                stats.errors += 1
            else:
                if item.latency_ms is not None:
                    stats.latencies.append(item.latency_ms)
                if item.ttft_ms is not None:
                    stats.ttfts.append(item.ttft_ms)
                stats.completion_tokens += item.completion_tokens or 0
                if item.fallback_from:
                    result.fallbacks[(item.fallback_from, item.model_group)] += 1
    return result


def format_record(record: RequestRecord) -> str:
    """One line of ``requests tail``: time, group, backend, status, latency, tokens."""
    when = record.timestamp.astimezone().strftime("%H:%M:%S.%f")[:-3]
    group = record.model_group + (f" (fallback from {record.fallback_from})" if record.fallback_from else "")
    status = str(record.status_code or "?") + ("" if record.ok else f" {record.error_class or 'error'}")
    latency = "-" if record.latency_ms is None else f"{record.latency_ms:.0f} ms"
    ttft = "" if record.ttft_ms is None or not record.stream else f" ttft {record.ttft_ms:.0f} ms"
    tokens = f"{record.prompt_tokens if record.prompt_tokens is not None else '?'}+" \
             f"{record.completion_tokens if record.completion_tokens is not None else '?'} tok"
    return f"{when}  {group:<28} {record.backend:<40} {status:<6} {latency:>8}{ttft}  {tokens}"


def now() -> datetime:
    return datetime.now(UTC)
