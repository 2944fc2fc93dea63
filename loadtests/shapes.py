"""Load shapes (closed loop): smoke, load, stress, spike, soak.

Each reads the peak users from ``-u/--users`` and the length from ``-t/--run-time``
(``use_common_options``); ``tick()`` returns (users, spawn rate) or ``None`` to end the run.
"""

from __future__ import annotations

import math

from locust import LoadTestShape

__all__ = ["SHAPES", "LoadShape", "SmokeShape", "SoakShape", "SpikeShape", "StressShape", "shape_users"]

DEFAULT_SECONDS = {"smoke": 30.0, "load": 120.0, "stress": 300.0, "spike": 120.0, "soak": 3600.0}


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
    raise ValueError(f"unknown shape {kind!r}; choose one of {', '.join(SHAPES)}")


class LoadShape(LoadTestShape):
    abstract = True
    kind = "load"
    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options if self.runner else None
        peak = int(getattr(options, "num_users", None) or 10)
        seconds = float(getattr(options, "run_time", None) or DEFAULT_SECONDS[self.kind])
        users = shape_users(self.kind, self.get_run_time(), peak, seconds)
        return None if users is None else (users, max(1.0, float(peak)))


class SmokeShape(LoadShape):
    abstract = True
    kind = "smoke"


class StressShape(LoadShape):
    abstract = True
    kind = "stress"


class SpikeShape(LoadShape):
    abstract = True
    kind = "spike"


class SoakShape(LoadShape):
    abstract = True
    kind = "soak"


SHAPES = {"smoke": SmokeShape, "load": LoadShape, "stress": StressShape, "spike": SpikeShape, "soak": SoakShape}
