"""The ``--live`` stages of ``aibackend ci``: the real providers, never their simulators.

* ``live-contract``: the contract suite against every active provider at its real URL, the key from
  the environment variable the registry names (``api_key_env``). A provider that does not answer
  fails for itself, with the connection error; the others are still checked.
* ``live-load``: when ``<config-dir>/perf-gate.yaml`` exists, a short seeded ``aibackend loadtest``
  per section, gated by the section's thresholds (the ``--thresholds`` format) and by
  ``--max-regression`` against the section's ``baseline:``. A provider section loads the provider
  directly; a model-group section loads it through the gateway, started on a temporary copy of the
  config (the real URLs) and stopped afterwards. Reports go under ``<report-dir>/live-load/``.

perf-gate.yaml::

    load: {duration_s: 10, users: 2, seed: 0, max_regression: 10%}   # optional, these defaults
    llama_cpp_native:                   # a provider or a model group
      p99_ttft_ms: {max: 500}
      failed_ratio: {max: 0}
      baseline: baselines/native.json   # optional, relative to the config directory
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator.errors import AibackendError, UsageError

__all__ = ["PERF_GATE_FILE", "LoadSection", "PerfGate", "live_contract", "live_load", "load_perf_gate"]

PERF_GATE_FILE = "perf-gate.yaml"
LOAD_KEY = "load"
STORE_PREFIX = "run:"  # baseline: run:ID, an entry of the results store (aibackend runs list)
LOAD_DEFAULTS: dict[str, Any] = {"duration_s": 10.0, "users": 2, "seed": 0, "max_regression": "10%"}


# --- live-contract ------------------------------------------------------------------------------------


def live_contract(config_dir: Path, say: Callable[[str], None]) -> tuple[bool, list[dict[str, Any]]]:
    """Every active provider against its type's contract; (all compliant, one entry per provider)."""
    from aibackend.ops.demo import validate
    from contracts.suite import Target, run_suite
    from contracts.targets import api_key_from_env
    from generator.providers import REGISTRY

    sources = validate(config_dir)
    results: list[dict[str, Any]] = []
    for name, provider in sources.providers.providers.items():
        if not provider.is_active:
            continue
        contract_type = REGISTRY[provider.type].contract_type
        entry: dict[str, Any] = {"provider": name, "type": provider.type, "url": provider.base_url,
                                 "key_env": provider.api_key_env, "ok": False}
        results.append(entry)
        if contract_type is None:
            entry["problem"] = f"provider type {provider.type!r} has no contract"
            say(f"      FAIL {name}: {entry['problem']}")
            continue
        unreachable = _connection_error(provider.base_url)
        if unreachable is not None:  # said once, plainly, instead of one violation per check
            entry["problem"] = unreachable
            say(f"      FAIL {name}: {unreachable}")
            continue
        try:
            key = api_key_from_env(provider.api_key_env, contract_type) if provider.api_key_env else None
            report = run_suite(Target(contract_type, provider.base_url, model=provider.models[0].name,
                                      api_key=key, name=name))
        except AibackendError as exc:  # unreachable, refused, no key: this provider fails, the others go on
            entry["problem"] = exc.message
            say(f"      FAIL {name} ({provider.base_url}): {exc.message}")
            continue
        entry.update(ok=report.ok, model=report.model, checks=len(report.outcomes),
                     violations=[str(v) for v in report.violations])
        if report.ok:
            say(f"      ok   {name} ({provider.base_url}): compliant, {len(report.outcomes)} checks, model {report.model}")
        else:
            entry["problem"] = f"{len(report.violations)} violation(s): {', '.join(sorted(report.violated_rules))}"
            say(f"      FAIL {name} ({provider.base_url}): {entry['problem']}")
            for violation in report.violations[:5]:
                say(f"           {violation}")
    return all(r["ok"] for r in results), results


