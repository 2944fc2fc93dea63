"""Exact aggregation of raw request records into the report figures.

Percentiles are computed from every raw value (linear interpolation between closest ranks, the
same as ``numpy.percentile`` and vLLM's benchmark), never from Locust's rounded buckets. Failed
and warm-up requests never enter latency figures. Throughput uses a steady-state window that
excludes ramp-up and drain; the report says which window was used and why.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from generator.stats import percentile
from loadtests.timing import ERROR_CLASSES, RequestRecord

__all__ = [
    "METRIC_DEFINITIONS",
    "SLO_METRICS",
    "Aggregate",
    "aggregate",
    "format_slo",
    "parse_slo",
    "steady_window",
    "summarize",
]

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

# Metrics a --slo may bound (milliseconds), as in vLLM's --goodput.
SLO_METRICS = ("ttft", "tpot", "e2el", "ttfb")
LATENCY_METRICS = ("ttft", "tpot", "itl", "e2el", "ttfb")
# Schedule lag above which an open-loop run warns that the client could not keep up.
LAG_WARNING_MS = 25.0

METRIC_DEFINITIONS: dict[str, str] = {
    "origin": "latencies are measured from `sent`, or in open-loop (--rate) runs from `intended_start` "
    "(coordinated-omission correction); see `latency_origin`",
    "ttfb": "headers - origin: status line and response headers read",
    "ttft": "first_token - origin: first chunk whose content, reasoning_content or tool_calls is "
    "non-empty (a role-only or empty chunk is not a token)",
    "e2el": "last_token - origin (non-streaming: whole body read)",
    "tpot": "(last_token - first_token) / (N - 1), N = output tokens from the server's usage "
    "(token-bearing chunks when the server gives no usage); requests with N < 2 have none",
    "itl": "gaps between consecutive token-bearing chunks, pooled over all requests (vLLM's ITL)",
    "schedule_lag": "sent - intended_start: how late the client sent each request",
    "request_throughput": "requests completed inside the steady-state window / duration",
    "output_throughput": "output tokens of requests completed inside the window / duration",
    "total_token_throughput": "(input + output) tokens of requests completed inside the window / duration",
    "request_goodput": "requests completed inside the window meeting every SLO / duration",
    "duration": "length of the steady-state window in seconds (see steady_state_window)",
    "percentiles": "exact, from every raw value, linear interpolation between closest ranks",
}


def summarize(values: Iterable[float], percentiles: Sequence[float] = (90, 99)) -> dict[str, float]:
    """mean, median, population std and the given percentiles; NaN-free: empty gives zeros."""
    data = sorted(values)
    if not data:
        return {"mean": 0.0, "median": 0.0, "std": 0.0, **{_pname(p): 0.0 for p in percentiles}}
    mean = math.fsum(data) / len(data)
    var = math.fsum((v - mean) ** 2 for v in data) / len(data)
    out = {"mean": mean, "median": percentile(data, 50), "std": math.sqrt(var)}
    for p in percentiles:
        out[_pname(p)] = percentile(data, p)
    return out


def _pname(p: float) -> str:
    return f"p{p:g}".replace(".", "_")


@dataclass
class PerRequest:
    """Latencies (ms) of one successful request."""

    ttfb: float | None
    ttft: float | None
    e2el: float
    tpot: float | None
    itl: list[float]


def per_request(record: RequestRecord, origin_ns: int) -> PerRequest:
    assert record.done_ns is not None
    end = record.last_token_ns if record.last_token_ns is not None else record.done_ns
    ttft = None if record.first_token_ns is None else (record.first_token_ns - origin_ns) / NS_PER_MS
    ttfb = None if record.headers_ns is None else (record.headers_ns - origin_ns) / NS_PER_MS
    n = record.output_token_count
    tpot = None
    if record.first_token_ns is not None and record.last_token_ns is not None and n > 1:
        tpot = (record.last_token_ns - record.first_token_ns) / (n - 1) / NS_PER_MS
    chunks = record.token_chunk_ns
    itl = [(b - a) / NS_PER_MS for a, b in itertools.pairwise(chunks)]
    return PerRequest(ttfb=ttfb, ttft=ttft, e2el=(end - origin_ns) / NS_PER_MS, tpot=tpot, itl=itl)


@dataclass
class Window:
    start_ns: int  # epoch
    end_ns: int
    reason: str

    @property
    def seconds(self) -> float:
        return max(0.0, (self.end_ns - self.start_ns) / NS_PER_S)


def steady_window(records: Sequence[RequestRecord], *, open_loop: bool, median_e2el_ms: float = 0.0) -> Window:
    """The part of the run where the load was fully applied.

    Closed loop: from the moment every user had completed its first request (ramp-up over) to
    the moment the first user completed its last one (drain begins). Open loop: from the first
    intended start plus one median end-to-end latency (the pipeline has filled) to the last
    intended start (arrivals stop). Falls back to the whole run when that window is empty.
    """
    done = [r for r in records if r.done_ns is not None or r.error_class is not None]
    if not done:
        return Window(0, 0, "no requests finished")
    finish = {id(r): r.epoch(r.done_ns if r.done_ns is not None else _last_seen(r)) for r in done}
    first_sent = min(r.epoch(r.sent_ns) for r in done)
    last_done = max(finish.values())
    if open_loop:
        start = min(r.epoch(r.intended_start_ns) for r in done) + int(median_e2el_ms * NS_PER_MS)
        end = max(r.epoch(r.intended_start_ns) for r in done)
        reason = "open loop: first intended start + median E2EL (pipeline filled) .. last intended start (arrivals end)"
    else:
        by_user: dict[tuple[int, int], list[int]] = {}
        for r in done:
            by_user.setdefault((r.worker, r.user), []).append(finish[id(r)])
        start = max(min(v) for v in by_user.values())
        end = min(max(v) for v in by_user.values())
        reason = (
            f"closed loop, {len(by_user)} users: every user's first completion (ramp-up over) .. "
            "the first user's last completion (drain begins)"
        )
    if end - start <= 0 or sum(1 for v in finish.values() if start < v <= end) < 2:
        return Window(first_sent, last_done, "whole run (first sent .. last finished): too few requests for a steady-state window")
    return Window(start, end, reason)


def _last_seen(r: RequestRecord) -> int:
    stamps = [t for t in (r.last_token_ns, r.first_event_ns, r.first_byte_ns, r.headers_ns) if t is not None]
    return max(stamps) if stamps else r.sent_ns


@dataclass
class Aggregate:
    """The report's figures plus the per-request values the plots need."""

    figures: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def parse_slo(text: str) -> dict[str, float]:
    """``ttft=500,tpot=50`` -> {"ttft": 500.0, "tpot": 50.0}; raises ValueError naming the bad part."""
    slo: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip().removesuffix("_ms")
        if not sep or name not in SLO_METRICS:
            raise ValueError(f"bad SLO {part!r}: expected NAME=MILLISECONDS with NAME one of {', '.join(SLO_METRICS)}")
        try:
            slo[name] = float(value)
        except ValueError:
            raise ValueError(f"bad SLO {part!r}: {value!r} is not a number of milliseconds") from None
    return slo


