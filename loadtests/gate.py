"""Pass/fail gates on a report: absolute thresholds (YAML) and regression against a baseline.

Thresholds file, one line per report figure::

    p99_ttft_ms: {max: 500}
    failed_ratio: {max: 0.01}
    output_throughput: {min: 200}

Baseline: a previous report JSON; latencies may grow and throughputs shrink by at most
``--max-regression`` (e.g. ``10%``). Every failed line names the measured and the allowed value.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator.errors import UsageError

__all__ = ["GateConfigError", "GateResult", "baseline_diff", "check_baseline", "check_thresholds", "load_thresholds", "parse_percent"]

# Figures a baseline comparison looks at: lower is better for latencies, higher for throughputs.
BASELINE_LOWER = tuple(f"{s}_{m}_ms" for m in ("ttft", "tpot", "itl", "e2el", "ttfb") for s in ("median", "p99"))
# vLLM's throughputs (whole run); a baseline written before issue 12 measured them over the steady-state window.
BASELINE_HIGHER = ("request_throughput", "output_throughput", "request_goodput")


# Report keys that hold text, not figures (a gate cannot name them).
TEXT_KEYS = frozenset({"tool", "date", "backend", "endpoint_type", "label", "model_id", "tokenizer_id",
                       "request_rate", "latency_origin", "output_tokens_source", "input_tokens_source"})


class GateConfigError(UsageError, ValueError):
    """A thresholds or baseline file that cannot be used; the message names file, key and line."""


@dataclass
class GateResult:
    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def check(self, name: str, measured: float | None, bound: str, allowed: float, source: str) -> None:
        op = "<=" if bound == "max" else ">="
        if measured is None:  # a figure the run could not measure never passes a gate
            self.lines.append(f"FAIL {name}: not measured (n/a), allowed {bound} {_fmt(allowed)} ({source})")
            self.failures.append(f"{name}: not measured in this run, so it cannot be {op} {_fmt(allowed)} ({source})")
            return
        ok = measured <= allowed if bound == "max" else measured >= allowed
        line = f"{name}: measured {_fmt(measured)}, allowed {bound} {_fmt(allowed)} ({source})"
        if ok:
            self.lines.append(f"PASS {line}")
        else:
            self.lines.append(f"FAIL {line}")
            self.failures.append(f"{name}: measured {_fmt(measured)} is not {op} {_fmt(allowed)} ({source})")

    def merge(self, other: GateResult) -> GateResult:
        return GateResult(self.lines + other.lines, self.failures + other.failures)


def _fmt(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1 else f"{value:.2f}"


def numeric_figures(report: dict[str, Any]) -> dict[str, float | None]:
    """Every figure a gate may name: top-level numbers (None: not measured in this run) and
    ``errors.<class>``."""
    out: dict[str, float | None] = {
        k: None if v is None else float(v) for k, v in report.items()
        if k not in TEXT_KEYS and (v is None or (isinstance(v, int | float) and not isinstance(v, bool)))}
    for cls, count in (report.get("errors") or {}).items():
        out[f"errors.{cls}"] = float(count)
    return out


def load_thresholds(path: Path, known: set[str]) -> list[tuple[str, str, float, int | None]]:
    """[(figure, "max"|"min", value, line)], validated against the figures a report has."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GateConfigError(f"{path}: cannot read thresholds file: {exc.strerror}") from exc
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise GateConfigError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if data is None:
        raise GateConfigError(f"{path}: empty thresholds file; write lines like 'p99_ttft_ms: {{max: 500}}'")
    if not isinstance(data, dict) or node is None or not isinstance(node, yaml.MappingNode):
        raise GateConfigError(f"{path}: expected a mapping of figure names to {{max: N}} or {{min: N}}")
    lines = {str(k.value): k.start_mark.line + 1 for k, _ in node.value}
    out: list[tuple[str, str, float, int | None]] = []
    for name, spec in data.items():
        line = lines.get(str(name))
        where = f"{path}:{line}" if line else str(path)
        if name not in known:
            close = sorted(k for k in known if str(name).split("_")[-2:] == k.split("_")[-2:])[:5]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise GateConfigError(f"{where}: unknown figure {name!r}{hint}; gates name report figures such as "
                                  "p99_ttft_ms, median_tpot_ms, failed_ratio, output_throughput, errors.http_5xx (request_goodput needs --slo)")
        if not isinstance(spec, dict) or not spec or set(spec) - {"max", "min"}:
            raise GateConfigError(f"{where}: {name}: expected {{max: N}} and/or {{min: N}}, got {spec!r}")
        for bound, value in spec.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
                raise GateConfigError(f"{where}: {name}.{bound}: expected a number, got {value!r}")
            out.append((str(name), str(bound), float(value), line))
    return out


def check_thresholds(report: dict[str, Any], path: Path) -> GateResult:
    figures = numeric_figures(report)
    result = GateResult()
    for name, bound, value, line in load_thresholds(path, set(figures)):
        result.check(name, figures[name], bound, value, f"{path.name}:{line}" if line else path.name)
    return result


def parse_percent(text: str) -> float:
    """'10%' or '10' -> 0.10."""
    raw = text.strip().removesuffix("%")
    try:
        value = float(raw) / 100.0
    except ValueError:
        raise GateConfigError(f"--max-regression {text!r}: expected a percentage such as 10%") from None
    if value < 0:
        raise GateConfigError(f"--max-regression {text!r}: must not be negative")
    return value


def load_baseline(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GateConfigError(f"{path}: cannot read baseline report: {exc.strerror}") from exc
    except ValueError as exc:
        raise GateConfigError(f"{path}: baseline is not a JSON report: {exc}") from exc
    if not isinstance(data, dict) or "completed" not in data:
        raise GateConfigError(f"{path}: not a load-test report (no 'completed' figure); pass a --report file of an earlier run")
    return data


def check_baseline(report: dict[str, Any], baseline: dict[str, Any], max_regression: float, name: str) -> GateResult:
    result = GateResult()
    now, then = numeric_figures(report), numeric_figures(baseline)
    for key, bound in [(k, "max") for k in BASELINE_LOWER] + [(k, "min") for k in BASELINE_HIGHER]:
        base = then.get(key)
        if key not in now or base is None or base <= 0:
            continue  # the baseline has no such figure: nothing to regress from
        sign, factor = ("+", 1 + max_regression) if bound == "max" else ("-", 1 - max_regression)
        result.check(key, now[key], bound, base * factor, f"baseline {name} {_fmt(base)} {sign}{max_regression:.0%}")
    return result


def baseline_diff(report: dict[str, Any], baseline: dict[str, Any]) -> list[dict[str, Any]]:
    """Every figure the baseline gate compares: then, now and the change (for tables and charts)."""
    now, then = numeric_figures(report), numeric_figures(baseline)
    rows = []
    for key, better in [(k, "lower") for k in BASELINE_LOWER] + [(k, "higher") for k in BASELINE_HIGHER]:
        a, b = then.get(key), now.get(key)
        if a is None and b is None:
            continue
        change = (b - a) / a if a and b is not None else None
        worse = None if change is None else (change > 0 if better == "lower" else change < 0)
        rows.append({"figure": key, "baseline": a, "now": b, "change": change, "better": better, "worse": worse})
    return rows
