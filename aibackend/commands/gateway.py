"""``aibackend gateway start|stop|status``."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from aibackend.commands._options import add_output_option, add_ready_timeout_option

HELP = "run the real LiteLLM proxy on the generated config: start, stop, status"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["start", "stop", "status"], help="what to do")
    add_output_option(parser, "the generated config to serve")
    parser.add_argument(
        "--front",
        choices=["auto", "haproxy", "none"],
        default="auto",
        help="put HAProxy on the public port so reloads drop nothing (auto: when installed)",
    )
    parser.add_argument("--json", action="store_true", help="status as one JSON object")
    add_ready_timeout_option(parser)


def run(args: argparse.Namespace) -> int:
    from aibackend.extras import require
    from aibackend.gateway import control as gateway
    from aibackend.gateway.reload import recover
    from aibackend.gateway.runtime import RuntimeDir
    from aibackend.ops.interrupts import terminate_as_interrupt
    from generator.store import output_path

    if args.action == "start":
        require("litellm")
    run_dir = RuntimeDir(args.config_dir)
    if args.action == "status":
        note = None
        if run_dir.journal_file.exists():
            from generator.errors import GatewayError

            try:
                with run_dir.lock():
                    note = recover(run_dir)
            except GatewayError as exc:  # a reload holds the lock: report, do not interfere
                note = exc.message
        return _print_status(gateway.status(run_dir), note, as_json=args.json)
    with run_dir.lock(), terminate_as_interrupt():  # a start cut short stops what it started
        note = recover(run_dir)
        if note:
            print(f"note: {note}", file=sys.stderr)
        if args.action == "start":
            from aibackend.gateway.settings import plan_for

            config_file = output_path(args.config_dir, args.output)
            plan = replace(plan_for(args.config_dir), ready_timeout=args.ready_timeout)
            _warn_if_stale(config_file, plan.config_text)
            _warn_if_state_redis_down(plan.state_redis, plan.replicas * plan.workers)
            state = gateway.start(run_dir, plan, config_file=config_file, front=args.front)
            front = "HAProxy front" if state.front else "no front (reloads restart it)"
            if len(state.replicas) == 1:
                print(
                    f"gateway ready at http://{state.host}:{state.port} (pid {state.active.pid}, {front}); "
                    f"log: {state.active.log}"
                )
            else:
                print(f"gateway ready at http://{state.host}:{state.port} ({len(state.replicas)} replicas, {front})")
                for replica in state.replicas:
                    print(f"  {replica.server}: pid {replica.pid} on 127.0.0.1:{replica.port}; log: {replica.log}")
            return 0
        state = gateway.stop(run_dir)
        print(f"gateway stopped (pid {state.active.pid}, http://{state.host}:{state.port})")
        return 0


def _warn_if_state_redis_down(redis: tuple[str, int] | None, processes: int) -> None:
    from generator.net import port_is_open

    if redis is not None and not port_is_open(redis[0], redis[1]):
        print(
            f"note: Redis at {redis[0]}:{redis[1]} (cache.host/cache.port in gateway.yaml), where the "
            f"{processes} LiteLLM processes share cooldowns, rate-limit counters and the cache, does not "
            "answer: until it does, each process counts and cools down on its own.",
            file=sys.stderr,
        )


def _warn_if_stale(config_file: Path, generated: str) -> None:
    from generator.render import comparable

    try:
        on_disk = config_file.read_text(encoding="utf-8")
    except OSError:
        return  # gateway.start says the file is missing
    if comparable(on_disk) != comparable(generated):
        print(
            f"note: {config_file} differs from what the sources generate (rolled back, hand-edited or not "
            "regenerated); serving it as it is. 'aibackend reload' serves the sources.",
            file=sys.stderr,
        )


def _print_status(status: object, note: str | None, *, as_json: bool) -> int:
    from aibackend.gateway.control import GatewayStatus
    from aibackend.gateway.front import plain_status

    assert isinstance(status, GatewayStatus)
    if as_json:
        data = status.to_json()
        data["recovered"] = note
        print(json.dumps(data, indent=2))
        return 0 if status.running else 1
    if note:
        print(f"note: {note}")
    state = status.state
    if state is None:
        print("gateway: not running")
        return 1
    if not status.running:
        print(f"gateway: NOT running ({status.problem})")
        return 1
    front = "HAProxy front" if state.front else "no front"
    readiness = "ready" if status.ready else "NOT ready"
    if len(state.replicas) == 1:
        print(
            f"gateway: running, {readiness} at http://{state.host}:{state.port} "
            f"(pid {state.active.pid} on port {state.active.port}, slot {state.active.slot}, {front})\n"
            f"  config: {state.active.config}\n  log: {state.active.log}"
        )
    else:
        print(
            f"gateway: running, {readiness} at http://{state.host}:{state.port} "
            f"({len(state.replicas)} replicas, slot {state.active.slot}, {front})\n  config: {state.active.config}"
        )
        for replica in status.replicas:
            health = "running" if replica.alive else "NOT running"
            ready = "ready" if replica.ready else "NOT ready"
            seen = f", HAProxy: {plain_status(replica.front_view)}" if replica.front_view else ""
            print(
                f"  {replica.instance.server}: {health}, {ready} (pid {replica.instance.pid} on port "
                f"{replica.instance.port}{seen}); log: {replica.instance.log}"
            )
    if status.problem:
        print(f"  problem: {status.problem}")
    return 0
