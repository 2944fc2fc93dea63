"""The gateway's Prometheus exposition text, read into samples; histogram quantiles from bucket deltas.

Only what ``top`` needs: ``name{label="value",...} number`` lines (comments skipped, escapes in
label values honoured). A quantile is Prometheus's ``histogram_quantile``: linear within the bucket.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Sample", "delta", "histogram_quantile", "parse_metrics"]

_LINE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+\S+)?$")
_LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Sample:
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float

    def label(self, key: str) -> str | None:
        return dict(self.labels).get(key)


def _unescape(text: str) -> str:
    return text.replace(r"\"", '"').replace(r"\n", "\n").replace("\\\\", "\\")


def parse_metrics(text: str) -> list[Sample]:
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line.strip())
        if not match:
            continue
        try:
            value = float(match["value"])
        except ValueError:
            continue
        labels = tuple(sorted((m["key"], _unescape(m["value"])) for m in _LABEL.finditer(match["labels"] or "")))
        samples.append(Sample(match["name"], labels, value))
    return samples


def delta(now: Mapping[tuple[str, tuple[tuple[str, str], ...]], float],
          before: Mapping[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Counter increases between two scrapes (a series that went down was reset: its new value counts)."""
    out = {}
    for key, value in now.items():
        previous = before.get(key, 0.0)
        out[key] = value - previous if value >= previous else value
    return out


def histogram_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """``q`` (0..1) of cumulative ``(le, count)`` buckets; None without observations."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    total = ordered[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # in the +Inf bucket: the highest finite bound is all that is known
            width = count - lower_count
            return lower_bound + (bound - lower_bound) * ((rank - lower_count) / width if width > 0 else 1.0)
        lower_bound, lower_count = bound, count
    return lower_bound
