"""Per model group and per backend, over the last seconds: what ``top`` shows in its tables.

From the request log (``aibackend.ops.request_log``), exact: every request the gateway finished,
by the time it finished. Requests/s over the last ``RATE_WINDOW_S``; errors and the p50/p95
latency of successful requests over the last ``LATENCY_WINDOW_S``. A figure with nothing to
measure it from is None (shown "-"), never 0.

From metrics (``MetricsWindow``, when no log can be read: a remote ``--gateway``): counter and
histogram deltas between two scrapes of LiteLLM's ``/metrics/``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aibackend.ops.request_log import RequestRecord
from aibackend.top.metrics import Sample, delta, histogram_quantile
from generator.stats import percentile

__all__ = ["LATENCY_WINDOW_S", "RATE_WINDOW_S", "GroupRow", "LogWindow", "MetricsWindow", "netloc"]

RATE_WINDOW_S = 10.0
LATENCY_WINDOW_S = 60.0


@dataclass(frozen=True)
class GroupRow:
    name: str
    rps: float | None
    requests: int  # in the latency window
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    last_error: str | None = None


def netloc(url: str) -> str:
    """``host:port`` of a URL (how a backend of the log is matched to a provider of the registry)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname or ''}:{port}"


@dataclass(frozen=True)
class _Seen:
    at: float
    group: str
    backend: str
    ok: bool
    latency_ms: float | None
    error: str | None


class LogWindow:
    """The request log's records of the last ``LATENCY_WINDOW_S`` seconds."""

    def __init__(self) -> None:
        self.records: deque[_Seen] = deque()

    def add(self, records: Iterable[RequestRecord]) -> None:
        for r in records:
            error = None if r.ok else f"{r.status_code or '?'} {r.error_class or 'error'}"
            self.records.append(_Seen(r.timestamp.timestamp(), r.model_group, netloc(r.backend), r.ok, r.latency_ms, error))

    def _prune(self, now: float) -> None:
        while self.records and self.records[0].at < now - LATENCY_WINDOW_S:
            self.records.popleft()

    def _rows(self, now: float, key: str) -> list[GroupRow]:
        self._prune(now)
        by: dict[str, list[_Seen]] = {}
        for record in self.records:
            by.setdefault(getattr(record, key), []).append(record)
        rows = []
        for name, seen in sorted(by.items(), key=lambda item: item[0]):
            recent = sum(1 for s in seen if s.at >= now - RATE_WINDOW_S)
            latencies = sorted(s.latency_ms for s in seen if s.ok and s.latency_ms is not None)
            errors = [s for s in seen if not s.ok]
            rows.append(GroupRow(
                name, recent / RATE_WINDOW_S, len(seen), len(errors),
                percentile(latencies, 50) if latencies else None, percentile(latencies, 95) if latencies else None,
                errors[-1].error if errors else None))
        return rows

    def groups(self, now: float) -> list[GroupRow]:
        return self._rows(now, "group")

    def backends(self, now: float) -> dict[str, GroupRow]:
        return {row.name: row for row in self._rows(now, "backend")}


_Key = tuple[str, tuple[tuple[str, str], ...]]
LATENCY = "litellm_request_total_latency_metric"
FAILED = "litellm_proxy_failed_requests_metric_total"


class MetricsWindow:
    """Per group from two successive scrapes: completions and failures per second, latency quantiles."""

    def __init__(self) -> None:
        self.previous: dict[_Key, float] | None = None
        self.previous_at = 0.0
        self.rows: list[GroupRow] = []

    def update(self, samples: list[Sample], now: float) -> list[GroupRow]:
        current = {(s.name, s.labels): s.value for s in samples
                   if s.name in (f"{LATENCY}_count", f"{LATENCY}_bucket", FAILED)}
        if self.previous is None:
            self.previous, self.previous_at = current, now
            return []  # a rate needs two scrapes
        changes, seconds = delta(current, self.previous), max(now - self.previous_at, 1e-6)
        self.previous, self.previous_at = current, now
        done: dict[str, float] = {}
        failed: dict[str, float] = {}
        buckets: dict[str, dict[float, float]] = {}
        for (name, labels), change in changes.items():
            label = dict(labels)
            if name == f"{LATENCY}_count":
                group = label.get("model_group", "")
                done[group] = done.get(group, 0.0) + change
            elif name == FAILED:
                group = label.get("requested_model", "")
                failed[group] = failed.get(group, 0.0) + change
            else:
                group, bound = label.get("model_group", ""), float(label.get("le", "inf"))
                buckets.setdefault(group, {})[bound] = buckets.setdefault(group, {}).get(bound, 0.0) + change
        rows = []
        for group in sorted(set(done) | set(failed)):
            if not group or group == "None":
                continue
            cumulative = list(buckets.get(group, {}).items())
            p50, p95 = histogram_quantile(0.5, cumulative), histogram_quantile(0.95, cumulative)
            count = int(done.get(group, 0.0) + failed.get(group, 0.0))
            rows.append(GroupRow(group, count / seconds, count, int(failed.get(group, 0.0)),
                                 None if p50 is None else p50 * 1000, None if p95 is None else p95 * 1000))
        self.rows = rows
        return rows
