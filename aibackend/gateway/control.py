"""``aibackend gateway start|stop|status``: run the real LiteLLM proxy on the generated config.

With HAProxy installed (the default ``--front auto``), HAProxy owns the public address from
gateway.yaml and ``server.replicas`` LiteLLM processes listen on private ports behind it, balanced
and health-checked, so that ``aibackend reload`` can swap them for a new generation without
closing the public port (see ``aibackend.gateway.front``). Without it (``--front none``, one
replica only), LiteLLM binds the public address itself and a reload means a brief restart.

LiteLLM replicas run from a snapshot of the generated file (``.run/live-<slot>.yaml``): what
the gateway serves never changes under it when someone runs ``generate``, and the snapshot is
the record of what is live.
"""

from __future__ import annotations

import shutil
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aibackend.gateway.front import Front, haproxy_available
from aibackend.gateway.process import (
    log_tail,
    master_key_from_env,
    readiness,
    ready_timeout_for,
    start_litellm,
)
from aibackend.gateway.runtime import (
    FIRST_SLOT,
    GatewayState,
    Instance,
    RuntimeDir,
    pid_matches,
    processes_named_in,
    stop_process_group,
)
from aibackend.gateway.settings import GatewayPlan
from generator.errors import GatewayError
from generator.net import free_port, port_is_open

__all__ = [
    "FrontMode",
    "GatewayStatus",
    "instance_alive",
    "launch_generation",
    "launch_instance",
    "start",
    "status",
    "stop",
    "stop_leftovers",
]

FrontMode = Literal["auto", "haproxy", "none"]


def instance_alive(instance: Instance) -> bool:
    return pid_matches(instance.pid, "litellm", f"--port {instance.port}")


def front_of(state: GatewayState) -> Front | None:
    return Front(state.front) if state.front else None


def launch_instance(
    run: RuntimeDir, plan: GatewayPlan, *, config_file: Path, slot: str, host: str, port: int, key: str, index: int = 0
) -> Instance:
    """Snapshot ``config_file`` for ``slot`` and start one LiteLLM on it (waits for readiness)."""
    run.ensure()
    snapshot = run.snapshot(slot)
    shutil.copyfile(config_file, snapshot)
    return _start_replica(run, plan, snapshot=snapshot, slot=slot, index=index, host=host, port=port, key=key)


def _start_replica(
    run: RuntimeDir,
    plan: GatewayPlan,
    *,
    snapshot: Path,
    slot: str,
    index: int,
    host: str,
    port: int,
    key: str,
    cancel: threading.Event | None = None,
) -> Instance:
    instance = start_litellm(
        config=snapshot,
        host=host,
        port=port,
        workers=plan.workers,
        slot=slot,
        log=run.log_file(slot, index),
        key_env=plan.master_key_env,
        key=key,
        ready_timeout=plan.ready_timeout or ready_timeout_for(snapshot.read_text(encoding="utf-8", errors="replace")),
        cancel=cancel,
    )
    return Instance(slot=slot, pid=instance.pid, port=port, config=instance.config, log=instance.log, index=index)


def launch_generation(
    run: RuntimeDir, plan: GatewayPlan, *, config_file: Path, slot: str, ports: list[int], key: str
) -> tuple[Instance, ...]:
    """``len(ports)`` replicas of one config on private ports, started at once; all ready or none left."""
    run.ensure()
    snapshot = run.snapshot(slot)
    shutil.copyfile(config_file, snapshot)
    cancel = threading.Event()
    outcomes: list[Instance | BaseException] = []
    with ThreadPoolExecutor(max_workers=len(ports), thread_name_prefix=f"start-{slot}") as pool:
        futures = [
            pool.submit(
                _start_replica,
                run,
                plan,
                snapshot=snapshot,
                slot=slot,
                index=i,
                host="127.0.0.1",
                port=port,
                key=key,
                cancel=cancel,
            )
            for i, port in enumerate(ports)
        ]
        try:
            for future in futures:
                try:
                    outcomes.append(future.result())
                except Exception as exc:  # the others are stopped below, then the first failure raised
                    outcomes.append(exc)
        except BaseException:
            # Ctrl-C or SIGTERM reach this thread only: the starting replicas stop now (not when ready,
            # up to minutes later), and the ones already up are stopped before the interrupt goes on.
            cancel.set()
            wait(futures)
            for future in futures:
                if future.exception() is None:
                    stop_process_group(future.result().pid)
            raise
    started = tuple(o for o in outcomes if isinstance(o, Instance))
    failures = [o for o in outcomes if not isinstance(o, Instance)]
    if failures:
        for instance in started:
            stop_process_group(instance.pid)
        raise failures[0]
    return started


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
    if existing is not None and any(instance_alive(r) for r in existing.replicas):
        raise GatewayError(
            f"the gateway is already running: pid {existing.active.pid}, http://{existing.host}:{existing.port}",
            hint="use 'aibackend reload' to apply a new config, or 'aibackend gateway stop' first",
        )
    stopped = stop_leftovers(run, existing)
    if existing is not None:
        run.clear_state()
        print(f"note: removed stale gateway state (pid {existing.active.pid} was not running)", file=sys.stderr)
    if stopped:
        print(f"note: stopped {stopped} leftover process(es) of an earlier gateway named in {run.path}", file=sys.stderr)
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
        if plan.replicas > 1:
            raise GatewayError(
                f"server.replicas: {plan.replicas} needs the HAProxy front (--front none, or haproxy is not installed)",
                hint="install haproxy (make setup) and use --front auto, or set server.replicas: 1",
            )
        instance = launch_instance(run, plan, config_file=config_file, slot=FIRST_SLOT, host=plan.host, port=public_port, key=key)
        state = GatewayState(host=plan.host, port=public_port, replicas=(instance,))
        run.write_state(state)
        return state
    replicas = launch_generation(
        run, plan, config_file=config_file, slot=FIRST_SLOT, ports=[free_port() for _ in range(plan.replicas)], key=key
    )
    try:
        running_front = Front.start(run, host=plan.host, port=public_port, replicas=replicas)
    except BaseException:
        for replica in replicas:
            stop_process_group(replica.pid)
        raise
    state = GatewayState(host=plan.host, port=public_port, replicas=replicas, front=running_front.state)
    run.write_state(state)
    return state


