"""Runs as text (``aibackend runs``) and as JSON (``--json``, the dashboard's data): one place for both.

A figure that was not measured is ``n/a`` in text and ``null`` in JSON, never 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from aibackend.results.figures import (
    STAT_NAME,
    TREND_FIGURES,
    Difference,
    KeyFigure,
    compare,
    key_value,
    percentile_table,
)
from aibackend.results.record import Run, report_facts

__all__ = ["compare_json", "compare_text", "fmt", "list_text", "run_json", "show_text", "summary"]

NA = "n/a"
# The columns of a run list: the trend figures, then errors.
_LIST_FIGURES: tuple[KeyFigure, ...] = (
    *TREND_FIGURES,
    KeyFigure("req/s", ("request_throughput",), "req/s"),
)


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None:
        return NA
    if float(value).is_integer() and abs(value) < 1e12:
        return str(int(value))
    return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:,.2f}"


def local_time(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def summary(run: Run) -> dict[str, Any]:
    """The few facts a list shows: counts, key figures, errors, verdict."""
    f = run.figures
    errors = {name.removeprefix("errors."): value for name, value in f.items()
              if name.startswith("errors.") and value}
    return {
        "id": run.id, "when": run.when.isoformat(), "kind": run.kind, "target": run.target, "model": run.model,
        "completed": f.get("completed"), "failed": f.get("failed"),
        **{key.label: key_value(f, key) for key in _LIST_FIGURES},
        "errors": errors, "verdict": run.verdict,
        "violations": f.get("violations"), "checks": f.get("checks"),
    }


def run_json(run: Run) -> dict[str, Any]:
    stats, table = percentile_table(run.figures)
    return {
        "id": run.id, "kind": run.kind, "recorded_at": run.recorded_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "target": run.target, "target_url": run.target_url, "model": run.model,
        "workload": run.workload, "workload_key": run.workload_key, "verdict": run.verdict, "gate": run.gate,
        "git_commit": run.provenance.git_commit, "git_dirty": run.provenance.git_dirty,
        "config_dir": run.provenance.config_dir, "config_hash": run.provenance.config_hash,
        "reports": run.reports, "command": run.command, "tool_version": run.tool_version,
        "figures": dict(run.figures), "measured": report_facts(run.document),
        "percentiles": {"stats": stats, "metrics": table},
    }


def _table(rows: Sequence[Sequence[str]], right: set[int]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                               for i, cell in enumerate(row)).rstrip() for row in rows)


def verdict_text(run: Run) -> str:
    if run.verdict is None:
        return "-"
    if run.kind == "contract":
        return "compliant" if run.verdict == "pass" else "VIOLATIONS"
    return "gate passed" if run.verdict == "pass" else "GATE FAILED"


def list_text(runs: Sequence[Run]) -> str:
    header = ["ID", "WHEN", "KIND", "TARGET", "MODEL", "DONE", "FAILED",
              *[key.label.upper() for key in _LIST_FIGURES], "VERDICT"]
    rows = [header]
    for run in runs:
        s = summary(run)
        if run.kind == "contract":
            cells = [fmt(s["checks"]), fmt(s["violations"])] + [""] * len(_LIST_FIGURES)
        else:
            cells = [fmt(s["completed"]), fmt(s["failed"])] + [fmt(s[key.label]) for key in _LIST_FIGURES]
        rows.append([str(run.id), local_time(run.when), run.kind, run.target, run.model or "-", *cells,
                     verdict_text(run)])
    return _table(rows, right=set(range(5, 5 + 2 + len(_LIST_FIGURES))))


def show_text(run: Run) -> str:
    lines = [
        f"run {run.id}: {run.kind} of {run.target}" + (f" ({run.target_url})" if run.target_url and
                                                       run.target_url != run.target else ""),
        f"  model      {run.model or '-'}",
        f"  when       {local_time(run.when)}",
        f"  verdict    {verdict_text(run)}",
        f"  workload   {', '.join(f'{k}={v}' for k, v in sorted(run.workload.items()))}",
        f"  config     {run.provenance.config_dir or '-'} (hash {run.provenance.config_hash or '-'}, git "
        f"{run.provenance.git_commit or '-'}{' + local changes' if run.provenance.git_dirty else ''})",
        f"  reports    {', '.join(run.reports) or '-'}",
    ]
    facts = report_facts(run.document)
    if facts:
        lines.append(f"  measured   {', '.join(f'{k}={v}' for k, v in facts.items())}")
    for line in run.gate.get("failures") or []:
        lines.append(f"  FAIL {line}")
    stats, table = percentile_table(run.figures)
    if table:
        lines += ["", _table([["ms", *stats], *[[metric.upper(), *[fmt(row.get(s)) for s in stats]]
                                                 for metric, row in table.items()]], right=set(range(1, len(stats) + 1)))]
    others = [name for name in run.figures if name not in _percentile_names(run.figures)]
    lines += ["", _table([["figure", "value"], *[[name, fmt(run.figures[name])] for name in others]], right={1})]
    return "\n".join(lines)


def _percentile_names(figures: Mapping[str, float | None]) -> set[str]:
    return {name for name in figures if STAT_NAME.match(name)}


def _percent(diff: Difference) -> str:
    ratio = diff.ratio
    return NA if ratio is None else f"{ratio:+.1%}"


def compare_json(a: Run, b: Run) -> dict[str, Any]:
    return {
        "a": run_json(a), "b": run_json(b), "same_workload": a.workload_key == b.workload_key,
        "differences": [{"figure": d.name, "a": d.a, "b": d.b, "delta": d.delta, "ratio": d.ratio, "verdict": d.verdict}
                        for d in _ordered_differences(a, b)],
    }


def _ordered_differences(a: Run, b: Run) -> list[Difference]:
    return compare(a.figures, b.figures)


def compare_text(a: Run, b: Run) -> str:
    rows = [["figure", f"run {a.id}", f"run {b.id}", "change", "%", ""]]
    for d in _ordered_differences(a, b):
        delta = NA if d.delta is None else f"{d.delta:+,.4g}"
        rows.append([d.name, fmt(d.a), fmt(d.b), delta, _percent(d), d.verdict or ""])
    head = [f"A: run {a.id}  {local_time(a.when)}  {a.target}  {a.model or '-'}  {verdict_text(a)}",
            f"B: run {b.id}  {local_time(b.when)}  {b.target}  {b.model or '-'}  {verdict_text(b)}"]
    if a.workload_key != b.workload_key:
        changed = sorted(k for k in set(a.workload) | set(b.workload) if a.workload.get(k) != b.workload.get(k))
        head.append(f"note: the workloads differ ({', '.join(changed)}): the figures may not compare")
    return "\n".join([*head, "", _table(rows, right={1, 2, 3, 4})])
