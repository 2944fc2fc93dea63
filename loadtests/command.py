"""``aibackend loadtest``: a headless Locust run with exact LLM metrics, a report and gates.

Exit status: 0 passed, 1 a threshold or regression gate failed (or the target was unreachable,
or Locust failed), 2 bad usage (bad flag, unreadable or invalid thresholds/baseline file).
"""

from __future__ import annotations

import argparse
import socket
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from generator.errors import AibackendError, UsageError

if TYPE_CHECKING:
    from loadtests.campaigns import Plan

HELP = "load-test a gateway or provider with Locust: TTFT/TPOT/ITL/E2EL, throughput, goodput, gates"

__all__ = ["HELP", "add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_argument_group("target")
    target.add_argument("--host", help="server root URL, e.g. http://127.0.0.1:4000 (a trailing /v1 is fine)")
    target.add_argument("--model", help="model name sent in every request")
    target.add_argument("--api", choices=["openai", "ollama"], default="openai",
                        help="openai: /v1/chat/completions (SSE); ollama: native /api/chat (NDJSON)")
    target.add_argument("--endpoint", choices=["chat", "completions"], default="chat",
                        help="with --api openai: chat completions or legacy completions")
    target.add_argument("--api-key-env", default="LITELLM_MASTER_KEY", metavar="VAR",
                        help="environment variable holding the bearer key (never a command-line value)")
    load = parser.add_argument_group("load")
    load.add_argument("--users", type=int, help="closed loop: concurrent streams (default 8); with --rate: the "
                      "pool of users, i.e. the maximum concurrency (default 256)")
    load.add_argument("--rate", type=float, help="open loop: requests per second (coordinated-omission corrected)")
    load.add_argument("--arrival", choices=["constant", "poisson", "gamma"], default="poisson")
    load.add_argument("--burstiness", type=float, default=1.0, help="gamma shape (1 = Poisson, <1 burstier)")
    load.add_argument("--requests", type=int, help="total requests (default 100 unless --duration)")
    load.add_argument("--duration", type=float, metavar="S", help="run length in seconds")
    load.add_argument("--shape", choices=["smoke", "load", "stress", "spike", "soak"],
                      help="closed-loop load shape over --duration with --users at the peak")
    load.add_argument("--workers", type=int, default=0, help="Locust master + N worker processes (one per core)")
    load.add_argument("--warmup", type=int, default=0, help="first N requests left out of latency figures")
    load.add_argument("--timeout", type=float, default=120.0, help="per-request timeout in seconds")
    load.add_argument("--seed", type=int, default=0, help="seed of prompts and arrivals")
    load.add_argument("--client", choices=["raw", "fasthttp"], default="raw",
                      help="HTTP client of the users: raw sockets (default, measured faster) or geventhttpclient")
    work = parser.add_argument_group("workload")
    work.add_argument("--stream", action=argparse.BooleanOptionalAction, default=True, help="stream responses")
    work.add_argument("--prompt-tokens", type=int, default=32, help="synthetic prompt length in words")
    work.add_argument("--max-tokens", type=int, default=64, help="max_tokens per request")
    work.add_argument("--prompt-file", type=Path, help="JSON-lines prompts (e.g. fixtures/prompts/chat-short.jsonl)")
    gates = parser.add_argument_group("gates and output")
    gates.add_argument("--slo", default="", help="SLOs for goodput in ms, e.g. ttft=500,tpot=50")
    gates.add_argument("--thresholds", type=Path, metavar="FILE", help="YAML gate, e.g. 'p99_ttft_ms: {max: 500}'")
    gates.add_argument("--baseline", type=Path, metavar="FILE", help="earlier report JSON to compare against")
    gates.add_argument("--max-regression", default="10%", metavar="P", help="allowed regression vs --baseline")
    gates.add_argument("--report", type=Path, default=Path("loadtest-report.json"), metavar="FILE",
                       help="JSON report (CSV and HTML are written beside it); default loadtest-report.json")
    modes = parser.add_argument_group("campaigns")
    modes.add_argument("--sweep", action="store_true",
                       help="step the rate from one stream to saturation; report the knee and the best goodput")
    modes.add_argument("--sweep-steps", type=int, default=4, help="rates between 1 stream and saturation")
    modes.add_argument("--compare-direct", metavar="URL",
                       help="run the same workload straight at this provider and through --host; report the added latency")
    modes.add_argument("--direct-model", help="model name at the provider for --compare-direct (default: --model)")
    modes.add_argument("--compare", nargs="+", metavar="URL=MODEL", help="one workload against several servers, tabulated")


def run(args: argparse.Namespace) -> int:
    from loadtests import campaigns

    plan = _validate(args)
    return campaigns.execute(args, plan)


def _validate(args: argparse.Namespace) -> Plan:
    from loadtests.campaigns import Plan
    from loadtests.gate import GateConfigError, load_baseline, load_thresholds, parse_percent
    from loadtests.metrics import parse_slo
    from loadtests.prompts import PromptFileError, load_prompt_file
    from loadtests.report import known_figures

    targets: list[tuple[str, str]] = []
    if args.compare:
        for item in args.compare:
            url, sep, model = item.rpartition("=")
            if not sep or not url or not model:
                raise UsageError(f"--compare {item!r}: expected URL=MODEL, e.g. http://127.0.0.1:8000=qwen")
            targets.append((_check_url(url, "--compare"), model))
    else:
        if not args.host:
            raise UsageError("--host URL is required (the gateway or provider to load)")
        if not args.model:
            raise UsageError("--model NAME is required")
        targets.append((_check_url(args.host, "--host"), args.model))
    if args.compare_direct:
        _check_url(args.compare_direct, "--compare-direct")
    for name in ("users", "requests", "workers", "prompt_tokens", "max_tokens", "sweep_steps"):
        value = getattr(args, name)
        if value is not None and value < (0 if name == "workers" else 1):
            raise UsageError(f"--{name.replace('_', '-')} must be at least {0 if name == 'workers' else 1}, got {value}")
    for name in ("rate", "duration", "timeout", "burstiness"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise UsageError(f"--{name} must be greater than 0, got {value:g}")
    if args.rate and args.shape:
        raise UsageError("--shape is closed-loop (users); it cannot be combined with --rate")
    if args.shape and not args.duration:
        raise UsageError(f"--shape {args.shape} needs --duration S (the length of the shape)")
    if sum(bool(x) for x in (args.sweep, args.compare, args.compare_direct)) > 1:
        raise UsageError("--sweep, --compare and --compare-direct are separate campaigns: choose one")
    try:
        slo = parse_slo(args.slo)
        if args.thresholds:
            load_thresholds(args.thresholds, known_figures(slo))
        if args.baseline:
            load_baseline(args.baseline)
        parse_percent(args.max_regression)
    except (ValueError, GateConfigError) as exc:
        raise UsageError(str(exc)) from None
    if args.prompt_file:
        try:
            load_prompt_file(args.prompt_file)
        except PromptFileError as exc:
            raise UsageError(str(exc)) from None
    for url, _ in targets + ([(args.compare_direct, "")] if args.compare_direct else []):
        _check_reachable(url)
    return Plan(targets=targets, slo=slo)


def _check_url(url: str, flag: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{flag} {url!r}: expected an http:// or https:// URL, e.g. http://127.0.0.1:4000")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise UsageError(f"{flag} {url!r}: bad port") from None
    return url.rstrip("/")


def _check_reachable(url: str) -> None:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=5):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise AibackendError(f"cannot reach {url}: {reason}",
                             hint="is the server running? start a simulator with `aibackend simulate vllm`") from None
