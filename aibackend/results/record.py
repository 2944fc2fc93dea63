"""What one recorded run is, and how it is built from what the commands produce.

A load-test run comes from its report JSON (``loadtests.report``): every numeric top-level key is a
figure (a null one is a figure that could not be measured), each number of its sections of numbers
too (``errors.<class>``, ``token_counts.<name>``, ...); ``run`` is the workload (the settings of
``LOADTEST_WORK_KEYS`` decide which runs compare); ``gate`` the verdict. A contract run is one target of ``contracts.report.as_json``.
Nothing here knows today's list of figure names: the report decides.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import Any, Literal

from aibackend.results.timeline import timeline_from_csv
from generator import __version__
from generator.load import GATEWAY_FILE, MAPPINGS_FILE, PROVIDERS_FILE
from loadtests.gate import TEXT_KEYS

__all__ = ["LOADTEST_WORK_KEYS", "Provenance", "Run", "contract_run", "loadtest_run", "provenance", "redact", "report_facts",
           "report_figures", "work_of"]

Kind = Literal["loadtest", "contract"]
Verdict = Literal["pass", "fail"]

# Keys of the report's ``run`` section that name the target rather than the workload.
_TARGET_KEYS = ("host", "model")
# The load-test settings that define the work sent: two runs that agree on all of them compare. The
# others of ``run`` are kept with the run but change no request: the load generator's machine
# (load_average, cpus), how the client is split (workers), which percentiles are reported, and the
# seed, which only orders or words prompts of the same lengths (with a dataset it picks the samples:
# there it counts). Files count by name, not by the directory they were read from.
LOADTEST_WORK_KEYS = ("api", "stream", "users", "request_rate", "arrival", "burstiness", "max_concurrency",
                      "prompt_tokens", "prompt_tokens_unit", "max_tokens", "requests", "warmup", "duration",
                      "ignore_eos", "extra_body", "dataset", "prompt_file", "tokenizer")
_WORK_FILES = ("dataset", "prompt_file", "tokenizer")
# Report sections of numbers recorded as ``<section>.<name>`` figures, like ``errors.<class>``.
_FIGURE_SECTIONS = ("errors", "token_counts", "steady_state_window", "gateway_deployments")
# Text keys that say how figures were measured: shown beside them (they stay in the stored document).
_FACT_KEYS = ("output_tokens_source", "input_tokens_source", "latency_origin")
# Keys whose string value is a credential wherever they appear in a stored document.
_SECRET_KEY = re.compile(r"^(authorization|proxy-authorization|x-api-key|api[-_]?key|apikey|password|passwd|"
                         r"secret|client[-_]secret|master[-_]?key|access[-_]token|refresh[-_]token|cookie|set-cookie)$",
                         re.IGNORECASE)
_SECRET_VALUE = re.compile(r"^(bearer\s+\S+|sk-[A-Za-z0-9_\-]{16,})$", re.IGNORECASE)
REDACTED = "[redacted]"


@dataclass(frozen=True)
class Provenance:
    """Where a run came from: the config directory's git commit and content hash, when there is one."""

    config_dir: str | None = None
    config_hash: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None


