"""Exact aggregation of raw request records into the report figures.

Every key vLLM's serving benchmark (``vllm bench serve``, ``vllm/benchmarks/serve.py`` of vLLM
0.34.0) writes means here what it means there: ``duration`` is the whole benchmark (first request
sent .. last one over), ``request_throughput`` = completed / duration, ``output_throughput`` =
output tokens / duration, latencies are measured from the moment a request was sent, percentiles
interpolate linearly between closest ranks (``numpy.percentile``), ``request_goodput`` = requests
meeting every SLO / duration. Figures of our own have names of their own: the steady-state window
(ramp-up and drain left out) gives ``steady_state_*``; open-loop latencies including the client's
lateness (coordinated omission) are ``*_including_client_queue_ms`` (vLLM's name); the gateway's
share is ``*_gateway_overhead_ms``.

A figure that cannot be computed (no completed request, no request with two tokens...) is
``None`` -- null in JSON, "n/a" in text -- never 0. Failed and warm-up requests never enter
latency figures, and warm-up requests enter no figure at all (vLLM runs its warm-ups before the
benchmark's clock starts).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from generator.stats import DEFAULT_PERCENTILES, percentile, percentile_key
from loadtests.timing import ERROR_CLASSES, TOKEN_SOURCES, RequestRecord

__all__ = [
    "GOODPUT_METRICS",
    "METRIC_DEFINITIONS",
    "SLO_METRICS",
    "Aggregate",
    "aggregate",
    "format_goodput",
    "format_slo",
    "parse_goodput",
    "parse_slo",
    "per_request",
    "steady_window",
    "summarize",
]

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

# Metrics a --slo may bound (milliseconds); vLLM's --goodput takes the first three.
SLO_METRICS = ("ttft", "tpot", "e2el", "ttfb")
GOODPUT_METRICS = ("ttft", "tpot", "e2el")
LATENCY_METRICS = ("ttft", "tpot", "itl", "e2el", "ttfb")
# Open loop: the same figures counted from the intended start (vLLM's e2el_including_client_queue).
QUEUE_METRICS = ("ttft_including_client_queue", "e2el_including_client_queue", "client_queue_time")
GATEWAY_METRICS = ("gateway_overhead", "upstream_ttft")
# Schedule lag above which an open-loop run warns that the client could not keep up.
LAG_WARNING_MS = 25.0
SLOWEST_LISTED = 10

METRIC_DEFINITIONS: dict[str, str] = {
    "origin": "latencies are measured from `sent`, the moment the request was written (vLLM's start); "
    "open-loop runs add the same figures from `intended_start` as *_including_client_queue_ms",
    "ttfb": "headers - sent: status line and response headers read",
    "ttft": "first_token - sent: first chunk whose content, reasoning_content or tool_calls is "
    "non-empty (a role-only or empty chunk is not a token)",
    "e2el": "last_token - sent (non-streaming: whole body read)",
    "tpot": "(last_token - first_token) / (N - 1), N = the request's output tokens from the most trustworthy "
    "count (see output_tokens_source); requests with N < 2 have none",
    "itl": "gaps between consecutive token-bearing chunks, pooled over all requests (vLLM's ITL)",
    "client_queue_time": "sent - intended_start: how late the client sent each request (vLLM's client "
    "queue time; also *_schedule_lag_ms)",
    "ttft_including_client_queue": "first_token - intended_start (open loop: coordinated-omission corrected)",
    "e2el_including_client_queue": "last_token - intended_start (open loop: coordinated-omission corrected)",
    "duration": "vLLM's benchmark duration: first measured request's (intended) start .. the end of the last "
    "measured request, answered or failed, in seconds",
    "request_throughput": "completed / duration",
    "output_throughput": "total_output_tokens / duration",
    "total_token_throughput": "(total_input_tokens + total_output_tokens) / duration",
    "request_goodput": "completed requests meeting every SLO (--slo / --goodput) / duration; null without SLOs",
    "max_output_tokens_per_s": "the most output tokens that arrived within one second of the run (1 s buckets "
    "from the first start, as vLLM)",
    "max_concurrent_requests": "the most requests in flight within one second of the run (vLLM's count)",
    "steady_state_duration": "length of the steady-state window (ramp-up and drain left out; "
    "steady_state_window says which and why), in seconds",
    "steady_state_request_throughput": "requests completed inside the steady-state window / its length",
    "steady_state_output_throughput": "output tokens of requests completed inside the window / its length",
    "steady_state_total_token_throughput": "input + output tokens of requests completed inside the window / "
    "its length",
    "steady_state_request_goodput": "requests completed inside the window meeting every SLO / its length",
    "gateway_overhead": "LiteLLM's own time before it answered (x-litellm-overhead-duration-ms: its response "
    "time minus the provider call), per request through the gateway",
    "upstream_ttft": "ttft - gateway_overhead: the provider's time to the first token plus both network hops",
    "output_tokens_source": "where total_output_tokens and TPOT's N come from: server_usage (the server's own "
    "usage), tokenizer (--tokenizer on the text), gateway_usage (a gateway's usage: the server's passed on, or "
    "the gateway's own estimate), chunks (token-bearing chunks), words; 'mixed' lists them in token_counts",
    "input_tokens_source": "where total_input_tokens come from: server_usage, tokenizer (the prompt counted "
    "with --tokenizer), gateway_usage, words",
    "percentiles": "exact, from every raw value, linear interpolation between closest ranks (numpy, vLLM)",
}


def summarize(values: Iterable[float], percentiles: Sequence[float] = DEFAULT_PERCENTILES) -> dict[str, float | None]:
    """mean, median, population std and the given percentiles; all None for no values."""
    data = sorted(values)
    if not data:
        return {"mean": None, "median": None, "std": None, **{percentile_key(p): None for p in percentiles}}
    mean = math.fsum(data) / len(data)
    var = math.fsum((v - mean) ** 2 for v in data) / len(data)
    out: dict[str, float | None] = {"mean": mean, "median": percentile(data, 50), "std": math.sqrt(var)}
    for p in percentiles:
        out[percentile_key(p)] = percentile(data, p)
    return out


@dataclass
class PerRequest:
    """Latencies (ms) of one successful request, from its send."""

    ttfb: float | None
    ttft: float | None
    e2el: float
    tpot: float | None
    itl: list[float]
    lag: float  # sent - intended_start


def per_request(record: RequestRecord) -> PerRequest:
    assert record.done_ns is not None
    sent = record.sent_ns
    end = record.last_token_ns if record.last_token_ns is not None else record.done_ns
    ttft = None if record.first_token_ns is None else (record.first_token_ns - sent) / NS_PER_MS
    ttfb = None if record.headers_ns is None else (record.headers_ns - sent) / NS_PER_MS
    n = record.output_token_count
    tpot = None
    if record.first_token_ns is not None and record.last_token_ns is not None and n > 1:
        tpot = (record.last_token_ns - record.first_token_ns) / (n - 1) / NS_PER_MS
    chunks = record.token_chunk_ns
    itl = [(b - a) / NS_PER_MS for a, b in itertools.pairwise(chunks)]
    return PerRequest(ttfb=ttfb, ttft=ttft, e2el=(end - sent) / NS_PER_MS, tpot=tpot, itl=itl,
                      lag=(sent - record.intended_start_ns) / NS_PER_MS)


def gateway_ms(record: RequestRecord, header: str) -> float | None:
    text = record.gateway.get(header)
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def gateway_count(record: RequestRecord, header: str) -> int | None:
    text = record.gateway.get(header)
    return int(text) if text is not None and text.isdigit() else None


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
    finish = {id(r): r.epoch(r.done_ns if r.done_ns is not None else r.end_ns()) for r in done}
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


@dataclass
class Aggregate:
    """The report's figures, and the per-request latencies the report's tables and charts reuse."""

    figures: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    latencies: dict[int, PerRequest] = field(default_factory=dict)  # id(record) -> its latencies


def parse_slo(text: str) -> dict[str, float]:
    """``ttft=500,tpot=50`` -> {"ttft": 500.0, "tpot": 50.0}; raises ValueError naming the bad part."""
    slo: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip().removesuffix("_ms")
        if not sep or name not in SLO_METRICS:
            raise ValueError(f"bad SLO {part!r}: expected NAME=MILLISECONDS with NAME one of {', '.join(SLO_METRICS)}")
        slo[name] = _milliseconds(value, part)
    return slo


def format_slo(slo: dict[str, float]) -> str:
    """The inverse of :func:`parse_slo`: {"ttft": 500.0, "tpot": 50.0} -> ``ttft=500,tpot=50``."""
    return ",".join(f"{name}={_number(value)}" for name, value in slo.items())


def parse_goodput(text: str) -> dict[str, float]:
    """vLLM's ``--goodput ttft:500 tpot:50`` (KEY:VALUE pairs, spaces or commas between them)."""
    slo: dict[str, float] = {}
    for part in text.replace(",", " ").split():
        name, sep, value = part.partition(":")
        if not sep or name not in GOODPUT_METRICS:
            raise ValueError(f"bad --goodput {part!r}: expected KEY:MILLISECONDS with KEY one of "
                             f"{', '.join(GOODPUT_METRICS)} (vLLM's names), e.g. ttft:500 tpot:50")
        slo[name] = _milliseconds(value, part)
    return slo