def _connection_error(url: str, timeout: float = 5.0) -> str | None:
    """None when a TCP connection to the URL's host and port opens; else the error, named."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            return None
    except OSError as exc:
        return f"cannot connect to {url}: {exc.strerror or type(exc).__name__}"


# --- perf-gate.yaml ---------------------------------------------------------------------------------------


@dataclass
class LoadSection:
    name: str
    line: int
    thresholds: list[tuple[str, str, float, int]]  # (figure, max|min, value, line)
    baseline: Path | None = None


@dataclass
class PerfGate:
    path: Path
    sections: list[LoadSection]
    settings: dict[str, Any] = field(default_factory=lambda: dict(LOAD_DEFAULTS))


def _bad(path: Path, line: int | None, message: str, hint: str) -> UsageError:
    return UsageError(f"{path}{f':{line}' if line else ''}: {message}", hint=hint)


def load_perf_gate(path: Path) -> PerfGate:
    """Parse and check perf-gate.yaml (figure names are checked against a report once one exists)."""
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise _bad(path, mark.line + 1 if mark else None, f"not valid YAML: {getattr(exc, 'problem', exc)}",
                   "fix the YAML syntax") from None
    hint = "write one section per provider or model group, e.g. 'my_provider: {p99_ttft_ms: {max: 500}}'"
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise _bad(path, 1, "expected a mapping of sections", hint)
    gate = PerfGate(path, [])
    for key_node, value_node in node.value:
        name, line = str(key_node.value), key_node.start_mark.line + 1
        value = data[key_node.value]
        if name == LOAD_KEY:
            if not isinstance(value, dict) or set(value) - set(LOAD_DEFAULTS):
                raise _bad(path, line, f"{LOAD_KEY}: expected a mapping with {', '.join(LOAD_DEFAULTS)}",
                           f"e.g. {LOAD_KEY}: {{duration_s: 10, users: 2}}")
            gate.settings.update(value)
            continue
        if not isinstance(value, dict) or not isinstance(value_node, yaml.MappingNode) or not value:
            raise _bad(path, line, f"{name}: expected a mapping of figures to {{max: N}} / {{min: N}}", hint)
        section = LoadSection(name, line, [])
        for figure_node, _ in value_node.value:
            figure, figure_line = str(figure_node.value), figure_node.start_mark.line + 1
            spec = value[figure_node.value]
            if figure == "baseline":
                if isinstance(spec, str) and spec.startswith(STORE_PREFIX):
                    section.baseline = _baseline_from_store(path, figure_line, name, spec)
                    continue
                if not isinstance(spec, str):
                    raise _bad(path, figure_line, f"{name}.baseline: expected a path to a report JSON or "
                               f"{STORE_PREFIX}ID", "e.g. baseline: baselines/my_provider.json, or baseline: run:12 "
                               "(an entry of the results store: aibackend runs list)")
                section.baseline = (path.parent / spec).resolve()
                if not section.baseline.is_file():
                    raise _bad(path, figure_line, f"{name}.baseline: {section.baseline} does not exist",
                               "point it at a report written by aibackend loadtest --report")
                continue
            if not isinstance(spec, dict) or not spec or set(spec) - {"max", "min"}:
                raise _bad(path, figure_line, f"{name}.{figure}: expected {{max: N}} and/or {{min: N}}, got {spec!r}",
                           hint)
            for bound, number in spec.items():
                if isinstance(number, bool) or not isinstance(number, int | float):
                    raise _bad(path, figure_line, f"{name}.{figure}.{bound}: expected a number, got {number!r}",
                               hint)
                section.thresholds.append((figure, str(bound), float(number), figure_line))
        gate.sections.append(section)
    return gate


def _baseline_from_store(path: Path, line: int, name: str, spec: str) -> Path:
    """The report of results-store entry ``run:ID`` (the default store), written beside perf-gate's
    reports-to-be so that ``aibackend loadtest --baseline`` reads it like any stored report."""
    import tempfile

    from aibackend.results.store import ResultsStoreError, default_store_path, open_store

    raw = spec.removeprefix(STORE_PREFIX).strip()
    if not raw.isdigit():
        raise _bad(path, line, f"{name}.baseline: {spec!r}: expected {STORE_PREFIX}ID with a numeric ID",
                   "list the runs with: aibackend runs list --kind loadtest")
    store = default_store_path()
    try:
        with open_store(store, create=False) as opened:
            run = opened.get(int(raw))
    except ResultsStoreError as exc:
        raise _bad(path, line, f"{name}.baseline: {spec}: {exc.message}", "aibackend runs list") from None
    if run is None or run.kind != "loadtest":
        raise _bad(path, line, f"{name}.baseline: {spec}: no load-test run {raw} in {store}",
                   "list the runs with: aibackend runs list --kind loadtest")
    target = Path(tempfile.mkdtemp(prefix="aibackend-ci-baseline-")) / f"run-{raw}.json"
    target.write_text(json.dumps(run.document), encoding="utf-8")
    return target


# --- live-load --------------------------------------------------------------------------------------------


def _loadtest(url: str, model: str, report: Path, gate: PerfGate, section: LoadSection,
              *, api: str, key_env: str | None) -> tuple[int, str]:
    settings = gate.settings
    command = [sys.executable, "-m", "aibackend.cli", "loadtest", "--host", url, "--model", model,
               "--duration", f"{float(settings['duration_s']):g}", "--users", str(settings["users"]),
               "--seed", str(settings["seed"]), "--max-tokens", "16", "--prompt-tokens", "16", "--timeout", "60",
               "--api", api, "--report", str(report)]
    if key_env:
        command += ["--api-key-env", key_env]
    if section.baseline is not None:
        command += ["--baseline", str(section.baseline), "--max-regression", str(settings["max_regression"])]
    result = subprocess.run(command, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    return result.returncode, (result.stdout + result.stderr).strip()


def live_load(config_dir: Path, report_dir: Path, say: Callable[[str], None]) -> tuple[bool, list[dict[str, Any]]]:
    from aibackend.ops.demo import validate
    from loadtests.gate import GateResult, numeric_figures

    gate_file = config_dir / PERF_GATE_FILE
    gate = load_perf_gate(gate_file)
    sources = validate(config_dir)
    from generator.routing import resolve_routes

    routes, _ = resolve_routes(sources)
    providers = sources.providers.providers
    for section in gate.sections:
        if section.name not in providers and section.name not in routes.groups:
            raise _bad(gate_file, section.line, f"{section.name}: neither a provider nor a model group",
                       f"providers: {', '.join(providers)}; model groups: {', '.join(routes.groups)}")
    out_dir = report_dir / "live-load"
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    needs_gateway = any(s.name not in providers for s in gate.sections)

    def run_sections(gateway_url: str | None) -> None:
        for section in gate.sections:
            report = out_dir / f"{_slug(section.name)}.json"
            entry: dict[str, Any] = {"target": section.name, "report": str(report), "ok": False}
            results.append(entry)
            if section.name in providers:
                provider = providers[section.name]
                api = "ollama" if provider.type == "ollama" else "openai"
                url, model, key_env = provider.base_url, provider.models[0].name, provider.api_key_env
                entry["via"] = f"direct {url}"
            else:
                assert gateway_url is not None
                api, url, model, key_env = "openai", gateway_url, section.name, "LITELLM_MASTER_KEY"
                entry["via"] = f"gateway {gateway_url}"
            code, output = _loadtest(url, model, report, gate, section, api=api, key_env=key_env)
            try:
                data = json.loads(report.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                entry["problem"] = f"no report (loadtest exit {code}): {output[-500:]}"
                say(f"      FAIL {section.name}: {entry['problem']}")
                continue
            figures = numeric_figures(data)
            result = GateResult()
            for figure, bound, limit, line in section.thresholds:
                where = f"{gate_file}:{line}"
                if figure not in figures or figures[figure] is None:
                    result.failures.append(f"{figure}: not in the report (n/a), limit {bound} {limit:g} ({where})")
                    continue
                result.check(figure, figures[figure], bound, limit, where)
            regression = [ln for ln in output.splitlines() if "regress" in ln.lower()]
            baseline_failed = section.baseline is not None and code != 0
            entry.update(thresholds=result.lines + [f"FAIL {f}" for f in result.failures],
                         baseline=str(section.baseline) if section.baseline else None, loadtest_exit=code)
            problems = list(result.failures)
            if baseline_failed:
                problems.append(f"regression against {section.baseline}: " + ("; ".join(regression) or output[-300:]))
            elif code != 0 and not problems:
                problems.append(f"loadtest exit {code}: {output[-300:]}")
            entry["ok"] = not problems
            if problems:
                entry["problem"] = "; ".join(problems)
                say(f"      FAIL {section.name} ({entry['via']}): {entry['problem']}")
            else:
                say(f"      ok   {section.name} ({entry['via']}): {len(section.thresholds)} threshold(s) met; {report}")

    if needs_gateway:
        from aibackend.ops.routecheck import simulated_gateway

        with simulated_gateway(config_dir, say, simulate=False) as stack:
            run_sections(stack.url)  # the gateway's key is in this process's environment meanwhile
    else:
        run_sections(None)
    return all(r["ok"] for r in results), results


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in name)[:60]
