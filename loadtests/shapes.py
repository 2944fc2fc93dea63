"""Load shapes (closed loop): smoke, load, stress, spike, soak.

Each reads the peak users from ``-u/--users`` and the length from ``-t/--run-time``
(``use_common_options``); ``tick()`` returns (users, spawn rate) or ``None`` to end the run.
"""

from __future__ import annotations

from locust import LoadTestShape

from loadtests.shape_plan import DEFAULT_SECONDS, shape_users

__all__ = ["SHAPES", "LoadShape", "SmokeShape", "SoakShape", "SpikeShape", "StressShape", "shape_users"]

class LoadShape(LoadTestShape):
    abstract = True
    kind = "load"
    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options if self.runner else None
        peak = int(getattr(options, "num_users", None) or 10)
        seconds = float(getattr(options, "llm_duration", None) or getattr(options, "run_time", None)
                        or DEFAULT_SECONDS[self.kind])
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


SHAPES = {"smoke": SmokeShape, "load": LoadShape, "stress": StressShape, "spike": SpikeShape, "soak": SoakShape}
