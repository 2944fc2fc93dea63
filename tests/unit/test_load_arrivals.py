"""Arrival schedules, their split across workers, and the load shapes (loadtests.arrivals/shapes)."""

from __future__ import annotations

import itertools
import statistics

import pytest

from loadtests.arrivals import ArrivalDispenser, RequestBudget, arrival_offsets, split_count, worker_offsets
from loadtests.shape_plan import shape_users

pytestmark = [pytest.mark.unit]


def gaps(offsets: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(offsets)]


def test_constant_rate_is_exact() -> None:
    assert list(itertools.islice(arrival_offsets(4.0, "constant"), 5)) == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_poisson_gaps_are_exponential_with_mean_one_over_rate() -> None:
    g = gaps(list(itertools.islice(arrival_offsets(50.0, "poisson", seed=7), 20001)))
    assert statistics.fmean(g) == pytest.approx(1 / 50, rel=0.03)
    assert statistics.pstdev(g) == pytest.approx(1 / 50, rel=0.05)  # exponential: std == mean


@pytest.mark.parametrize("burstiness", [0.25, 1.0, 4.0])
def test_gamma_gaps_keep_the_rate_and_scale_variance_with_burstiness(burstiness: float) -> None:
    g = gaps(list(itertools.islice(arrival_offsets(20.0, "gamma", burstiness, seed=3), 20001)))
    assert statistics.fmean(g) == pytest.approx(1 / 20, rel=0.05)
    # Gamma(k, 1/(rate*k)): coefficient of variation = 1/sqrt(k)
    assert statistics.pstdev(g) / statistics.fmean(g) == pytest.approx(burstiness ** -0.5, rel=0.08)


def test_same_seed_same_schedule_other_seed_other_schedule() -> None:
    a = list(itertools.islice(arrival_offsets(10, "poisson", seed=1), 50))
    assert a == list(itertools.islice(arrival_offsets(10, "poisson", seed=1), 50))
    assert a != list(itertools.islice(arrival_offsets(10, "poisson", seed=2), 50))


def test_workers_split_the_global_schedule_without_gaps_or_overlap() -> None:
    whole = list(worker_offsets(30, "poisson", 1.0, 5, count=101))
    parts = [list(worker_offsets(30, "poisson", 1.0, 5, worker_index=k, worker_count=3, count=101)) for k in range(3)]
    assert [len(p) for p in parts] == [34, 34, 33]
    assert sorted(itertools.chain.from_iterable(parts)) == whole


def test_duration_bounds_the_schedule() -> None:
    offsets = list(worker_offsets(10, "constant", 1.0, 0, seconds=2.0))
    assert offsets == pytest.approx([i / 10 for i in range(20)])


def test_split_count() -> None:
    assert [split_count(10, k, 3) for k in range(3)] == [4, 3, 3]
    assert sum(split_count(7, k, 4) for k in range(4)) == 7


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        next(arrival_offsets(0, "poisson"))
    with pytest.raises(ValueError, match="unknown arrival process 'zipf'; choose one of constant, poisson, gamma"):
        list(itertools.islice(arrival_offsets(1, "zipf"), 2))
    with pytest.raises(ValueError, match=r"worker index 3 outside 0..2"):
        worker_offsets(1, "constant", 1, 0, worker_index=3, worker_count=3)


def test_dispenser_hands_out_absolute_times_then_none() -> None:
    d = ArrivalDispenser(iter([0.0, 0.5]))
    first, second = d.next(), d.next()
    assert first is not None and second is not None
    assert second - first == 500_000_000
    assert d.next() is None and d.issued == 2


def test_budget() -> None:
    b = RequestBudget(2)
    assert [b.take(), b.take(), b.take()] == [True, True, False]
    assert RequestBudget(None).take()


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("smoke", [1, 1, 1, 1, 1, None]),
        ("load", [1, 10, 10, 10, 10, None]),  # ramp over the first 10 %
        ("stress", [3, 5, 8, 10, 13, None]),  # five steps to 125 %
        ("spike", [2, 2, 10, 2, 2, None]),
        ("soak", [1, 10, 10, 10, 10, None]),
    ],
)
def test_shapes(kind: str, expected: list[int | None]) -> None:
    # 100 s run, peak 10 users, sampled at 0, 20, 40 ... 100 s
    got = [shape_users(kind, t, 10, 100.0) for t in (0.0, 20.0, 41.0, 61.0, 81.0, 100.0)]
    assert got == expected
