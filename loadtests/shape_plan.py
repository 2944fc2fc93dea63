"""How many users each load shape wants at a moment: pure, so it is unit-tested without Locust."""

from __future__ import annotations

import math

__all__ = ["DEFAULT_SECONDS", "SHAPE_NAMES", "shape_users"]

# Each shape's length when the run gives none (closed loop, -t/--llm-duration not set).
DEFAULT_SECONDS = {"smoke": 30.0, "load": 120.0, "stress": 300.0, "spike": 120.0, "soak": 3600.0}
SHAPE_NAMES = tuple(DEFAULT_SECONDS)


def shape_users(kind: str, elapsed: float, peak: int, seconds: float) -> int | None:
    """Users wanted ``elapsed`` seconds into a ``kind`` run (pure, so it is unit-tested)."""
    if elapsed >= seconds:
        return None
    frac = elapsed / seconds
    if kind == "smoke":
        return 1
    if kind == "load":  # ramp over the first 10 %, then hold
        return max(1, math.ceil(peak * min(1.0, frac / 0.1)))
    if kind == "stress":  # five equal steps up to 125 % of the peak
        step = min(4, int(frac * 5))
        return max(1, math.ceil(peak * (step + 1) / 4))
    if kind == "spike":  # 20 % of peak, then the peak for the middle fifth, then back
        return peak if 0.4 <= frac < 0.6 else max(1, math.ceil(peak / 5))
    if kind == "soak":  # short ramp, then a long hold
        return max(1, math.ceil(peak * min(1.0, frac / 0.05)))
    raise ValueError(f"unknown shape {kind!r}; choose one of {', '.join(SHAPE_NAMES)}")
