"""``aibackend ci``: the config repository's pipeline, stage by stage, stopping at the first failure.

Stages (each is also a command an operator can run alone):

1. ``yaml-lint``       yamllint on the source files (the repository's ``.yamllint`` when it has one)
2. ``validate``        ``aibackend validate --critical``: YAML syntax, schema, consistency
3. ``secrets``         ``aibackend secrets scan``: no literal secret in the sources or the generated file
4. ``generate-check``  ``aibackend generate --check``: every layer, LiteLLM's acceptance, and the committed
                       generated config is current and unedited
5. ``acceptance``      ``aibackend validate``: all seven layers, LiteLLM's own acceptance included
6. ``routes``          simulators + the real gateway behind its front: every name reaches the backend
                       validate printed, every fallback chain answers from its next link
                       (``aibackend.ops.routecheck``)
7. ``contract``        each simulator type in use against its spec
8. ``unit``, ``contract-tests``, ``integration``: ``python -m pytest -m <tier>`` when there is a ``tests/``
   directory (``--skip-tests`` leaves them out)
9. with ``--live`` only: ``live-contract`` (every active provider at its real URL) and ``live-load``
   (``<config-dir>/perf-gate.yaml``; ``aibackend.ops.livegate``)

``--skip-simulated`` leaves out routes and contract. Exit 0 when every stage passed, 1 at the first
failing stage (named), 2 when the pipeline could not run (no config directory).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HELP = ("run the config repository's CI pipeline: yamllint, validate, secrets, generate --check, acceptance, "
        "routes and contract on simulators, tests; --live: the real providers")

TEST_TIERS = ("unit", "contract", "integration")
# yamllint's "relaxed" rules, with room for the long comments config files carry.
YAMLLINT_DEFAULT = "{extends: relaxed, rules: {line-length: {max: 160}}}"
YAMLLINT_FILES = (".yamllint", ".yamllint.yaml", ".yamllint.yml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON summary of the stages (and nothing else)")
    parser.add_argument("--skip-tests", action="store_true", help="leave out the pytest stages")
    parser.add_argument("--tests", default=",".join(TEST_TIERS), metavar="TIERS",
                        help=f"pytest tiers to run, comma-separated (default {','.join(TEST_TIERS)})")
    parser.add_argument("--pytest-args", default="", metavar="ARGS",
                        help="extra pytest arguments, e.g. \"-n auto --dist loadgroup\"")
    parser.add_argument("--skip-simulated", action="store_true",
                        help="leave out the routes and contract stages (simulators and the gateway)")
    parser.add_argument("--live", action="store_true",
                        help="also run live-contract and live-load against the providers' real URLs")
    parser.add_argument("--report-dir", type=Path, default=Path("ci-reports"), metavar="DIR",
                        help="where live-load writes its reports (default ci-reports/)")


@dataclass
class Stage:
    name: str
    command: list[str]
    status: str = "not-run"  # passed | failed | skipped | not-run
    exit_code: int | None = None
    duration_s: float = 0.0
    output: str = ""
    note: str = ""
    checked: dict[str, Any] = field(default_factory=dict)  # what the stage checked, for --json
    runner: Callable[[], tuple[int, str]] | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "command": " ".join(self.command), "status": self.status,
                "exit_code": self.exit_code, "duration_s": round(self.duration_s, 2), "note": self.note,
                "checked": self.checked, "output_tail": "\n".join(self.output.splitlines()[-30:])}


def _subprocess(command: Sequence[str]) -> Callable[[], tuple[int, str]]:
    def run() -> tuple[int, str]:
        result = subprocess.run(list(command), capture_output=True, text=True, check=False)
        return result.returncode, (result.stdout + result.stderr).strip()

    return run


def _aibackend(*args: str) -> list[str]:
    return [sys.executable, "-m", "aibackend.cli", *args]


def _secrets_runner(config_dir: Path) -> Callable[[], tuple[int, str]]:
    def run() -> tuple[int, str]:
        from aibackend.commands.secrets import default_files
        from generator.checks import scan_secrets

        files = default_files(config_dir)
        found = [d for path in files for d in scan_secrets(path, str(path))]
        if found:
            return 1, "\n".join(d.format() for d in found)
        return 0, f"no literal secret in {len(files)} file(s)"

    return run


Say = Callable[[str], None]


def _in_process(stage: Stage, body: Callable[[Say], tuple[bool, dict[str, Any], str]]) -> None:
    """A stage run in this process: ``body(say)`` -> (ok, what it checked, note); its lines are the output.
    A user or environment error (a config that does not validate, a gateway that does not start) fails
    the stage with its message, never with a traceback."""
    from generator.errors import AibackendError

    def run() -> tuple[int, str]:
        from aibackend.ops.interrupts import terminate_as_interrupt

        lines: list[str] = []
        try:
            with terminate_as_interrupt():  # SIGTERM/SIGHUP unwind like Ctrl-C: what the stage started stops
                ok, stage.checked, stage.note = body(lines.append)
        except AibackendError as exc:
            lines.append(f"error: {exc.message}" + (f"\nhint: {exc.hint}" if exc.hint else ""))
            return 1, "\n".join(lines)
        return (0 if ok else 1), "\n".join(lines)

    stage.runner = run


def simulated_stages(config_dir: Path) -> list[Stage]:
    """routes and contract: simulators stand in for every active provider (no GPU, no network)."""
    routes = Stage("routes", ["aibackend.ops.routecheck", "--config-dir", str(config_dir)])

    def check_routes(say: Say) -> tuple[bool, dict[str, Any], str]:
        from aibackend.ops.routecheck import check_routes

        report = check_routes(config_dir, say)
        bad = [c.describe() for c in report.names if not c.ok] + [c.describe() for c in report.chains if not c.ok]
        for line in bad:
            say(f"routes: {line}")
        limits = sum(1 for limit in report.limits if limit["checked"])
        return report.ok, report.to_json(), (f"{len(report.names)} name(s), {len(report.chains)} chain(s), "
                                             f"{limits} limit(s) checked")

    _in_process(routes, check_routes)
    contract = Stage("contract", ["aibackend.ops.simcontract", "--config-dir", str(config_dir)])

    def check_contract(say: Say) -> tuple[bool, dict[str, Any], str]:
        from aibackend.ops.simcontract import simulator_contracts

        ok, results = simulator_contracts(config_dir, say)
        return ok, {"simulators": results}, f"{len(results)} simulator type(s)"

    _in_process(contract, check_contract)
    return [routes, contract]


def live_stages(config_dir: Path, report_dir: Path) -> list[Stage]:
    """live-contract and live-load: the providers' real URLs (only with --live)."""
    from aibackend.ops.livegate import PERF_GATE_FILE

    contract = Stage("live-contract", ["aibackend", "contract", "--providers-file", str(config_dir / "providers.yaml")])

    def check_contract(say: Say) -> tuple[bool, dict[str, Any], str]:
        from aibackend.ops.livegate import live_contract

        ok, results = live_contract(config_dir, say)
        return ok, {"providers": results}, f"{len(results)} provider(s)"

    _in_process(contract, check_contract)
    gate_file = config_dir / PERF_GATE_FILE
    load = Stage("live-load", ["aibackend", "loadtest", "--thresholds", str(gate_file)])
    if not gate_file.is_file():
        load.status, load.note = "skipped", f"no {gate_file}"
        return [contract, load]

    def check_load(say: Say) -> tuple[bool, dict[str, Any], str]:
        from aibackend.ops.livegate import live_load

        ok, results = live_load(config_dir, report_dir, say)
        return ok, {"targets": results, "report_dir": str(report_dir / "live-load")}, f"{len(results)} target(s)"

    _in_process(load, check_load)
    return [contract, load]