def _probe_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def stop_leftovers(run: RuntimeDir, state: GatewayState | None) -> int:
    """Stop what the run directory names: the state's replicas and front, then any LiteLLM/HAProxy on
    a file in it that the state does not name (a command killed before it wrote the state); the count."""
    count = 0
    if state is not None:
        for replica in state.replicas:
            if instance_alive(replica):
                stop_process_group(replica.pid)
                count += 1
        running_front = front_of(state)
        if running_front is not None:
            if running_front.alive():
                count += 1
            running_front.stop()
    for pid in processes_named_in(run.path, "litellm", "haproxy"):
        stop_process_group(pid)
        count += 1
    return count


def stop(run: RuntimeDir) -> GatewayState:
    """Stop the front and every replica; GatewayError when nothing was running."""
    state = run.read_state()
    if state is None:
        stopped = stop_leftovers(run, None)
        raise GatewayError(
            f"the gateway is not running (no state in {run.path})"
            + (f"; stopped {stopped} leftover process(es) named there" if stopped else ""),
            hint="start it with 'aibackend gateway start'",
        )
    was_alive = any(instance_alive(r) for r in state.replicas)
    stop_leftovers(run, state)
    run.clear_state()
    if not was_alive:
        raise GatewayError(
            f"the gateway was not running: pid {state.active.pid} from {run.pid_file} is gone "
            "(crashed or killed); removed the stale pid file",
            hint=f"its last log lines may say why: {state.active.log}",
        )
    return state


@dataclass(frozen=True)
class ReplicaStatus:
    instance: Instance
    alive: bool
    ready: bool
    front_view: str | None  # HAProxy's health of it (UP, DOWN, ...), None without a front

    def to_json(self) -> dict[str, object]:
        return {
            "server": self.instance.server,
            "pid": self.instance.pid,
            "port": self.instance.port,
            "alive": self.alive,
            "ready": self.ready,
            "front": self.front_view,
            "log": self.instance.log,
        }


@dataclass(frozen=True)
class GatewayStatus:
    running: bool
    ready: bool
    state: GatewayState | None
    problem: str | None
    replicas: tuple[ReplicaStatus, ...] = ()

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
            "replicas": [replica.to_json() for replica in self.replicas],
            "problem": self.problem,
        }


def _replica_statuses(state: GatewayState, front_health: dict[str, str]) -> tuple[ReplicaStatus, ...]:
    statuses = []
    for replica in state.replicas:
        alive = instance_alive(replica)
        statuses.append(ReplicaStatus(
            instance=replica,
            alive=alive,
            ready=alive and readiness("127.0.0.1", replica.port),
            front_view=front_health.get(replica.server) if state.front else None,
        ))
    return tuple(statuses)


def status(run: RuntimeDir) -> GatewayStatus:
    state = run.read_state()
    if state is None:
        return GatewayStatus(running=False, ready=False, state=None, problem="not running")
    running_front = front_of(state)
    front_health: dict[str, str] = {}
    if running_front is not None and running_front.alive():
        try:
            front_health = running_front.health()
        except (OSError, GatewayError):
            front_health = {}
    replicas = _replica_statuses(state, front_health)
    if not any(r.alive for r in replicas):
        return GatewayStatus(
            running=False,
            ready=False,
            state=state,
            problem=f"stale pid file: pid {state.active.pid} is not running; last log lines:\n"
            + log_tail(Path(state.active.log), 10),
            replicas=replicas,
        )
    if running_front is not None and not running_front.alive():
        return GatewayStatus(
            running=False, ready=False, state=state, problem=f"HAProxy (pid {running_front.state.pid}) is not running",
            replicas=replicas,
        )
    ready = readiness(state.host, state.port)
    dead = [r for r in replicas if not r.alive]
    problem = None if ready else "not ready"
    if dead:
        problem = "; ".join(f"replica {r.instance.server} (pid {r.instance.pid}) is not running" for r in dead)
    return GatewayStatus(running=True, ready=ready, state=state, problem=problem, replicas=replicas)