def format_goodput(slo: dict[str, float]) -> str:
    return " ".join(f"{name}:{_number(value)}" for name, value in slo.items())


def _milliseconds(value: str, part: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"bad SLO {part!r}: {value!r} is not a number of milliseconds") from None
    if number < 0 or math.isnan(number):
        raise ValueError(f"bad SLO {part!r}: a number of milliseconds must not be negative")
    return number


def _number(value: float) -> str:
    return f"{value:g}" if float(f"{value:g}") == value else repr(value)


def _meets(pr: PerRequest, slo: dict[str, float]) -> bool:
    # vLLM's rule: a request without TPOT (one output token) counts as TPOT 0; one without a TTFT fails.
    for name, limit in slo.items():
        value = getattr(pr, name)
        if value is not None and value > limit:
            return False
        if value is None and name in ("ttft", "ttfb"):
            return False
    return True


def _per_second_peaks(ok: Sequence[RequestRecord], t0: int) -> tuple[float | None, int | None]:
    """vLLM's max_output_tokens_per_s and max_concurrent_requests over 1 s buckets from ``t0``."""
    if not ok:
        return None, None
    last = max(r.epoch(r.end_ns()) for r in ok)
    buckets = int((last - t0) // NS_PER_S) + 1
    tokens = [0.0] * buckets
    concurrent = [0] * buckets
    for r in ok:
        n, chunks = r.output_token_count, r.token_chunks
        per_chunk = n / chunks if chunks else 0.0
        for t in r.token_chunk_ns:
            tokens[int((r.epoch(t) - t0) // NS_PER_S)] += per_chunk
        first = int((r.epoch(r.sent_ns) - t0) // NS_PER_S)
        end = int((r.epoch(r.last_token_ns or r.done_ns or r.sent_ns) - t0) // NS_PER_S)
        for second in range(max(0, first), min(end, buckets - 1) + 1):
            concurrent[second] += 1
    return max(tokens), max(concurrent)


def aggregate(
    records: Sequence[RequestRecord],
    *,
    open_loop: bool = False,
    slo: dict[str, float] | None = None,
    warmup: int = 0,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
) -> Aggregate:
    ordered = sorted(records, key=lambda r: r.epoch(r.sent_ns))
    warm = ordered[:warmup]
    measured = ordered[warmup:]
    ok = [r for r in measured if r.ok]
    failed = [r for r in measured if not r.ok]
    warnings: list[str] = []

    values: dict[str, list[float]] = {m: [] for m in (*LATENCY_METRICS, *QUEUE_METRICS, *GATEWAY_METRICS)}
    lat_by_id: dict[int, PerRequest] = {}
    for r in ok:
        pr = per_request(r)
        lat_by_id[id(r)] = pr
        for name in ("ttfb", "ttft", "tpot"):
            v = getattr(pr, name)
            if v is not None:
                values[name].append(v)
        values["e2el"].append(pr.e2el)
        values["itl"].extend(pr.itl)
        if pr.ttft is not None:
            values["ttft_including_client_queue"].append(pr.ttft + pr.lag)
        values["e2el_including_client_queue"].append(pr.e2el + pr.lag)
        overhead = gateway_ms(r, "x-litellm-overhead-duration-ms")
        if overhead is not None:
            values["gateway_overhead"].append(overhead)
            if pr.ttft is not None:
                values["upstream_ttft"].append(pr.ttft - overhead)
    values["client_queue_time"] = [(r.sent_ns - r.intended_start_ns) / NS_PER_MS for r in measured]

    # vLLM's duration: the benchmark's clock starts before the first request and stops when the last is over.
    start_ns = min((r.epoch(r.intended_start_ns) for r in measured), default=0)
    end_ns = max((r.epoch(r.end_ns()) for r in measured), default=0)
    duration = (end_ns - start_ns) / NS_PER_S if measured and end_ns > start_ns else None

    def per_s(x: float) -> float | None:
        return x / duration if duration else None

    out_counts = {id(r): r.output_count() for r in ok}
    in_counts = {id(r): r.input_count() for r in ok}
    total_out = sum(n for n, _ in out_counts.values())
    total_in = sum(n for n, _ in in_counts.values())
    good = [r for r in ok if _meets(lat_by_id[id(r)], slo)] if slo else []
    figures: dict[str, Any] = {
        "duration": duration,
        "completed": len(ok),
        "failed": len(failed),
        "total_input_tokens": total_in,
        "total_output_tokens": total_out,
        "request_throughput": per_s(len(ok)),
        "request_goodput": per_s(len(good)) if slo else None,
        "output_throughput": per_s(total_out),
        "total_token_throughput": per_s(total_in + total_out),
    }
    # vLLM's 1 s buckets start at the first completed request's send
    figures["max_output_tokens_per_s"], figures["max_concurrent_requests"] = _per_second_peaks(
        ok, min((r.epoch(r.sent_ns) for r in ok), default=0))
    figures["output_tokens_source"] = _source_name(Counter(s for _, s in out_counts.values()))
    figures["input_tokens_source"] = _source_name(Counter(s for _, s in in_counts.values()))
    for name in LATENCY_METRICS:
        for stat, value in summarize(values[name], percentiles).items():
            figures[f"{stat}_{name}_ms"] = value
    if open_loop:
        for name in QUEUE_METRICS:
            for stat, value in summarize(values[name], percentiles).items():
                figures[f"{stat}_{name}_ms"] = value

    # The steady-state window and its figures (ours, under their own names).
    median_e2el = percentile(sorted(values["e2el"]), 50) if values["e2el"] else 0.0
    window = steady_window(ordered, open_loop=open_loop, median_e2el_ms=median_e2el)
    in_window = [r for r in ok if window.start_ns < r.epoch(r.done_ns or 0) <= window.end_ns]
    seconds = window.seconds

    def rate(x: float) -> float | None:
        return x / seconds if seconds > 0 else None

    win_out = sum(out_counts[id(r)][0] for r in in_window)
    win_in = sum(in_counts[id(r)][0] for r in in_window)
    figures.update({
        "steady_state_duration": seconds if seconds > 0 else None,
        "steady_state_request_throughput": rate(len(in_window)),
        "steady_state_output_throughput": rate(win_out),
        "steady_state_total_token_throughput": rate(win_in + win_out),
        "steady_state_request_goodput": rate(sum(1 for r in in_window if _meets(lat_by_id[id(r)], slo)))
        if slo else None,
    })
    first_sent = min((r.epoch(r.sent_ns) for r in ordered), default=0)
    figures["steady_state_window"] = {
        "start_offset_s": (window.start_ns - first_sent) / NS_PER_S if ordered else None,
        "seconds": seconds,
        "requests": len(in_window),
        "reason": window.reason,
    }
    errors = dict.fromkeys(ERROR_CLASSES, 0)
    for r in failed:
        errors[r.error_class or "protocol"] += 1
    figures["errors"] = errors
    figures["failed_ratio"] = len(failed) / len(measured) if measured else None
    figures["warmup_excluded"] = len(warm)
    figures["latency_origin"] = "sent"
    figures["total_duration"] = (
        (max(r.epoch(r.end_ns()) for r in ordered) - first_sent) / NS_PER_S if ordered else None)
    lag = values["client_queue_time"]
    figures.update({f"{k}_schedule_lag_ms": v for k, v in summarize(lag, percentiles).items()})
    figures["max_schedule_lag_ms"] = max(lag, default=None)
    p99_lag = percentile(sorted(lag), 99) if lag else 0.0
    if open_loop and p99_lag > LAG_WARNING_MS:
        late = sum(1 for v in lag if v > LAG_WARNING_MS)
        warnings.append(
            f"the client could not keep to its schedule: p99 schedule lag {p99_lag:.1f} ms, "
            f"max {max(lag):.1f} ms, {late} of {len(lag)} requests sent more than {LAG_WARNING_MS:g} ms late "
            "(the *_including_client_queue_ms figures include it); add users (--users), workers (--workers) "
            "or lower --rate"
        )
    if slo:
        figures["slo"] = dict(slo)
        figures["slo_attainment"] = len(good) / len(ok) if ok else None
    _gateway_figures(figures, ok, values, percentiles)
    figures["slowest_requests"] = slowest(ok, lat_by_id, first_sent)
    tokens, token_warnings = token_crosscheck(ok)
    figures["token_counts"] = tokens
    warnings.extend(token_warnings)
    if failed:
        warnings.append(f"{len(failed)} request(s) failed: {', '.join(f'{k} {v}' for k, v in errors.items() if v)}")
    warm_failed = sum(1 for r in warm if not r.ok)
    if warm_failed:
        warnings.append(f"{warm_failed} of the {len(warm)} warm-up request(s) failed (left out of every figure)")
    if measured and not ok:
        warnings.insert(0, f"no request completed ({len(failed)} failed): every latency figure is null")
    figures["warnings"] = warnings
    figures["metric_definitions"] = METRIC_DEFINITIONS
    return Aggregate(figures=figures, warnings=warnings, latencies=lat_by_id)


def _source_name(counts: Counter[str]) -> str | None:
    if not counts:
        return None
    return next(iter(counts)) if len(counts) == 1 else "mixed"


def _gateway_figures(figures: dict[str, Any], ok: Sequence[RequestRecord], values: dict[str, list[float]],
                     percentiles: Sequence[float]) -> None:
    """The gateway's share of the latency, from LiteLLM's response headers (null when none came)."""
    through = [r for r in ok if r.via_gateway]
    figures["gateway_requests"] = len(through)
    for name in GATEWAY_METRICS:
        for stat, value in summarize(values[name], percentiles).items():
            figures[f"{stat}_{name}_ms"] = value
    retries = [gateway_count(r, "x-litellm-attempted-retries") or 0 for r in through]
    fallbacks = [gateway_count(r, "x-litellm-attempted-fallbacks") or 0 for r in through]
    figures["gateway_retried_requests"] = sum(1 for n in retries if n) if through else None
    figures["gateway_retries"] = sum(retries) if through else None
    figures["gateway_fallback_requests"] = sum(1 for n in fallbacks if n) if through else None
    figures["gateway_deployments"] = dict(Counter(r.gateway.get("x-litellm-model-id", "?") for r in through))


def slowest(ok: Sequence[RequestRecord], lat: dict[int, PerRequest], t0: int, n: int = SLOWEST_LISTED) -> list[dict[str, Any]]:
    """The ``n`` completed requests with the longest TTFT (E2EL when none), with what explains them."""
    def key(r: RequestRecord) -> float:
        pr = lat[id(r)]
        return pr.ttft if pr.ttft is not None else pr.e2el

    rows = []
    for r in sorted(ok, key=key, reverse=True)[:n]:
        pr = lat[id(r)]
        overhead = gateway_ms(r, "x-litellm-overhead-duration-ms")
        count, source = r.output_count()
        rows.append({
            "request_id": r.request_id,
            "sent_offset_s": (r.epoch(r.sent_ns) - t0) / NS_PER_S,
            "user": f"{r.worker}.{r.user}",
            "ttfb_ms": pr.ttfb,
            "ttft_ms": pr.ttft,
            "e2el_ms": pr.e2el,
            "gateway_overhead_ms": overhead,
            "upstream_ttft_ms": pr.ttft - overhead if pr.ttft is not None and overhead is not None else None,
            "retries": gateway_count(r, "x-litellm-attempted-retries"),
            "fallbacks": gateway_count(r, "x-litellm-attempted-fallbacks"),
            "deployment": r.gateway.get("x-litellm-model-id"),
            "model_group": r.gateway.get("x-litellm-model-group"),
            "server_queue_ms": _float(r.server_timing.get("x-sim-queue-ms")),
            "output_tokens": count,
            "output_tokens_source": source,
        })
    return rows


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def token_crosscheck(records: Sequence[RequestRecord]) -> tuple[dict[str, Any], list[str]]:
    """Every count of the output side by side, which one each request used, and where they disagree."""
    sources = Counter(r.output_count()[1] for r in records)
    with_usage = [r for r in records if r.output_tokens is not None]
    missing = len(records) - len(with_usage)
    streamed = [r for r in with_usage if r.stream]
    below = [r for r in streamed if r.output_tokens is not None and r.output_tokens < r.token_chunks]
    multi = [r for r in streamed if r.output_tokens is not None and r.output_tokens > r.token_chunks]
    gateway_off = [r for r in streamed if r.via_gateway and r.output_tokens != r.token_chunks]
    tokenized = [r for r in records if r.tokenizer_output_tokens is not None]
    words_off = [r for r in with_usage if r.output_words != r.output_tokens]
    chunks = sum(r.token_chunks for r in records)
    usage_total = sum(r.output_tokens or 0 for r in with_usage)
    chunks_with_usage = sum(r.token_chunks for r in with_usage)
    info = {
        "sources": {s: sources[s] for s in TOKEN_SOURCES if sources[s]},
        "usage_output_tokens": usage_total if with_usage else None,
        "usage_from": ("gateway" if all(r.via_gateway for r in with_usage) else
                       "server" if not any(r.via_gateway for r in with_usage) else "mixed") if with_usage else None,
        "tokenizer_output_tokens": sum(r.tokenizer_output_tokens or 0 for r in tokenized) if tokenized else None,
        "token_bearing_chunks": chunks,
        "output_words": sum(r.output_words for r in records),
        "requests_without_usage": missing,
        "requests_usage_below_chunks": len(below),
        "requests_usage_above_chunks": len(multi),
        "requests_gateway_usage_not_chunks": len(gateway_off),
        "requests_usage_not_words": len(words_off),
        "tokens_per_chunk": usage_total / chunks_with_usage if with_usage and chunks_with_usage else None,
    }
    warnings = []
    if missing and not tokenized:
        warnings.append(
            f"{missing} request(s) came without usage: their output tokens are the token-bearing chunk count"
        )
    if gateway_off:
        used = "the --tokenizer count" if tokenized else "the token-bearing chunks"
        warnings.append(
            f"{len(gateway_off)} request(s) through the gateway carry a usage that differs from their token-bearing "
            f"chunks ({sum(r.output_tokens or 0 for r in gateway_off)} tokens over "
            f"{sum(r.token_chunks for r in gateway_off)} chunks): a gateway fills usage with its own tokenizer's "
            f"estimate when the server sends none, so TPOT and token throughput use {used}"
            + ("" if tokenized else "; pass --tokenizer DIR (the model's tokenizer) to count the text exactly"))
    direct_below = [r for r in below if not r.via_gateway]
    if direct_below:
        warnings.append(
            f"{len(direct_below)} request(s) report fewer output tokens in usage than token-bearing chunks: "
            "the server's usage is wrong"
        )
    direct_multi = [r for r in multi if not r.via_gateway]
    if direct_multi:
        warnings.append(
            f"{len(direct_multi)} request(s) carry several tokens per chunk (usage "
            f"{sum(r.output_tokens or 0 for r in direct_multi)} tokens over {sum(r.token_chunks for r in direct_multi)} "
            "chunks): TPOT uses usage, ITL is per chunk"
        )
    return info, warnings
