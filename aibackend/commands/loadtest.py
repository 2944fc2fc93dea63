"""``aibackend loadtest``: a headless Locust run with exact LLM metrics, a report and gates.

Exit status: 0 passed, 1 a threshold or regression gate failed (or the target was unreachable,
or Locust failed), 2 bad usage (bad flag, unreadable or invalid thresholds/baseline file).
"""

from __future__ import annotations

import argparse
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from generator.errors import AibackendError, UsageError

if TYPE_CHECKING:
    from loadtests.campaigns import Plan

HELP = "load-test a gateway or provider with Locust: TTFT/TPOT/ITL/E2EL, throughput, goodput, gates"

__all__ = ["HELP", "add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from loadtests.settings import add_cli_arguments  # the option table (light: no Locust, no gevent)

    add_cli_arguments(parser)
    from aibackend.results.options import add_store_arguments

    add_store_arguments(parser, target_name=True)


def run(args: argparse.Namespace) -> int:
    from aibackend.extras import require

    require("locust")  # before the flags are checked: without Locust nothing below can run
    from loadtests import campaigns

    plan = _validate(args)
    from aibackend.results.options import Recorder

    recorder = Recorder(args)  # a --store that is not a store fails here, before the load
    code = campaigns.execute(args, plan)
    extra = {"duration": args.duration} if args.duration else {}
    return max(code, recorder.record_loadtest(args.report, target_name=args.target_name, extra_workload=extra))


def _validate(args: argparse.Namespace) -> Plan:
    from loadtests.campaigns import Plan
    from loadtests.dataset import DatasetError
    from loadtests.gate import GateConfigError, load_baseline, load_thresholds, parse_percent
    from loadtests.prompts import PromptFileError, PromptSource
    from loadtests.report import known_figures
    from loadtests.settings import LoadSettings, cli_problem
    from loadtests.tokenizer import TokenizerError

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
    problem = cli_problem(args)  # each number against the range its option declares
    if problem:
        raise UsageError(problem)
    if args.rate and args.shape:
        raise UsageError("--shape is closed-loop (users); it cannot be combined with --rate")
    if args.shape and not args.duration:
        raise UsageError(f"--shape {args.shape} needs --duration S (the length of the shape)")
    if sum(bool(x) for x in (args.sweep, args.compare, args.compare_direct)) > 1:
        raise UsageError("--sweep, --compare and --compare-direct are separate campaigns: choose one")
    try:
        settings = LoadSettings.from_cli(args)  # parses --slo, --goodput, --extra-body..., once
        slos = settings.slos
        if settings.thresholds:
            load_thresholds(settings.thresholds, known_figures(slos, open_loop=settings.open_loop,
                                                               percentiles=settings.metric_percentiles))
        if settings.baseline:
            load_baseline(settings.baseline)
        parse_percent(settings.max_regression)
    except (ValueError, GateConfigError) as exc:
        raise UsageError(str(exc)) from None
    if sum(bool(x) for x in (settings.prompt_file, settings.dataset)) > 1:
        raise UsageError("--prompt-file and --dataset are two workloads: choose one")
    try:
        # The workload as each Locust process will build it: a bad file is found here, before anything is sent.
        prompts = PromptSource(prompt_tokens=settings.prompt_tokens, max_tokens=settings.max_tokens, seed=settings.seed,
                               prompt_file=settings.prompt_file, dataset=settings.dataset, tokenizer=settings.tokenizer)
        prompts.get(0)
    except (PromptFileError, DatasetError, TokenizerError) as exc:
        raise UsageError(str(exc)) from None
    for url, _ in targets + ([(args.compare_direct, "")] if args.compare_direct else []):
        _check_reachable(url)
    return Plan(targets=targets, settings=settings)


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
