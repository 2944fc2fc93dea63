"""``aibackend gateway start|stop|status``: run the real LiteLLM proxy on the generated config.

With HAProxy installed (the default ``--front auto``), HAProxy owns the public address from
gateway.yaml and LiteLLM listens on a private port behind it, so that ``aibackend reload`` can
swap LiteLLM instances without closing the public port (see ``aibackend.gateway.front``). Without it
(``--front none``), LiteLLM binds the public address itself and a reload means a brief restart.

LiteLLM instances run from a snapshot of the generated file (``.run/live-<slot>.yaml``): what
the gateway serves never changes under it when someone runs ``generate``, and the snapshot is
the record of what is live.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aibackend.gateway.front import Front, haproxy_available
from aibackend.gateway.process import log_tail, master_key_from_env, readiness, start_litellm
from aibackend.gateway.runtime import (
    FIRST_SLOT,
    GatewayState,
    Instance,
    RuntimeDir,
    pid_matches,
    stop_process_group,
)
from aibackend.gateway.settings import GatewayPlan
from generator.errors import GatewayError
from generator.net import free_port, port_is_open

__all__ = [
    "FrontMode",
    "GatewayStatus",
    "instance_alive",
    "launch_instance",
    "start",
    "status",
    "stop",
]

FrontMode = Literal["auto", "haproxy", "none"]


def instance_alive(instance: Instance) -> bool:
    return pid_matches(instance.pid, "litellm", f"--port {instance.port}")


def front_of(state: GatewayState) -> Front | None:
    return Front(state.front) if state.front else None


def launch_instance(
    run: RuntimeDir, plan: GatewayPlan, *, config_file: Path, slot: str, host: str, port: int, key: str
) -> Instance:
    """Snapshot ``config_file`` for ``slot`` and start LiteLLM on it (waits for readiness)."""
    run.ensure()
    snapshot = run.path / f"live-{slot}.yaml"
    shutil.copyfile(config_file, snapshot)
    return start_litellm(
        config=snapshot,
        host=host,
        port=port,
        workers=plan.workers,
        slot=slot,
        log=run.log_file(slot),
        key_env=plan.master_key_env,
        key=key,
    )


def _resolve_front(mode: FrontMode) -> bool:
    if mode == "none":
        return False
    if haproxy_available():
        return True
    if mode == "haproxy":
        raise GatewayError("--front haproxy: haproxy is not installed", hint="run the set-up, or use --front none")
    return False


def start(
    run: RuntimeDir, plan: GatewayPlan, *, config_file: Path, front: FrontMode = "auto", port: int | None = None
) -> GatewayState:
    """Start the gateway (caller holds ``run.lock()`` and has recovered any interrupted reload)."""
    public_port = plan.port if port is None else port
    existing = run.read_state()
    if existing is not None:
        if instance_alive(existing.active):
            raise GatewayError(
                f"the gateway is already running: pid {existing.active.pid}, "
                f"http://{existing.host}:{existing.port}",
                hint="use 'aibackend reload' to apply a new config, or 'aibackend gateway stop' first",
            )
        _cleanup_leftovers(existing)
        run.clear_state()
        print(f"note: removed stale gateway state (pid {existing.active.pid} was not running)", file=sys.stderr)
    if not config_file.exists():
        raise GatewayError(f"{config_file} does not exist", hint="run 'aibackend generate' first")
    key = master_key_from_env(plan.master_key_env)
    if port_is_open(_probe_host(plan.host), public_port):
        raise GatewayError(
            f"port {public_port} on {plan.host} is already in use",
            hint="stop what listens there, or change server.port in gateway.yaml",
        )
    use_front = _resolve_front(front)
    if not use_front:
        instance = launch_instance(run, plan, config_file=config_file, slot=FIRST_SLOT, host=plan.host, port=public_port, key=key)
        state = GatewayState(host=plan.host, port=public_port, active=instance)
        run.write_state(state)
        return state
    instance = launch_instance(
        run, plan, config_file=config_file, slot=FIRST_SLOT, host="127.0.0.1", port=free_port(), key=key
    )
    try:
        running_front = Front.start(run, host=plan.host, port=public_port, active_slot=FIRST_SLOT, active_port=instance.port)
    except BaseException:
        stop_process_group(instance.pid)
        raise
    state = GatewayState(host=plan.host, port=public_port, active=instance, front=running_front.state)
    run.write_state(state)
    return state


def _probe_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def _cleanup_leftovers(state: GatewayState) -> None:
    if instance_alive(state.active):
        stop_process_group(state.active.pid)
    running_front = front_of(state)
    if running_front is not None:
        running_front.stop()


def stop(run: RuntimeDir) -> GatewayState:
    """Stop the front and the active instance; GatewayError when nothing was running."""
    state = run.read_state()
    if state is None:
        raise GatewayError(
            f"the gateway is not running (no state in {run.path})", hint="start it with 'aibackend gateway start'"
        )
    was_alive = instance_alive(state.active)
    _cleanup_leftovers(state)
    run.clear_state()
    if not was_alive:
        raise GatewayError(
            f"the gateway was not running: pid {state.active.pid} from {run.pid_file} is gone "
            "(crashed or killed); removed the stale pid file",
            hint=f"its last log lines may say why: {state.active.log}",
        )
    return state


@dataclass(frozen=True)
class GatewayStatus:
    running: bool
    ready: bool
    state: GatewayState | None
    problem: str | None

    def to_json(self) -> dict[str, object]:
        state = self.state
        return {
            "running": self.running,
            "ready": self.ready,
            "url": f"http://{state.host}:{state.port}" if state else None,
            "pid": state.active.pid if state else None,
            "instance_port": state.active.port if state else None,
            "front": "haproxy" if state and state.front else ("none" if state else None),
            "config": state.active.config if state else None,
            "log": state.active.log if state else None,
            "problem": self.problem,
        }


def status(run: RuntimeDir) -> GatewayStatus:
    state = run.read_state()
    if state is None:
        return GatewayStatus(running=False, ready=False, state=None, problem="not running")
    if not instance_alive(state.active):
        return GatewayStatus(
            running=False,
            ready=False,
            state=state,
            problem=f"stale pid file: pid {state.active.pid} is not running; last log lines:\n"
            + log_tail(Path(state.active.log), 10),
        )
    running_front = front_of(state)
    if running_front is not None and not running_front.alive():
        return GatewayStatus(
            running=False, ready=False, state=state, problem=f"HAProxy (pid {running_front.state.pid}) is not running"
        )
    ready = readiness(state.host, state.port)
    return GatewayStatus(running=True, ready=ready, state=state, problem=None if ready else "not ready")