def yamllint_config() -> list[str]:
    for name in YAMLLINT_FILES:
        if Path(name).is_file():
            return ["-c", name]
    return ["-d", YAMLLINT_DEFAULT]


def plan(args: argparse.Namespace) -> list[Stage]:
    from generator.load import GATEWAY_FILE, MAPPINGS_FILE, PROVIDERS_FILE

    config_dir: Path = args.config_dir
    sources = [str(config_dir / n) for n in (PROVIDERS_FILE, MAPPINGS_FILE, GATEWAY_FILE) if (config_dir / n).is_file()]
    lint = [sys.executable, "-m", "yamllint", "-f", "parsable", *yamllint_config(), *sources]
    stages = [
        Stage("yaml-lint", lint, runner=_subprocess(lint)),
        Stage("validate", _aibackend("validate", "--critical", "--config-dir", str(config_dir))),
        Stage("secrets", ["aibackend", "secrets", "scan", "--config-dir", str(config_dir)],
              runner=_secrets_runner(config_dir)),
        Stage("generate-check", _aibackend("generate", "--check", "--config-dir", str(config_dir))),
        Stage("acceptance", _aibackend("validate", "--config-dir", str(config_dir))),
    ]
    for stage in simulated_stages(config_dir):
        if args.skip_simulated:
            stage.status, stage.note = "skipped", "--skip-simulated"
        stages.append(stage)
    tiers = [t.strip() for t in args.tests.split(",") if t.strip()]
    for tier in tiers:
        command = [sys.executable, "-m", "pytest", "-m", tier, "-q", "-p", "no:cacheprovider",
                   *args.pytest_args.split()]
        stage = Stage(f"pytest-{tier}", command)
        if args.skip_tests:
            stage.status, stage.note = "skipped", "--skip-tests"
        elif not Path("tests").is_dir():
            stage.status, stage.note = "skipped", "no tests/ directory here"
        stages.append(stage)
    if args.live:
        stages += live_stages(config_dir, args.report_dir)
    return stages


