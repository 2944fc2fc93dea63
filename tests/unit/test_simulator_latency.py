"""The latency model's pure parts: chunking, the schedule, answer lengths, the FIFO slot pool."""

from __future__ import annotations

import asyncio
import random

import pytest

from contracts.simulators.generation import completion_length
from contracts.simulators.latency import Schedule, SlotPool, chunk_sizes, plan_schedule

pytestmark = [pytest.mark.unit]


@pytest.mark.parametrize(
    ("tokens", "per_chunk", "expected"),
    [(1, 1, [1]), (5, 1, [1, 1, 1, 1, 1]), (5, 2, [2, 2, 1]), (6, 3, [3, 3]), (2, 4, [2])],
)
def test_chunk_sizes(tokens: int, per_chunk: int, expected: list[int]) -> None:
    assert chunk_sizes(tokens, per_chunk) == expected


def _plan(**overrides: float) -> Schedule:
    params: dict[str, float] = dict(prompt_tokens=10, completion_tokens=5, ttft_ms=100.0, prefill_ms_per_token=2.0,
                                    tpot_ms=10.0, jitter_ms=0.0, tokens_per_chunk=2)
    params.update(overrides)
    return plan_schedule(rng=random.Random(0), **params)  # type: ignore[arg-type]


def test_schedule_without_jitter_is_exact() -> None:
    schedule = _plan()
    # TTFT = 100 + 2 * 10 prompt tokens; chunks of 2, 2, 1 tokens; a gap is (tokens in the chunk) * tpot.
    assert schedule == Schedule(prefill_s=0.120, sizes=(2, 2, 1), gaps_s=(0.020, 0.010))
    assert schedule.offsets_s() == pytest.approx([0.120, 0.140, 0.150])
    assert schedule.total_s == pytest.approx(0.150)


def test_schedule_jitter_is_seeded_bounded_and_never_negative() -> None:
    first = plan_schedule(prompt_tokens=1, completion_tokens=200, ttft_ms=0, prefill_ms_per_token=0, tpot_ms=5,
                          jitter_ms=8, tokens_per_chunk=1, rng=random.Random(7))
    again = plan_schedule(prompt_tokens=1, completion_tokens=200, ttft_ms=0, prefill_ms_per_token=0, tpot_ms=5,
                          jitter_ms=8, tokens_per_chunk=1, rng=random.Random(7))
    other = plan_schedule(prompt_tokens=1, completion_tokens=200, ttft_ms=0, prefill_ms_per_token=0, tpot_ms=5,
                          jitter_ms=8, tokens_per_chunk=1, rng=random.Random(8))
    assert first == again
    assert first != other
    assert len(first.gaps_s) == 199
    assert all(0.0 <= gap <= 0.013 + 1e-12 for gap in first.gaps_s)
    assert any(gap == 0.0 for gap in first.gaps_s)  # 5 - 8 < 0 is clamped, not negative
    assert len(set(first.gaps_s)) > 100


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (dict(natural=16, max_tokens=None, ignore_eos=False), (16, "stop")),
        (dict(natural=16, max_tokens=4, ignore_eos=False), (4, "length")),
        (dict(natural=16, max_tokens=16, ignore_eos=False), (16, "stop")),
        (dict(natural=16, max_tokens=40, ignore_eos=False), (16, "stop")),
        (dict(natural=16, max_tokens=40, ignore_eos=True), (40, "length")),
        (dict(natural=16, max_tokens=None, ignore_eos=False, min_tokens=20), (20, "stop")),
        (dict(natural=16, max_tokens=4, ignore_eos=False, exceed_by=1), (5, "length")),
    ],
)
def test_completion_length(kwargs: dict[str, object], expected: tuple[int, str]) -> None:
    assert completion_length(**kwargs) == expected  # type: ignore[arg-type]


def test_slot_pool_serves_waiters_first_come_first_served() -> None:
    async def scenario() -> tuple[list[int], list[tuple[int, int]]]:
        pool = SlotPool(2)
        order: list[int] = []
        observed: list[tuple[int, int]] = []

        async def user(n: int) -> None:
            await pool.acquire()
            order.append(n)
            observed.append((pool.running, pool.queued))
            await asyncio.sleep(0.01)
            pool.release()

        tasks = [asyncio.create_task(user(n)) for n in range(5)]
        await asyncio.sleep(0)
        assert (pool.running, pool.queued) == (2, 3)
        await asyncio.gather(*tasks)
        assert (pool.running, pool.queued) == (0, 0)
        return order, observed

    order, observed = asyncio.run(scenario())
    assert order == [0, 1, 2, 3, 4]
    assert all(running <= 2 for running, _ in observed)


def test_slot_pool_cancelled_waiter_leaves_the_queue_and_resize_admits_waiters() -> None:
    async def scenario() -> None:
        pool = SlotPool(1)
        await pool.acquire()
        waiter = asyncio.create_task(pool.acquire())
        other = asyncio.create_task(pool.acquire())
        await asyncio.sleep(0)
        assert pool.queued == 2
        waiter.cancel()
        await asyncio.sleep(0)
        assert pool.queued == 1
        pool.resize(2)
        await asyncio.wait_for(other, 1)
        assert (pool.running, pool.queued) == (2, 0)
        pool.release()
        pool.release()
        assert (pool.running, pool.queued) == (0, 0)

    asyncio.run(scenario())
