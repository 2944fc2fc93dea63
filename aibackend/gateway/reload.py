"""``aibackend reload``: apply a config change the way a careful operator would (issue 4, issue 17).

1. validate   an invalid config never reaches disk and nothing changes;
2. generate   the new config is installed, the previous one backed up (generator.store);
3. start      a new generation of LiteLLM replicas (``server.replicas`` of them, on spare ports),
              beside the serving one;
4. gate       each new replica: readiness, /v1/models, one smoke completion per provider type;
5. switch     HAProxy puts the new generation in rotation and the old one in drain; the old
              replicas are stopped once HAProxy counts no request on them. Any failed gate: the new
              replicas are stopped, the previous config file restored, the old generation keeps
              serving, exit 1 naming the gate.

Without HAProxy (``front: none`` in the state, one replica) step 5 is a restart on the public
port: brief downtime, still gated, with automatic rollback to the old config when the new one fails
to start.

Crash safety: a journal (``.run/reload.json``, written atomically before each step) records the
phase, the previous config text and the replicas involved. Any later gateway command first
calls ``recover``: before the switch it rolls back (new replicas stopped, previous file restored,
old generation serving); after the switch it rolls forward (old replicas stopped). A SIGKILL at any
point therefore ends in the old state or the new one, never a mix. ``AIBACKEND_RELOAD_CRASH_AT``
(a phase name) makes reload SIGKILL itself at that point: the rollback tests use it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aibackend.gateway.control import front_of, instance_alive, launch_generation, launch_instance
from aibackend.gateway.front import Front
from aibackend.gateway.gates import GateFailed, run_gates
from aibackend.gateway.process import master_key_from_env
from aibackend.gateway.runtime import (
    SLOTS,
    GatewayState,
    Instance,
    RuntimeDir,
    stop_process_group,
)
from aibackend.gateway.settings import GatewayPlan, plan_for
from generator import store
from generator.atomicfile import write_atomic
from generator.errors import GatewayError
from generator.net import free_port

__all__ = ["PHASES", "ReloadResult", "recover", "reload"]

# The checkpoints, in order; each is journalled before the work that follows it.
PHASES = ("validated", "generated", "starting", "gating", "switching", "switched")
CRASH_ENV = "AIBACKEND_RELOAD_CRASH_AT"
# Long streams may still be running on the old instance: they are allowed to finish.
DRAIN_TIMEOUT = 600.0


@dataclass(frozen=True)
class ReloadResult:
    switched: bool
    downtime: bool
    old: Instance
    new: Instance | None
    backup: str | None
    message: str


def _checkpoint(run: RuntimeDir, journal: dict[str, Any], phase: str) -> None:
    journal["phase"] = phase
    write_atomic(run.journal_file, json.dumps(journal, indent=2, sort_keys=True) + "\n")
    if os.environ.get(CRASH_ENV) == phase:
        os.kill(os.getpid(), signal.SIGKILL)


def _previous_copy(run: RuntimeDir) -> Path:
    return run.path / "reload-previous.yaml"


def _other(slot: str) -> str:
    return SLOTS[1] if slot == SLOTS[0] else SLOTS[0]


def reload(
    run: RuntimeDir, *, config_dir: Path, config_file: Path, ready_timeout: float | None = None
) -> ReloadResult:
    """Run the five steps (caller holds ``run.lock()`` and has called ``recover``).

    ``ready_timeout``: the operator's readiness wait in seconds (None: scaled to the deployments).
    """
    state = run.read_state()
    if state is None or not any(instance_alive(r) for r in state.replicas):
        raise GatewayError(
            "the gateway is not running, so there is nothing to reload",
            hint="start it with 'aibackend gateway start'",
        )
    plan = replace(plan_for(config_dir), ready_timeout=ready_timeout)  # 1. validate: ConfigInvalid leaves everything as it was
    if (plan.host, plan.port) != (state.host, state.port):
        raise GatewayError(
            f"gateway.yaml moves the public address from {state.host}:{state.port} to {plan.host}:{plan.port}; "
            "a reload keeps the public address",
            hint="run 'aibackend gateway stop' then 'aibackend gateway start' to move it",
        )
    if state.front is None and plan.replicas > 1:
        raise GatewayError(
            f"server.replicas: {plan.replicas} needs the HAProxy front, and this gateway runs without one",
            hint="run 'aibackend gateway stop' then 'aibackend gateway start' (with haproxy installed)",
        )
    key = master_key_from_env(plan.master_key_env)
    run.ensure()
    had_file = config_file.exists()
    if had_file:
        shutil.copyfile(config_file, _previous_copy(run))
    journal: dict[str, Any] = {
        "config_file": str(config_file),
        "previous_copy": str(_previous_copy(run)) if had_file else None,
        "old_state": json.loads(state.to_json()),
        "front": state.front is not None,
    }
    _checkpoint(run, journal, "validated")

    backup = store.install(config_file, plan.config_text, keep=plan.backups_keep)  # 2. generate
    journal["backup"] = backup.name if backup else None
    _checkpoint(run, journal, "generated")

    new_slot = _other(state.active.slot)
    ports = [free_port() for _ in range(plan.replicas if state.front else 1)]
    journal["new"] = {"slot": new_slot, "ports": ports}
    _checkpoint(run, journal, "starting")
    try:
        if state.front is None:
            new: tuple[Instance, ...] = (
                launch_instance(run, plan, config_file=config_file, slot=new_slot, host="127.0.0.1", port=ports[0], key=key),
            )
        else:  # 3. start the new generation beside the old one
            new = launch_generation(run, plan, config_file=config_file, slot=new_slot, ports=ports, key=key)
        journal["new"]["pids"] = [replica.pid for replica in new]
        _checkpoint(run, journal, "gating")
        for replica in new:  # 4. gate every replica: each serves on its own
            run_gates(f"http://127.0.0.1:{replica.port}", key, plan.config_text)
    except GatewayError as exc:
        gate = exc.gate if isinstance(exc, GateFailed) else "readiness"
        _roll_back(run, journal)
        raise GatewayError(
            f"reload rolled back: {exc}"
            if isinstance(exc, GateFailed)
            else f"reload rolled back: gate 'readiness' failed: {exc}",
            hint=f"the previous config was restored and the old gateway (pid {state.active.pid}) keeps serving; "
            f"fix the '{gate}' problem and reload again",
        ) from exc

    if state.front is None:
        return _restart_in_place(run, journal, state, plan, new[0], key, config_file, backup)

    running_front = Front(state.front)
    _checkpoint(run, journal, "switching")
    running_front.add(new)  # 5. switch
    running_front.switch(new, state.replicas)
    new_state = GatewayState(host=state.host, port=state.port, replicas=new, front=state.front)
    run.write_state(new_state)
    Front.save_config(run, host=state.host, port=state.port, replicas=new)
    _checkpoint(run, journal, "switched")
    _finish_switch(run, running_front, state.replicas)
    return ReloadResult(
        switched=True,
        downtime=False,
        old=state.active,
        new=new[0],
        backup=backup.name if backup else None,
        message=f"switched {state.host}:{state.port} from {_describe(state.replicas)} "
        f"to {_describe(new)} with no downtime",
    )


def _describe(replicas: tuple[Instance, ...]) -> str:
    slot = replicas[0].slot
    if len(replicas) == 1:
        return f"pid {replicas[0].pid} ({slot})"
    return f"pids {', '.join(str(r.pid) for r in replicas)} ({len(replicas)} replicas, {slot})"


def _finish_switch(run: RuntimeDir, running_front: Front, old: tuple[Instance, ...]) -> None:
    """Drain the old replicas (requests in flight finish there), then stop them."""
    if running_front.alive():
        for replica in old:
            running_front.wait_drained(replica.server, timeout=DRAIN_TIMEOUT)
            running_front.remove(replica.server)
    for replica in old:
        if instance_alive(replica):
            stop_process_group(replica.pid)
    run.journal_file.unlink(missing_ok=True)
    _previous_copy(run).unlink(missing_ok=True)


def _restore_previous_config(journal: dict[str, Any]) -> None:
    config_file = Path(journal["config_file"])
    copy = journal.get("previous_copy")
    if copy is None:
        config_file.unlink(missing_ok=True)
        return
    previous = Path(copy).read_text(encoding="utf-8")
    current = config_file.read_text(encoding="utf-8") if config_file.exists() else None
    if current == previous:
        return
    backup = journal.get("backup")
    if backup:
        # The normal path: restore the backup `generate` made (generator.store keeps the bad one too).
        store.rollback(config_file, backup)
    else:
        write_atomic(config_file, previous)


def _new_ports(journal: dict[str, Any]) -> list[int]:
    new = journal.get("new") or {}
    if "ports" in new:
        return [int(p) for p in new["ports"]]
    return [int(new["port"])] if "port" in new else []  # a journal of the one-instance reload


def _roll_back(run: RuntimeDir, journal: dict[str, Any]) -> None:
    """Undo everything before the switch: stop the new replicas, old config and old state back."""
    old_state = GatewayState.from_json(journal["old_state"])
    new = journal.get("new") or {}
    ports = _new_ports(journal)
    for port in ports:
        for pid in _litellm_pids_on(port):
            stop_process_group(pid)
    running_front = front_of(old_state)
    if running_front is not None and running_front.alive() and "slot" in new:
        # A switch cut short: the old generation back in rotation first, then the new one out.
        for replica in old_state.replicas:
            running_front.command(f"set server gateways/{replica.server} state ready")
        known = running_front.servers()
        for index in range(len(ports)):
            server = f"{new['slot']}-{index}"
            if server in known:
                running_front.remove(server)
        Front.save_config(run, host=old_state.host, port=old_state.port, replicas=old_state.replicas)
    _restore_previous_config(journal)
    run.write_state(old_state)
    run.journal_file.unlink(missing_ok=True)
    _previous_copy(run).unlink(missing_ok=True)


def _litellm_pids_on(port: int) -> list[int]:
    """LiteLLM processes started with ``--port PORT`` (a reload killed after Popen left no pid)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [w.decode(errors="replace") for w in cmd]
        if any("litellm" in w for w in words[:2]) and "--port" in words:
            index = words.index("--port")
            if index + 1 < len(words) and words[index + 1] == str(port):
                pid = int(entry.name)
                try:
                    leader = os.getpgid(pid) == pid
                except ProcessLookupError:
                    continue
                if leader:
                    found.append(pid)
    return found


