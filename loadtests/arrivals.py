"""Open-loop arrival schedules and the per-process dispensers the users draw from.

A schedule is the seeded sequence of intended send times (seconds from the start) of the WHOLE
run; worker k of W takes arrivals k, k+W, k+2W... so a distributed run sends exactly the
schedule a single process would. Gaps: constant ``1/rate``; Poisson (exponential, mean
``1/rate``); gamma with shape ``burstiness`` and scale ``1/(rate*burstiness)`` (burstiness 1 is
Poisson, below 1 burstier, above 1 more regular) -- vLLM's definition.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

from loadtests.timing import now_ns

__all__ = ["ARRIVALS", "ArrivalDispenser", "RequestBudget", "arrival_offsets", "split_count", "worker_offsets"]

ARRIVALS = ("constant", "poisson", "gamma")


def _gaps(rate: float, arrival: str, burstiness: float, rng: random.Random) -> Iterator[float]:
    if rate <= 0:
        raise ValueError("rate must be > 0 requests per second")
    if arrival == "constant":
        while True:
            yield 1.0 / rate
    elif arrival == "poisson":
        while True:
            yield rng.expovariate(rate)
    elif arrival == "gamma":
        if burstiness <= 0:
            raise ValueError("burstiness must be > 0")
        while True:
            yield rng.gammavariate(burstiness, 1.0 / (rate * burstiness))
    else:
        raise ValueError(f"unknown arrival process {arrival!r}; choose one of {', '.join(ARRIVALS)}")


def arrival_offsets(rate: float, arrival: str = "poisson", burstiness: float = 1.0, seed: int = 0) -> Iterator[float]:
    """Intended send times in seconds from the start; the first request goes at 0."""
    gaps = _gaps(rate, arrival, burstiness, random.Random(seed))
    next(itertools.islice(_gaps(rate, arrival, burstiness, random.Random(seed)), 1))  # validate now, not lazily
    return itertools.accumulate(itertools.chain([0.0], gaps))


def worker_offsets(
    rate: float,
    arrival: str,
    burstiness: float,
    seed: int,
    *,
    worker_index: int = 0,
    worker_count: int = 1,
    count: int | None = None,
    seconds: float | None = None,
) -> Iterator[float]:
    """This worker's share of the global schedule, bounded by a request count and/or a duration."""
    if not 0 <= worker_index < worker_count:
        raise ValueError(f"worker index {worker_index} outside 0..{worker_count - 1}")
    offsets: Iterator[float] = arrival_offsets(rate, arrival, burstiness, seed)
    if count is not None:
        offsets = itertools.islice(offsets, count)
    if seconds is not None:
        offsets = itertools.takewhile(lambda t: t < seconds, offsets)
    return itertools.islice(offsets, worker_index, None, worker_count)


def split_count(total: int, worker_index: int, worker_count: int) -> int:
    """Worker k's share of ``total`` requests (the first ``total % W`` workers take one more)."""
    return total // worker_count + (1 if worker_index < total % worker_count else 0)


class ArrivalDispenser:
    """Hands each free user the next intended start (monotonic ns); ``None`` when the schedule ends.

    Users are greenlets of one process, so no lock is needed. The clock starts at the first call.
    """

    def __init__(self, offsets: Iterator[float]) -> None:
        self._offsets = offsets
        self._start_ns: int | None = None
        self.issued = 0

    def next(self) -> int | None:
        if self._start_ns is None:
            self._start_ns = now_ns()
        offset = next(self._offsets, None)
        if offset is None:
            return None
        self.issued += 1
        return self._start_ns + int(offset * 1e9)


class RequestBudget:
    """Closed loop with a request count: each user takes one ticket per request."""

    def __init__(self, total: int | None) -> None:
        self.remaining = total

    def take(self) -> bool:
        if self.remaining is None:
            return True
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True
