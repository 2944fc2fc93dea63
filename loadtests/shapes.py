"""Load shapes (closed loop): smoke, load, stress, spike, soak.

Each reads the peak users from ``-u/--users`` and the length from ``--llm-duration`` or
``-t/--run-time`` (``use_common_options``); ``tick()`` returns (users, spawn rate) or ``None`` to end the run.
"""

from __future__ import annotations

from locust import LoadTestShape

from loadtests.settings import LoadSettings
from loadtests.shape_plan import DEFAULT_SECONDS, SHAPE_NAMES, shape_users

__all__ = ["SHAPES", "LoadShape", "SmokeShape", "SoakShape", "SpikeShape", "StressShape", "shape_users"]

class LoadShape(LoadTestShape):
    abstract = True
    kind = "load"
    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options if self.runner else None
        peak = int(getattr(options, "num_users", None) or 10)
        seconds = LoadSettings.from_options(options).duration or DEFAULT_SECONDS[self.kind]
        users = shape_users(self.kind, float(self.get_run_time()), peak, seconds)  # type: ignore[no-untyped-call]
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


SHAPES: dict[str, type[LoadShape]] = {
    cls.kind: cls for cls in (SmokeShape, LoadShape, StressShape, SpikeShape, SoakShape)}
assert tuple(SHAPES) == SHAPE_NAMES