def recover(run: RuntimeDir) -> str | None:
    """Finish or undo a reload that was interrupted; returns what was done (None: nothing to do)."""
    try:
        journal = json.loads(run.journal_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:
        # The journal is written atomically, so this is not a torn write: someone edited it.
        raise GatewayError(
            f"{run.journal_file} is unreadable", hint="inspect it; delete it once the gateway state is right"
        ) from None
    phase = journal.get("phase")
    if phase == "switched":
        new_state = run.read_state()
        old = GatewayState.from_json(journal["old_state"]).replicas
        if new_state is not None and new_state.front is not None:
            _finish_switch(run, Front(new_state.front), old)
        return f"an interrupted reload had already switched; finished it (stopped old {_describe(old)})"
    if phase == "switching" and not journal.get("front"):
        # Restart in place was cut short: the old instance is already stopped and the key may not
        # be in this command's environment, so the gateway is left stopped on the previous config.
        old_state = GatewayState.from_json(journal["old_state"])
        for pid in _litellm_pids_on(old_state.port):
            stop_process_group(pid)
        _roll_back(run, journal)
        run.clear_state()
        return (
            "an interrupted reload (restart without a front) was rolled back to the previous config; "
            "the gateway is stopped: run 'aibackend gateway start'"
        )
    _roll_back(run, journal)
    return f"an interrupted reload (at '{phase}') was rolled back: previous config and old gateway restored"


def _restart_in_place(
    run: RuntimeDir,
    journal: dict[str, Any],
    state: GatewayState,
    plan: GatewayPlan,
    gated: Instance,
    key: str,
    config_file: Path,
    backup: store.Backup | None,
) -> ReloadResult:
    """No front: the gated instance is discarded and the public port restarted (brief downtime)."""
    stop_process_group(gated.pid)
    _checkpoint(run, journal, "switching")
    stop_process_group(state.active.pid)
    try:
        new = launch_instance(
            run, plan, config_file=config_file, slot=gated.slot, host=state.host, port=state.port, key=key
        )
    except GatewayError as exc:
        print(f"reload: the new config did not start on the public port: {exc}", file=sys.stderr)
        _restore_previous_config(journal)
        old = launch_instance(
            run, plan, config_file=config_file, slot=state.active.slot, host=state.host, port=state.port, key=key
        )
        run.write_state(GatewayState(host=state.host, port=state.port, replicas=(old,)))
        run.journal_file.unlink(missing_ok=True)
        raise GatewayError(
            "reload rolled back: gate 'restart' failed; the previous config is serving again (after brief downtime)"
        ) from exc
    run.write_state(GatewayState(host=state.host, port=state.port, replicas=(new,)))
    _checkpoint(run, journal, "switched")
    run.journal_file.unlink(missing_ok=True)
    _previous_copy(run).unlink(missing_ok=True)
    return ReloadResult(
        switched=True,
        downtime=True,
        old=state.active,
        new=new,
        backup=backup.name if backup else None,
        message=f"restarted {state.host}:{state.port} on the new config (BRIEF DOWNTIME: no front in use)",
    )
