"""Trends: per target and model, the key figures of its load-test runs over time, with marks.

A run is marked when it broke a gate (verdict ``fail``), or regressed against the previous run of
the same target, model and workload (``figures.regressions``); a run whose workload differs from
the previous one is compared with nothing (its figures would not compare) and says so, and a
changed config hash is noted (the question "slower since the config change?").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aibackend.results.figures import DEFAULT_REGRESSION, TREND_FIGURES, key_value, regressions
from aibackend.results.record import Run

__all__ = ["Trend", "TrendPoint", "trends"]


@dataclass
class TrendPoint:
    run: Run
    values: dict[str, float | None]  # TREND_FIGURES label -> value
    gate_failed: bool
    regressed: list[str] = field(default_factory=list)
    compared_with: int | None = None  # id of the previous comparable run
    workload_changed: bool = False
    config_changed: bool = False

    @property
    def marks(self) -> list[str]:
        out = []
        if self.gate_failed:
            out.append("gate failed")
        if self.regressed:
            out.append(f"regressed vs run {self.compared_with}")
        if self.workload_changed:
            out.append("workload changed")
        if self.config_changed:
            out.append("config changed")
        return out


@dataclass
class Trend:
    target: str
    model: str | None
    points: list[TrendPoint]

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target, "model": self.model,
            "figures": [{"label": k.label, "unit": k.unit} for k in TREND_FIGURES],
            "points": [{
                "id": p.run.id, "when": p.run.when.timestamp(), "values": p.values, "verdict": p.run.verdict,
                "gate_failed": p.gate_failed, "regressed": p.regressed, "compared_with": p.compared_with,
                "workload_changed": p.workload_changed, "config_changed": p.config_changed, "marks": p.marks,
            } for p in self.points],
        }


def trends(runs: Sequence[Run], threshold: float = DEFAULT_REGRESSION) -> list[Trend]:
    """One trend per (target, model) of the load-test runs, oldest run first."""
    groups: dict[tuple[str, str | None], list[Run]] = {}
    for run in sorted((r for r in runs if r.kind == "loadtest"), key=lambda r: (r.when, r.id or 0)):
        groups.setdefault((run.target, run.model), []).append(run)
    out = []
    for (target, model), members in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1] or "")):
        points: list[TrendPoint] = []
        last_by_workload: dict[str, Run] = {}
        for run in members:
            point = TrendPoint(run, {k.label: key_value(run.figures, k) for k in TREND_FIGURES},
                               gate_failed=run.verdict == "fail")
            if points:
                previous = points[-1].run
                point.workload_changed = previous.workload_key != run.workload_key
                point.config_changed = (previous.provenance.config_hash is not None
                                        and run.provenance.config_hash is not None
                                        and previous.provenance.config_hash != run.provenance.config_hash)
            comparable = last_by_workload.get(run.workload_key)
            if comparable is not None:
                point.compared_with = comparable.id
                point.regressed = regressions(comparable.figures, run.figures, threshold)
            last_by_workload[run.workload_key] = run
            points.append(point)
        out.append(Trend(target, model, points))
    return out