def format_slo(slo: dict[str, float]) -> str:
    """The inverse of :func:`parse_slo`: {"ttft": 500.0, "tpot": 50.0} -> ``ttft=500,tpot=50``."""
    return ",".join(f"{name}={value:g}" if float(f"{value:g}") == value else f"{name}={value!r}"
                    for name, value in slo.items())


def aggregate(
    records: Sequence[RequestRecord],
    *,
    open_loop: bool = False,
    slo: dict[str, float] | None = None,
    warmup: int = 0,
    percentiles: Sequence[float] = (90, 99),
) -> Aggregate:
    ordered = sorted(records, key=lambda r: r.epoch(r.sent_ns))
    warm = {id(r) for r in ordered[:warmup]}
    measured = [r for r in ordered if id(r) not in warm]
    ok = [r for r in measured if r.ok]
    failed_all = [r for r in ordered if not r.ok]
    warnings: list[str] = []

    values: dict[str, list[float]] = {m: [] for m in LATENCY_METRICS}
    lat_by_id: dict[int, PerRequest] = {}
    for r in ok:
        pr = per_request(r, r.intended_start_ns if open_loop else r.sent_ns)
        lat_by_id[id(r)] = pr
        for name in ("ttfb", "ttft", "tpot"):
            v = getattr(pr, name)
            if v is not None:
                values[name].append(v)
        values["e2el"].append(pr.e2el)
        values["itl"].extend(pr.itl)

    median_e2el = percentile(sorted(values["e2el"]), 50) if values["e2el"] else 0.0
    window = steady_window(ordered, open_loop=open_loop, median_e2el_ms=median_e2el)
    in_window = [r for r in ok if window.start_ns < r.epoch(r.done_ns or 0) <= window.end_ns]
    seconds = window.seconds

    def rate(x: float) -> float:
        return x / seconds if seconds > 0 else 0.0

    win_out = sum(r.output_token_count for r in in_window)
    win_in = sum(r.input_tokens if r.input_tokens is not None else r.prompt_tokens_requested for r in in_window)
    completed_all = [r for r in ordered if r.ok]
    figures: dict[str, Any] = {
        "completed": len(completed_all),
        "failed": len(failed_all),
        "duration": seconds,
        "total_input_tokens": sum(
            r.input_tokens if r.input_tokens is not None else r.prompt_tokens_requested for r in completed_all
        ),
        "total_output_tokens": sum(r.output_token_count for r in completed_all),
        "request_throughput": rate(len(in_window)),
        "output_throughput": rate(win_out),
        "total_token_throughput": rate(win_in + win_out),
    }
    for name in LATENCY_METRICS:
        for stat, value in summarize(values[name], percentiles).items():
            figures[f"{stat}_{name}_ms"] = value
    errors = dict.fromkeys(ERROR_CLASSES, 0)
    for r in failed_all:
        errors[r.error_class or "protocol"] += 1
    figures["errors"] = errors
    figures["failed_ratio"] = len(failed_all) / len(ordered) if ordered else 0.0
    figures["warmup_excluded"] = len(warm)
    figures["latency_origin"] = "intended_start" if open_loop else "sent"
    total_span = (
        (max(r.epoch(r.done_ns or _last_seen(r)) for r in ordered) - min(r.epoch(r.sent_ns) for r in ordered)) / NS_PER_S
        if ordered
        else 0.0
    )
    figures["total_duration"] = total_span
    figures["steady_state_window"] = {
        "start_offset_s": (window.start_ns - min((r.epoch(r.sent_ns) for r in ordered), default=0)) / NS_PER_S,
        "seconds": seconds,
        "requests": len(in_window),
        "reason": window.reason,
    }
    lag = [(r.sent_ns - r.intended_start_ns) / NS_PER_MS for r in ordered]
    figures.update({f"{k}_schedule_lag_ms": v for k, v in summarize(lag, percentiles).items()})
    figures["max_schedule_lag_ms"] = max(lag, default=0.0)
    if open_loop and lag and figures["p99_schedule_lag_ms"] > LAG_WARNING_MS:
        late = sum(1 for v in lag if v > LAG_WARNING_MS)
        warnings.append(
            f"the client could not keep to its schedule: p99 schedule lag {figures['p99_schedule_lag_ms']:.1f} ms, "
            f"max {figures['max_schedule_lag_ms']:.1f} ms, {late} of {len(lag)} requests sent more than "
            f"{LAG_WARNING_MS:g} ms late (latencies are measured from the intended start, so they include it); "
            "add users (--users), workers (--workers) or lower --rate"
        )
    if slo:
        good = [r for r in in_window if _meets(lat_by_id[id(r)], slo)]
        figures["request_goodput"] = rate(len(good))
        figures["slo"] = dict(slo)
        figures["slo_attainment"] = sum(1 for r in ok if _meets(lat_by_id[id(r)], slo)) / len(ok) if ok else 0.0
    tokens, token_warnings = token_crosscheck(completed_all)
    figures["token_counts"] = tokens
    warnings.extend(token_warnings)
    if failed_all:
        warnings.append(f"{len(failed_all)} request(s) failed: {', '.join(f'{k} {v}' for k, v in errors.items() if v)}")
    figures["warnings"] = warnings
    figures["metric_definitions"] = METRIC_DEFINITIONS
    return Aggregate(figures=figures, warnings=warnings)


