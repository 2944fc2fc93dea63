"""Counters and recent true timings of a running simulator (``GET /_sim/stats``), and the
histograms behind the Prometheus ``/metrics`` of the types that have one."""

from __future__ import annotations

import bisect
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Histogram", "SimStats"]

RECENT_LIMIT = 2000
FAULT_KINDS = ("error", "hang", "stall", "disconnect", "malformed", "slow_headers", "reset")


@dataclass
class Histogram:
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        out, running = [], 0
        for bound, count in zip(self.buckets, self.counts, strict=False):
            running += count
            out.append((repr(float(bound)), running))
        out.append(("+Inf", self.count))
        return out


_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
                    20.0, 40.0, 80.0)
_ITL_BUCKETS = (0.001, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75,
                1.0, 2.5, 5.0)


class SimStats:
    def __init__(self) -> None:
        self.started = time.time()
        self.reset()

    def reset(self) -> None:
        self.requests: Counter[str] = Counter()
        self.models: Counter[str] = Counter()
        self.status: Counter[str] = Counter()
        self.faults: Counter[str] = Counter({kind: 0 for kind in FAULT_KINDS})
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_LIMIT)
        self.completed = 0
        self.max_running = 0
        self.max_queued = 0
        self.prompt_tokens_total = 0
        self.generation_tokens_total = 0
        self.prompt_seconds_total = 0.0
        self.generation_seconds_total = 0.0
        self.finished: Counter[str] = Counter()
        self.ttft = Histogram(_LATENCY_BUCKETS)
        self.itl = Histogram(_ITL_BUCKETS)
        self.e2e = Histogram(_LATENCY_BUCKETS)
        self.queue = Histogram(_LATENCY_BUCKETS)

    def record(self, entry: dict[str, Any]) -> None:
        self.recent.append(entry)
        if entry.get("status") == 200 and entry.get("completed"):
            self.completed += 1
            self.prompt_tokens_total += entry["prompt_tokens"]
            self.generation_tokens_total += entry["completion_tokens"]
            self.prompt_seconds_total += entry["prefill_ms"] / 1000
            self.generation_seconds_total += (entry["e2e_ms"] - entry["ttft_ms"]) / 1000
            self.finished[entry["finish_reason"]] += 1
            self.ttft.observe(entry["ttft_ms"] / 1000)
            self.e2e.observe(entry["e2e_ms"] / 1000)
            self.queue.observe(entry["queue_ms"] / 1000)
            per_token = entry.get("tokens_per_chunk") or 1
            for gap in entry["chunk_gaps_ms"]:
                self.itl.observe(gap / 1000 / per_token)

    def snapshot(self, *, running: int, queued: int, in_flight: int, loading: bool) -> dict[str, Any]:
        return {
            "uptime_s": round(time.time() - self.started, 3),
            "loading": loading,
            "requests_total": sum(self.requests.values()),
            "requests": dict(sorted(self.requests.items())),
            "models_requested": dict(sorted(self.models.items())),
            "status": dict(sorted(self.status.items())),
            "faults": dict(self.faults),
            "in_flight": in_flight,
            "running": running,
            "queued": queued,
            "max_running": self.max_running,
            "max_queued": self.max_queued,
            "completed": self.completed,
            "recent": list(self.recent),
        }