def execute(stages: list[Stage], *, echo: Callable[[str], None]) -> Stage | None:
    """Run the stages in order; the first failing one is returned (the rest stay not-run)."""
    runnable = [s for s in stages if s.status != "skipped"]
    for index, stage in enumerate(runnable, start=1):
        echo(f"[{index}/{len(runnable)}] {stage.name}: {' '.join(stage.command)}")
        runner = stage.runner or _subprocess(stage.command)
        started = time.monotonic()
        try:
            stage.exit_code, stage.output = runner()
        except OSError as exc:
            stage.exit_code, stage.output = 127, f"could not run: {exc}"
        stage.duration_s = time.monotonic() - started
        if stage.exit_code == 5 and stage.name.removeprefix("pytest-") in TEST_TIERS:  # pytest: no test collected
            stage.status, stage.note = "skipped", "no test collected"
        elif stage.exit_code == 0:
            stage.status = "passed"
        else:
            stage.status = "failed"
        echo(f"      {stage.status} ({stage.duration_s:.1f} s){' - ' + stage.note if stage.note else ''}")
        if stage.status == "failed":
            return stage
    return None


def run(args: argparse.Namespace) -> int:
    from generator.errors import UsageError

    if not Path(args.config_dir).is_dir():
        raise UsageError(f"config directory {args.config_dir} does not exist", hint="pass --config-dir DIR")
    unknown = [t for t in args.tests.split(",") if t.strip() and t.strip() not in TEST_TIERS]
    if unknown:
        raise UsageError(f"--tests: unknown tier(s) {', '.join(unknown)}; choose from {', '.join(TEST_TIERS)}")
    from aibackend.extras import require

    # What the stages need, said before any of them runs (exit 2 with the extra to install).
    require("yamllint", *(() if args.skip_simulated else ("litellm", "schemathesis")),
            *(("locust",) if args.live else ()), extra="ci")
    stages = plan(args)
    if any(s.runner is not None and s.status == "not-run" and s.name not in ("yaml-lint", "secrets") for s in stages):
        from generator import lifeline

        # Simulators, LiteLLM, HAProxy and Locust die with this process, however it ends (SIGKILL too).
        lifeline.own_children("ci")

    def echo(text: str) -> None:
        if not args.json:
            print(text, flush=True)

    failed = execute(stages, echo=echo)
    if args.json:
        print(json.dumps({"ok": failed is None, "failed_stage": failed.name if failed else None,
                          "stages": [s.to_json() for s in stages]}, indent=2))
    elif failed is not None:
        print(failed.output, file=sys.stderr)
        print(f"ci: stage '{failed.name}' failed (exit {failed.exit_code}): {' '.join(failed.command)}",
              file=sys.stderr)
    else:
        passed = sum(s.status == "passed" for s in stages)
        skipped = [s.name for s in stages if s.status == "skipped"]
        print(f"ci: passed ({passed} stage(s)" + (f"; skipped: {', '.join(skipped)}" if skipped else "") + ")")
    return 0 if failed is None else 1
