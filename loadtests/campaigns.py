"""What ``aibackend loadtest`` runs: one run, a rate sweep, direct-vs-gateway, or several servers.

Every campaign runs the same seeded workload (same prompts, same arrival schedule) for each of
its runs, so differences come from the servers, not the workload.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import AibackendError
from loadtests.launcher import LocustRun, run_locust

__all__ = ["Plan", "execute"]

API = {("openai", "chat"): "openai-chat", ("openai", "completions"): "openai-completions"}


@dataclass
class Plan:
    targets: list[tuple[str, str]]  # (url, model)
    slo: dict[str, float]


def _say(text: str) -> None:
    print(text, flush=True)


def _locust_run(args: argparse.Namespace, url: str, model: str, report: Path, *, rate: float | None = None,
                users: int | None = None, thresholds: bool = True) -> LocustRun:
    rate = args.rate if rate is None else rate
    open_loop = bool(rate)
    requests = args.requests if args.requests else (None if args.duration else 100)
    users = users or args.users or (256 if open_loop else 8)
    api = "ollama-chat" if args.api == "ollama" else API[(args.api, args.endpoint)]
    opts = [
        "--llm-model", model, "--llm-api", api, "--llm-stream", "true" if args.stream else "false",
        "--llm-prompt-tokens", str(args.prompt_tokens), "--llm-max-tokens", str(args.max_tokens),
        "--llm-seed", str(args.seed), "--llm-warmup", str(args.warmup), "--llm-timeout", f"{args.timeout:g}",
        "--llm-api-key-env", args.api_key_env, "--llm-max-regression", args.max_regression,
        # Headless, nobody reads Locust's rounded rows; the extra events cost a quarter of the rate.
        "--llm-ui-rows", "false", "--llm-client", args.client,
    ]
    if requests:
        opts += ["--llm-requests", str(requests)]
    if args.prompt_file:
        opts += ["--llm-prompt-file", str(args.prompt_file)]
    if args.slo:
        opts += ["--llm-slo", args.slo]
    if thresholds and args.thresholds:
        opts += ["--llm-thresholds", str(args.thresholds)]
    if thresholds and args.baseline:
        opts += ["--llm-baseline", str(args.baseline)]
    if args.shape:
        opts += ["--llm-shape", args.shape]
    run_time = None
    if open_loop:
        opts += ["--llm-rate", f"{rate:g}", "--llm-arrival", args.arrival, "--llm-burstiness", f"{args.burstiness:g}"]
    if args.duration:
        # No new request after --duration (open loop: the schedule ends there); the run ends when
        # the last one is answered, so the drain is measured, not cut. Locust's -t is a safety net.
        opts += ["--llm-duration", f"{args.duration:g}"]
        run_time = args.duration + args.timeout + 30
    return LocustRun(host=url, users=users, spawn_rate=max(1.0, users * 10.0), options=opts, report=report,
                     workers=args.workers, run_time=run_time, stop_timeout=args.timeout if not open_loop else 0.0)


def _one(args: argparse.Namespace, url: str, model: str, report: Path, **kw: Any) -> tuple[int, dict[str, Any]]:
    code, data, log = run_locust(_locust_run(args, url, model, report, **kw), echo=_say)
    if data is None or code not in (0, 1):
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:])
        raise AibackendError(f"the Locust run against {url} failed (exit {code}); last lines of {log}:\n{tail}")
    return code, data


def execute(args: argparse.Namespace, plan: Plan) -> int:
    report: Path = args.report
    if args.compare:
        return _compare(args, plan, report)
    url, model = plan.targets[0]
    if args.sweep:
        return _sweep(args, url, model, report)
    if args.compare_direct:
        return _compare_direct(args, url, model, report)
    code, _ = _one(args, url, model, report)
    return code


def _row(name: str, data: dict[str, Any]) -> str:
    return (f"{name:<34} {data['completed']:>6} {data['failed']:>5} {data['request_throughput']:>8.2f} "
            f"{data['output_throughput']:>8.1f} {data['median_ttfb_ms']:>8.2f} {data['median_ttft_ms']:>8.2f} "
            f"{data['p99_ttft_ms']:>8.2f} {data['median_tpot_ms']:>7.2f} {data['median_e2el_ms']:>8.1f}")


HEADER = (f"{'run':<34} {'done':>6} {'fail':>5} {'req/s':>8} {'tok/s':>8} {'TTFB p50':>8} {'TTFT p50':>8} "
          f"{'TTFT p99':>8} {'TPOT p50':>7} {'E2EL p50':>8}")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    from loadtests.report import _atomic_write

    _atomic_write(path, json.dumps(data, indent=2) + "\n")


def _compare(args: argparse.Namespace, plan: Plan, report: Path) -> int:
    results = []
    worst = 0
    for i, (url, model) in enumerate(plan.targets):
        _say(f"== {i + 1}/{len(plan.targets)}: {url} model {model}")
        code, data = _one(args, url, model, report.with_suffix(f".{i + 1}.json"))
        worst = max(worst, code)
        results.append({"url": url, "model": model, "report": str(report.with_suffix(f".{i + 1}.json")), **{
            k: v for k, v in data.items() if not isinstance(v, dict | list)}})
    _say(HEADER)
    for r in results:
        _say(_row(f"{r['model']}@{r['url']}"[:34], r))
    _write_json(report, {"tool": "aibackend loadtest --compare", "runs": results})
    _say(f"comparison: {report}")
    return worst


def _compare_direct(args: argparse.Namespace, url: str, model: str, report: Path) -> int:
    _say(f"== direct: {args.compare_direct}")
    _, direct = _one(args, args.compare_direct, args.direct_model or model, report.with_suffix(".direct.json"),
                     thresholds=False)
    _say(f"== through the gateway: {url}")
    code, gateway = _one(args, url, model, report)
    added: dict[str, float] = {}
    for m in ("ttfb", "ttft", "e2el"):
        for s in ("median", "p99"):
            key = f"{s}_{m}_ms"
            added[key] = gateway[key] - direct[key]
    ratio = gateway["request_throughput"] / direct["request_throughput"] if direct["request_throughput"] else math.nan
    gateway["compare_direct"] = {"direct_url": args.compare_direct, "direct_report": str(report.with_suffix(".direct.json")),
                                 "added_ms": added, "request_throughput_ratio": ratio,
                                 "output_throughput_ratio": gateway["output_throughput"] / direct["output_throughput"]
                                 if direct["output_throughput"] else math.nan}
    _write_json(report, gateway)
    _say(HEADER)
    _say(_row("direct", direct))
    _say(_row("gateway", gateway))
    _say("gateway overhead (added ms): " + "  ".join(f"{k.removesuffix('_ms')} {v:+.2f}" for k, v in added.items()))
    _say(f"throughput ratio gateway/direct: {ratio:.3f}")
    return code


def _sweep(args: argparse.Namespace, url: str, model: str, report: Path) -> int:
    points: list[dict[str, Any]] = []

    def point(label: str, data: dict[str, Any], offered: float | None) -> None:
        points.append({"label": label, "offered_rate": offered, **{k: v for k, v in data.items()
                                                                   if not isinstance(v, dict | list)}})
        _say(_row(label, data))

    _say("== sweep: one stream (synchronous)")
    _, sync = _one(args, url, model, report.with_suffix(".sync.json"), users=1, rate=0.0, thresholds=False)
    point("synchronous (1 stream)", sync, None)
    peak_users = args.users or 64
    _say(f"== sweep: saturation ({peak_users} streams)")
    _, peak = _one(args, url, model, report.with_suffix(".max.json"), users=peak_users, rate=0.0, thresholds=False)
    point(f"throughput ({peak_users} streams)", peak, None)
    low, high = sync["request_throughput"], peak["request_throughput"]
    rates = [low + (high - low) * (i + 1) / (args.sweep_steps + 1) for i in range(args.sweep_steps)] + [high * 1.1]
    for i, rate in enumerate(rates):
        _say(f"== sweep: {rate:.2f} req/s")
        _, data = _one(args, url, model, report.with_suffix(f".rate{i + 1}.json"), rate=rate,
                       users=max(peak_users, 16), thresholds=False)
        point(f"rate {rate:.2f}/s", data, rate)
    base_ttft = sync["median_ttft_ms"]
    knee = None
    for p in points[2:]:
        if p["request_throughput"] < 0.9 * p["offered_rate"] or p["median_ttft_ms"] > 2 * base_ttft:
            knee = p["offered_rate"]
            break
    best = None
    if args.slo:
        meeting = [p for p in points[2:] if p.get("slo_attainment", 0) >= 0.99]
        best = max((p["offered_rate"] for p in meeting), default=None)
    summary = {"tool": "aibackend loadtest --sweep", "points": points, "knee_rate": knee,
               "max_rate_meeting_slo": best, "slo": args.slo or None,
               "knee_rule": "first rate whose achieved throughput < 90% of offered or median TTFT > 2x synchronous"}
    _write_json(report, summary)
    _say(HEADER)
    for p in points:
        _say(_row(p["label"], p))
    _say(f"knee: {knee if knee is None else f'{knee:.2f} req/s'}" + (
        f"; highest rate meeting SLOs ({args.slo}, >= 99% of requests): "
        f"{'none' if best is None else f'{best:.2f} req/s'}" if args.slo else ""))
    _say(f"sweep report: {report}")
    return 0