def _meets(pr: PerRequest, slo: dict[str, float]) -> bool:
    for name, limit in slo.items():
        value = getattr(pr, name)
        if value is not None and value > limit:
            return False
        if value is None and name == "ttft":
            return False
    return True


def token_crosscheck(records: Sequence[RequestRecord]) -> tuple[dict[str, Any], list[str]]:
    """Usage vs token-bearing chunks vs words of the text; the report says where they disagree."""
    with_usage = [r for r in records if r.output_tokens is not None]
    missing = len(records) - len(with_usage)
    streamed = [r for r in with_usage if r.stream]
    below = [r for r in streamed if r.output_tokens is not None and r.output_tokens < r.token_chunks]
    multi = [r for r in streamed if r.output_tokens is not None and r.output_tokens > r.token_chunks]
    words_off = [r for r in with_usage if r.output_words != r.output_tokens]
    chunks = sum(r.token_chunks for r in records)
    usage_total = sum(r.output_tokens or 0 for r in with_usage)
    info = {
        "usage_output_tokens": usage_total,
        "token_bearing_chunks": chunks,
        "output_words": sum(r.output_words for r in records),
        "requests_without_usage": missing,
        "requests_usage_below_chunks": len(below),
        "requests_usage_above_chunks": len(multi),
        "requests_usage_not_words": len(words_off),
        "tokens_per_chunk": (usage_total / sum(r.token_chunks for r in with_usage))
        if with_usage and any(r.token_chunks for r in with_usage)
        else None,
    }
    warnings = []
    if missing:
        warnings.append(
            f"{missing} request(s) came without usage: their output tokens are the token-bearing chunk count"
        )
    if below:
        warnings.append(
            f"{len(below)} request(s) report fewer output tokens in usage than token-bearing chunks: the server's usage is wrong"
        )
    if multi:
        warnings.append(
            f"{len(multi)} request(s) carry several tokens per chunk (usage {usage_total} tokens over {chunks} chunks): "
            "TPOT uses usage, ITL is per chunk"
        )
    return info, warnings
