"""Reading figures by their names, whatever the report's list is: which way is better, the
percentile table, two runs compared, a regression against the previous run.

Names follow vLLM's result JSON (interface.md): ``<stat>_<metric>_ms`` for latencies (stat ``mean``,
``median``, ``std``, ``pNN``), ``*_throughput`` / ``*_goodput`` per second, ``failed``, ``errors.<class>``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from generator.stats import DEFAULT_PERCENTILES, percentile_key

__all__ = [
    "DEFAULT_REGRESSION",
    "MEDIAN",
    "PERCENTILE_STATS",
    "TREND_FIGURES",
    "Difference",
    "KeyFigure",
    "compare",
    "direction",
    "key_value",
    "percentile_table",
    "regressions",
]

Direction = Literal["lower", "higher"]

STAT_NAME = re.compile(r"^(?P<stat>mean|median|std|min|max|p\d+(?:\.\d+)?)_(?P<metric>[a-z0-9_]+)_ms$")
METRIC_ORDER = ("ttft", "tpot", "itl", "e2el", "ttfb", "gateway_overhead", "upstream_ttft", "schedule_lag")
_LOWER = {"failed", "failed_ratio", "violations", "rules_violated", "checks_failed"}
_HIGHER = {"completed", "slo_attainment"}
# The percentiles every view shows, by the report's names (p50 ...), and the median's name among them.
PERCENTILE_STATS = tuple(percentile_key(q) for q in DEFAULT_PERCENTILES)
MEDIAN = percentile_key(50.0)
DEFAULT_REGRESSION = 0.10  # a watched figure 10% worse than the previous comparable run


@dataclass(frozen=True)
class KeyFigure:
    """A figure the trends follow, by the names a report may give it (newest spelling last)."""

    label: str
    names: tuple[str, ...]
    unit: str


TREND_FIGURES = (
    KeyFigure("TTFT p50", ("median_ttft_ms", "p50_ttft_ms"), "ms"),
    KeyFigure("TTFT p99", ("p99_ttft_ms",), "ms"),
    KeyFigure("TPOT p50", ("median_tpot_ms", "p50_tpot_ms"), "ms"),
    KeyFigure("output tok/s", ("output_throughput",), "tok/s"),
)
# What a regression is judged on: the trend figures and the request rate.
_WATCHED = (*TREND_FIGURES, KeyFigure("requests/s", ("request_throughput",), "req/s"))


def direction(name: str) -> Direction | None:
    """Which way is better for a figure, from its name; None for figures that are neither (counts, sizes)."""
    if name.startswith("errors.") or name in _LOWER or name.endswith("_ms"):
        return "lower"
    if "throughput" in name or "goodput" in name or name in _HIGHER:
        return "higher"
    return None


def key_value(figures: Mapping[str, float | None], key: KeyFigure) -> float | None:
    for name in key.names:
        value = figures.get(name)
        if value is not None:
            return value
    return None


def _stat_order(stat: str) -> tuple[int, float, int]:
    """mean, then median and the percentiles by rank (median before its twin p50), then std, min, max."""
    if stat.startswith("p"):
        return (1, float(stat[1:]), 1)
    return {"mean": (0, 0.0, 0), "median": (1, 50.0, 0), "std": (2, 0.0, 0), "min": (3, 0.0, 0),
            "max": (4, 0.0, 0)}[stat]


def percentile_table(figures: Mapping[str, float | None]) -> tuple[list[str], dict[str, dict[str, float | None]]]:
    """(stats in order, metric -> stat -> value) for every ``<stat>_<metric>_ms`` figure present.

    The percentiles are the one set shown everywhere (``DEFAULT_PERCENTILES``, n/a where a run has
    none, as older reports lack p95) and any other the run reported; ``median`` is p50 under the
    one name (reports before issue 12 had only ``median``; later ones both, equal).
    """
    table: dict[str, dict[str, float | None]] = {}
    stats: set[str] = set()
    for name, value in figures.items():
        match = STAT_NAME.match(name)
        if match:
            stat = match["stat"]
            row = table.setdefault(match["metric"], {})
            if stat == "median":
                row.setdefault(MEDIAN, value)
                stat = MEDIAN
            else:
                row[stat] = value
            stats.add(stat)
    if table:
        stats |= set(PERCENTILE_STATS)
    metrics = sorted(table, key=lambda m: (METRIC_ORDER.index(m) if m in METRIC_ORDER else len(METRIC_ORDER), m))
    return sorted(stats, key=_stat_order), {m: table[m] for m in metrics}


def percentile_points(row: Mapping[str, float | None]) -> list[tuple[float, float | None]]:
    """(percentile, value) of one metric's row: ``median`` is p50; mean/std/min/max are not points."""
    points: dict[float, float | None] = {}
    for stat, value in row.items():
        if stat == "median":
            points.setdefault(50.0, value)
        elif stat.startswith("p"):
            points[float(stat[1:])] = value
    return sorted(points.items())


@dataclass(frozen=True)
class Difference:
    name: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a

    @property
    def ratio(self) -> float | None:
        """(b - a) / a, or None when it has no meaning (a missing or zero)."""
        if self.a is None or self.b is None or self.a == 0:
            return None
        return (self.b - self.a) / abs(self.a)

    @property
    def verdict(self) -> Literal["better", "worse", "same"] | None:
        way, delta = direction(self.name), self.delta
        if way is None or delta is None:
            return None
        if math.isclose(delta, 0.0, abs_tol=1e-12):
            return "same"
        return "better" if (delta < 0) == (way == "lower") else "worse"


def compare(a: Mapping[str, float | None], b: Mapping[str, float | None]) -> list[Difference]:
    """Every figure of either run, in A's order then B's new ones."""
    names = list(a) + [name for name in b if name not in a]
    return [Difference(name, a.get(name), b.get(name)) for name in names]


def regressions(previous: Mapping[str, float | None], current: Mapping[str, float | None],
                threshold: float = DEFAULT_REGRESSION) -> list[str]:
    """The watched figures worse than ``previous`` by more than ``threshold`` (a fraction), described."""
    found = []
    for key in _WATCHED:
        before, now = key_value(previous, key), key_value(current, key)
        if before is None or now is None or before <= 0:
            continue
        way = direction(key.names[0])
        change = (now - before) / before
        if (way == "lower" and change > threshold) or (way == "higher" and -change > threshold):
            found.append(f"{key.label} {before:.4g} -> {now:.4g} {key.unit} ({change:+.0%})")
    before_failed, now_failed = previous.get("failed_ratio"), current.get("failed_ratio")
    if before_failed is not None and now_failed is not None and now_failed - before_failed > 0.01:
        found.append(f"failed ratio {before_failed:.2%} -> {now_failed:.2%}")
    return found

