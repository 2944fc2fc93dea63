"""The latency model: a per-request schedule (pure) and the slot pool with its FIFO queue.

A request waits for one of ``slots`` sequences (FIFO), then its first content chunk is due
``ttft_ms + prefill_ms_per_token * prompt_tokens`` later; each following chunk of ``n`` tokens is
due ``n * tpot_ms`` (+- seeded uniform jitter) after the previous one. Deadlines are absolute
(offsets from the moment the slot was taken), so sleeping late once never shifts later chunks.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from dataclasses import dataclass

__all__ = ["Schedule", "SlotPool", "chunk_sizes", "plan_schedule"]


def chunk_sizes(tokens: int, tokens_per_chunk: int) -> list[int]:
    """``tokens`` split into chunks of ``tokens_per_chunk`` (the last may be smaller)."""
    full, rest = divmod(tokens, tokens_per_chunk)
    return [tokens_per_chunk] * full + ([rest] if rest else [])


@dataclass(frozen=True)
class Schedule:
    prefill_s: float  # slot taken -> first content chunk
    sizes: tuple[int, ...]  # tokens in each content chunk
    gaps_s: tuple[float, ...]  # gap before chunk i+1 (len(sizes) - 1 entries)

    def offsets_s(self) -> list[float]:
        """Due time of each content chunk, relative to taking the slot."""
        offsets = [self.prefill_s]
        for gap in self.gaps_s:
            offsets.append(offsets[-1] + gap)
        return offsets

    @property
    def total_s(self) -> float:
        return self.prefill_s + sum(self.gaps_s)


def plan_schedule(
    *,
    prompt_tokens: int,
    completion_tokens: int,
    ttft_ms: float,
    prefill_ms_per_token: float,
    tpot_ms: float,
    jitter_ms: float,
    tokens_per_chunk: int,
    rng: random.Random,
) -> Schedule:
    sizes = chunk_sizes(completion_tokens, tokens_per_chunk)
    if jitter_ms:
        gaps = [max(0.0, size * tpot_ms + rng.uniform(-jitter_ms, jitter_ms)) / 1000.0 for size in sizes[1:]]
    else:  # the common case, on every request: no per-gap work
        gaps = [size * tpot_ms / 1000.0 for size in sizes[1:]]
    prefill = (ttft_ms + prefill_ms_per_token * prompt_tokens) / 1000.0
    return Schedule(prefill_s=prefill, sizes=tuple(sizes), gaps_s=tuple(gaps))


class SlotPool:
    """``size`` concurrent sequences; waiters are served strictly first come, first served."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.running = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> None:
        if self.running < self.size and not self._waiters:
            self.running += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # we were handed a slot while being cancelled: pass it on
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes straight to the waiter
                return
        self.running -= 1

    def resize(self, size: int) -> None:
        self.size = size
        while self._waiters and self.running < self.size:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.running += 1
                waiter.set_result(None)