@dataclass
class Run:
    kind: Kind
    target: str  # the name runs are filed under (default: the URL)
    model: str | None
    workload: dict[str, Any]
    figures: dict[str, float | None]
    verdict: Verdict | None  # None: no gate was set
    gate: dict[str, Any]  # lines and failures of the gate, or the contract's violations
    document: dict[str, Any]  # the report (secrets redacted)
    target_url: str | None = None
    started_at: datetime | None = None
    recorded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    provenance: Provenance = field(default_factory=Provenance)
    reports: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=list)
    tool_version: str = __version__
    timeline: dict[str, list[float | None]] | None = None
    id: int | None = None

    @property
    def work(self) -> dict[str, Any]:
        """The settings that define the work (``LOADTEST_WORK_KEYS`` of a load test; all of a contract run's)."""
        return work_of(self.kind, self.workload)

    @property
    def workload_key(self) -> str:
        """Runs with the same key ran the same workload: their figures compare."""
        canonical = json.dumps(self.work, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @property
    def when(self) -> datetime:
        return self.started_at or self.recorded_at


def work_of(kind: Kind, workload: dict[str, Any]) -> dict[str, Any]:
    if kind != "loadtest":
        return dict(workload)
    work = {key: workload[key] for key in LOADTEST_WORK_KEYS if key in workload}
    for key in _WORK_FILES:
        if isinstance(work.get(key), str):
            work[key] = PurePath(work[key]).name
    if workload.get("dataset") and "seed" in workload:
        work["seed"] = workload["seed"]
    return work


def _is_figure(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _figure(value: float | None) -> float | None:
    return None if value is None or value != value else float(value)  # NaN is "not measured"


def report_figures(report: dict[str, Any]) -> dict[str, float | None]:
    """Every figure of a report: numeric (or null) top-level keys, less the text keys that are null
    (a missing label is no figure), and ``<section>.<name>`` for each number of the sections of
    numbers (``errors``, ``token_counts``, ``steady_state_window``, ``gateway_deployments``)."""
    figures: dict[str, float | None] = {}
    for key, value in report.items():
        if key not in TEXT_KEYS and _is_figure(value):
            figures[key] = _figure(value)
    for section in _FIGURE_SECTIONS:
        _section_figures(section, report.get(section), figures)
    return figures


def _section_figures(prefix: str, values: Any, figures: dict[str, float | None]) -> None:
    if isinstance(values, dict):
        for name, value in values.items():
            if isinstance(value, dict):
                _section_figures(f"{prefix}.{name}", value, figures)  # token_counts.sources.<source>
            elif _is_figure(value):
                figures[f"{prefix}.{name}"] = _figure(value)


def report_facts(report: dict[str, Any]) -> dict[str, str]:
    """The report's words about its figures (where token counts came from, the latency origin)."""
    return {key: value for key in _FACT_KEYS if isinstance(value := report.get(key), str)}


def redact(value: Any) -> Any:
    """A copy of a JSON document without credentials (header values, keys), for storing and showing."""
    if isinstance(value, dict):
        return {k: (REDACTED if isinstance(k, str) and _SECRET_KEY.match(k) and v not in (None, "") else redact(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str) and _SECRET_VALUE.match(value.strip()):
        return REDACTED
    return value


def _hash_sources(config_dir: Path) -> str | None:
    digest = hashlib.sha256()
    found = False
    for name in (PROVIDERS_FILE, MAPPINGS_FILE, GATEWAY_FILE):
        path = config_dir / name
        try:
            data = path.read_bytes()
        except OSError:
            continue
        found = True
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()[:16] if found else None


def _git_dirty(config_dir: Path) -> bool | None:
    import subprocess

    try:
        result = subprocess.run(["git", "-C", str(config_dir), "status", "--porcelain", "--", "."],
                                capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(result.stdout.strip()) if result.returncode == 0 else None


def provenance(config_dir: Path | None) -> Provenance:
    """The config directory's hash and git state; empty when there is no config directory."""
    if config_dir is None or not (config_dir / PROVIDERS_FILE).is_file():
        return Provenance()
    from generator.pipeline import git_commit

    commit = git_commit(config_dir)
    return Provenance(config_dir=str(config_dir.resolve()), config_hash=_hash_sources(config_dir),
                      git_commit=None if commit == "none" else commit,
                      git_dirty=None if commit == "none" else _git_dirty(config_dir))


def _gate_verdict(gate: Any) -> tuple[Verdict | None, dict[str, Any]]:
    if not isinstance(gate, dict):
        return None, {}
    lines, failures = list(gate.get("lines") or []), list(gate.get("failures") or [])
    if not lines and not failures:
        return None, {"lines": [], "failures": []}  # no threshold, no baseline: nothing was gated
    return ("pass" if gate.get("passed") and not failures else "fail"), {"lines": lines, "failures": failures}


def loadtest_run(report: dict[str, Any], *, report_path: Path, target: str | None = None,
                 extra_workload: dict[str, Any] | None = None) -> Run:
    """A load-test run from its report JSON (and the files beside it)."""
    settings = report.get("run") if isinstance(report.get("run"), dict) else {}
    assert isinstance(settings, dict)
    workload = {k: v for k, v in settings.items() if k not in _TARGET_KEYS}
    for key, value in (extra_workload or {}).items():
        workload.setdefault(key, value)
    verdict, gate = _gate_verdict(report.get("gate"))
    url = settings.get("host") if isinstance(settings.get("host"), str) else None
    model = settings.get("model") if isinstance(settings.get("model"), str) else None
    siblings = [report_path] + [report_path.with_suffix(s) for s in (".html", ".csv", ".records.jsonl")]
    return Run(kind="loadtest", target=target or url or str(report_path), target_url=url, model=model,
               workload=workload, figures=report_figures(report), verdict=verdict, gate=gate,
               document=redact(report), reports=[str(p.resolve()) for p in siblings if p.exists()],
               timeline=timeline_from_csv(report_path.with_suffix(".csv")))


def contract_run(target: dict[str, Any], *, workload: dict[str, Any], reports: list[Path]) -> Run:
    """One target of ``contracts.report.as_json``: its checks, violations and known deviations."""
    checks = target.get("checks") or []
    violations = target.get("violations") or []
    known = target.get("known_deviations") or []
    rules = {v.get("rule") for v in violations if isinstance(v, dict)}
    failures = [f"{v.get('rule')}: {v.get('endpoint', '')}: expected {v.get('expected')}, got {v.get('actual')}"
                for v in violations if isinstance(v, dict)]
    figures: dict[str, float | None] = {
        "checks": float(len(checks)),
        "checks_failed": float(sum(1 for c in checks if isinstance(c, dict) and not c.get("ok"))),
        "violations": float(len(violations)),
        "rules_violated": float(len(rules)),
        "known_deviations": float(len(known)),
    }
    return Run(kind="contract", target=str(target.get("target") or target.get("url")), target_url=target.get("url"),
               model=target.get("model"), workload={"type": target.get("type"), **workload}, figures=figures,
               verdict="pass" if target.get("ok") else "fail", gate={"lines": [], "failures": failures},
               document=redact(target), reports=[str(p.resolve()) for p in reports if p.exists()])
