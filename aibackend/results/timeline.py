"""A run over time, from the CSV of its requests (``loadtests.report.CSV_COLUMNS``), for a run's charts.

Per bucket (one second; wider for runs over an hour, so a run keeps at most ``MAX_BUCKETS``):
requests completed and failed and output tokens (by the time they ended), and the median TTFT
and E2EL of the requests sent in it. A bucket without a measurement holds null, never 0. The
CSV is read by column name: a column it lacks leaves its series out.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from generator.stats import percentile

__all__ = ["MAX_BUCKETS", "timeline_from_csv"]

MAX_BUCKETS = 3600

Series = dict[str, list[float | None]]


def _number(text: str | None) -> float | None:
    if text is None or text.strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def timeline_from_csv(path: Path) -> Series | None:
    """The series, or None when the file is missing or holds no request."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, csv.Error, UnicodeDecodeError):
        return None
    sent = [_number(r.get("sent_s")) for r in rows]
    if not rows or all(s is None for s in sent):
        return None
    last = 0.0
    for row, start in zip(rows, sent, strict=True):
        if start is not None:
            last = max(last, start + (_number(row.get("e2el_ms")) or 0.0) / 1000)
    width = max(1, math.ceil((last + 1e-9) / MAX_BUCKETS))
    count = int(last // width) + 1
    completed = [0.0] * count
    failed = [0.0] * count
    tokens = [0.0] * count
    ttft: list[list[float]] = [[] for _ in range(count)]
    e2el: list[list[float]] = [[] for _ in range(count)]
    for row, start in zip(rows, sent, strict=True):
        if start is None:
            continue
        took = _number(row.get("e2el_ms"))
        ended = int((start + (took or 0.0) / 1000) // width)
        began = int(start // width)
        if row.get("error_class"):
            failed[ended] += 1
            continue
        completed[ended] += 1
        tokens[ended] += _number(row.get("output_tokens")) or 0.0
        first = _number(row.get("ttft_ms"))
        if first is not None:
            ttft[began].append(first)
        if took is not None:
            e2el[began].append(took)

    def medians(buckets: list[list[float]]) -> list[float | None]:
        return [round(percentile(sorted(b), 50), 3) if b else None for b in buckets]

    return {
        "t": [float(i * width) for i in range(count)],
        "completed_per_s": [c / width for c in completed],
        "failed_per_s": [f / width for f in failed],
        "output_tokens_per_s": [t / width for t in tokens],
        "ttft_p50_ms": medians(ttft),
        "e2el_p50_ms": medians(e2el),
    }
