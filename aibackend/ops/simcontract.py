"""The ``contract`` stage of ``aibackend ci``: each simulator type the config uses, against its spec.

Seconds, no GPU: it proves the contract suite itself runs in the operator's repository (installed
package, specs found, every check of the type executed) before the live stage points it at the real
servers. Each type is started once, with the models of the first active provider of that type.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["simulator_contracts"]


def simulator_contracts(config_dir: Path, say: Callable[[str], None]) -> tuple[bool, list[dict[str, Any]]]:
    from aibackend.ops.demo import validate
    from contracts.simulators import PROVIDER_TYPES, SimulatorConfig, start_simulator
    from contracts.suite import Target, run_suite
    from generator.errors import AibackendError
    from generator.providers import REGISTRY

    sources = validate(config_dir)
    by_type: dict[str, tuple[str, list[str]]] = {}
    for name, provider in sources.providers.providers.items():
        if provider.is_active and provider.type not in by_type:
            by_type[provider.type] = (name, provider.model_names())
    results: list[dict[str, Any]] = []
    for kind, (provider_name, models) in by_type.items():
        entry: dict[str, Any] = {"type": kind, "provider": provider_name, "ok": False}
        results.append(entry)
        contract_type = REGISTRY[kind].contract_type
        if kind not in PROVIDER_TYPES or contract_type is None:
            entry.update(ok=True, note="no simulator or no contract for this type")
            say(f"      skipped {kind}: no simulator or no contract for this type")
            continue
        served = models[:1] if kind == "llama_cpp" else models  # llama-server serves exactly one model
        try:
            with start_simulator(SimulatorConfig(type=kind, models=served, ttft_ms=1, tpot_ms=1)) as sim:
                report = run_suite(Target(contract_type, sim.url, model=served[0], name=f"{kind} simulator"))
        except AibackendError as exc:
            entry["problem"] = exc.message
            say(f"      FAIL {kind}: {exc.message}")
            continue
        entry.update(ok=report.ok, checks=[o.check for o in report.outcomes],
                     violations=[str(v) for v in report.violations])
        if report.ok:
            say(f"      ok   {kind} simulator: compliant, {len(report.outcomes)} checks")
        else:
            say(f"      FAIL {kind} simulator: {', '.join(sorted(report.violated_rules))}")
    return all(r["ok"] for r in results), results
