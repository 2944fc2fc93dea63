"""The one percentile of the project, and the one set of percentiles every report shows.

Load-test reports (JSON, text, HTML, Locust's LLM tab), the Grafana dashboards and ``aibackend
requests analyze`` all show :data:`DEFAULT_PERCENTILES` unless told otherwise
(``aibackend loadtest --metric-percentiles``), each named by :func:`percentile_key` as vLLM's
serving benchmark names them (``p99``, ``p99.9``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["DEFAULT_PERCENTILES", "format_percentiles", "parse_percentiles", "percentile", "percentile_key"]

# The percentiles shown everywhere by default (vLLM's --metric-percentiles spelling: "50,90,95,99").
DEFAULT_PERCENTILES: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ascending values: numpy's default 'linear' method.

    Raises ValueError on no values: a percentile of nothing is missing, never 0.
    """
    if not sorted_values:
        raise ValueError("percentile of no values")
    if len(sorted_values) == 1:
        return float(sorted_values[0])
    rank = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return float(sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low))


def percentile_key(q: float) -> str:
    """``p50``, ``p99``, ``p99.9``: vLLM's ``p{int(p) if int(p) == p else p}``."""
    return f"p{int(q)}" if int(q) == q else f"p{q}"


def parse_percentiles(text: str) -> tuple[float, ...]:
    """``"50,90,95,99"`` -> (50.0, 90.0, 95.0, 99.0); ValueError naming the bad part."""
    out: list[float] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            value = float(part)
        except ValueError:
            raise ValueError(f"bad percentile {part!r}: expected numbers between 0 and 100, e.g. 50,90,95,99") from None
        if not 0 < value < 100 or math.isnan(value):
            raise ValueError(f"bad percentile {part!r}: must be above 0 and below 100")
        if value not in out:
            out.append(value)
    if not out:
        raise ValueError(f"no percentile in {text!r}: expected e.g. 50,90,95,99")
    return tuple(out)


def format_percentiles(values: Sequence[float]) -> str:
    """The inverse of :func:`parse_percentiles`."""
    return ",".join(percentile_key(v)[1:] for v in values)
