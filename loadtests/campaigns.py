"""What ``aibackend loadtest`` runs: one run, a rate sweep, direct-vs-gateway, or several servers.

Every campaign runs the same seeded workload (same prompts, same arrival schedule) for each of
its runs, so differences come from the servers, not the workload.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from generator.errors import AibackendError
from loadtests.campaign_report import Run, compare_html, sweep_html, write_campaign_html
from loadtests.launcher import LocustRun, run_locust
from loadtests.metrics import format_slo
from loadtests.report import load_records, records_path, show
from loadtests.settings import CLOSED_LOOP_USERS, DEFAULT_REQUESTS, OPEN_LOOP_USERS, LoadSettings

__all__ = ["Plan", "execute"]

# --sweep: streams of the saturation run when --users is not given; users of its open-loop runs.
SWEEP_USERS = 64
SWEEP_MIN_POOL = 16


@dataclass
class Plan:
    targets: list[tuple[str, str]]  # (url, model)
    settings: LoadSettings  # from the flags, parsed once; each run changes what its campaign decides


def _say(text: str) -> None:
    print(text, flush=True)


def _locust_run(args: argparse.Namespace, plan: Plan, url: str, model: str, report: Path, *,
                rate: float | None = None, users: int | None = None, thresholds: bool = True) -> LocustRun:
    base = plan.settings
    rate = base.rate if rate is None else rate
    open_loop = rate > 0
    users = users or args.users or (OPEN_LOOP_USERS if open_loop else CLOSED_LOOP_USERS)
    defaults = LoadSettings()
    settings = replace(
        base, model=model, report=report, requests=base.requests or (0 if base.duration else DEFAULT_REQUESTS),
        # The arrival process is an open-loop setting: a closed-loop run keeps the defaults.
        rate=rate, arrival=base.arrival if open_loop else defaults.arrival,
        burstiness=base.burstiness if open_loop else defaults.burstiness,
        # Headless, nobody reads Locust's rounded rows; the extra events cost a quarter of the rate.
        ui_rows=False)
    if not thresholds:
        settings = replace(settings, thresholds=None, baseline=None)
    run_time = None
    if base.duration:
        # No new request after --duration (open loop: the schedule ends there); the run ends when
        # the last one is answered, so the drain is measured, not cut. Locust's -t is a safety net.
        run_time = base.duration + base.timeout + 30
    return LocustRun(host=url, users=users, spawn_rate=max(1.0, users * 10.0), settings=settings,
                     workers=args.workers, run_time=run_time, stop_timeout=base.timeout if not open_loop else 0.0)


def _one(args: argparse.Namespace, plan: Plan, url: str, model: str, report: Path,
         **kw: Any) -> tuple[int, dict[str, Any]]:
    code, data, log = run_locust(_locust_run(args, plan, url, model, report, **kw), echo=_say)
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
        return _sweep(args, plan, url, model, report)
    if args.compare_direct:
        return _compare_direct(args, plan, url, model, report)
    code, _ = _one(args, plan, url, model, report)
    return code


def _row(name: str, data: dict[str, Any]) -> str:
    def cell(key: str, width: int, fmt: str = "{:.2f}") -> str:
        return f"{show(data.get(key), fmt):>{width}}"

    return (f"{name:<34} {data['completed']:>6} {data['failed']:>5} {cell('request_throughput', 8)} "
            f"{cell('output_throughput', 8, '{:.1f}')} {cell('median_ttfb_ms', 8)} {cell('median_ttft_ms', 8)} "
            f"{cell('p99_ttft_ms', 8)} {cell('median_tpot_ms', 7)} {cell('median_e2el_ms', 8, '{:.1f}')}")


HEADER = (f"{'run':<34} {'done':>6} {'fail':>5} {'req/s':>8} {'tok/s':>8} {'TTFB p50':>8} {'TTFT p50':>8} "
          f"{'TTFT p99':>8} {'TPOT p50':>7} {'E2EL p50':>8}")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    from generator.atomicfile import write_atomic

    write_atomic(path, json.dumps(data, indent=2) + "\n", make_parents=True)


def _compare(args: argparse.Namespace, plan: Plan, report: Path) -> int:
    results = []
    worst = 0
    for i, (url, model) in enumerate(plan.targets):
        _say(f"== {i + 1}/{len(plan.targets)}: {url} model {model}")
        code, data = _one(args, plan, url, model, report.with_suffix(f".{i + 1}.json"))
        worst = max(worst, code)
        results.append({**{k: v for k, v in data.items() if not isinstance(v, dict | list)},
                        "url": url, "model": model, "report": str(report.with_suffix(f".{i + 1}.json"))})
    _say(HEADER)
    for r in results:
        _say(_row(f"{r['model']}@{r['url']}"[:34], r))
    summary = {"tool": "aibackend loadtest --compare", "runs": results}
    _write_json(report, summary)
    runs = [Run(f"{r['model']}@{r['url']}", Path(r["report"]), r) for r in results]
    page = write_campaign_html(report, compare_html("Comparison of servers", runs, summary, report))
    _say(f"comparison: {report}, {page}")
    return worst


def _compare_direct(args: argparse.Namespace, plan: Plan, url: str, model: str, report: Path) -> int:
    direct_path = report.with_suffix(".direct.json")
    _say(f"== direct: {args.compare_direct}")
    _, direct = _one(args, plan, args.compare_direct, args.direct_model or model, direct_path, thresholds=False)
    _say(f"== through the gateway: {url}")
    code, gateway = _one(args, plan, url, model, report)
    added: dict[str, float | None] = {}
    for m in ("ttfb", "ttft", "e2el"):
        for s in ("median", "p99"):
            key = f"{s}_{m}_ms"
            added[key] = None if gateway[key] is None or direct[key] is None else gateway[key] - direct[key]
    tokens, token_warning = compare_tokens(direct, gateway, direct_path, report)
    same = same_workload(direct_path, report)
    comparison = {
        "direct_url": args.compare_direct, "direct_report": str(direct_path), "added_ms": added,
        "request_throughput_ratio": _ratio(gateway["request_throughput"], direct["request_throughput"]),
        "output_throughput_ratio": _ratio(gateway["output_throughput"], direct["output_throughput"]),
        "token_counts": tokens, "same_prompts": same,
    }
    gateway["compare_direct"] = comparison
    if token_warning:
        gateway["warnings"].append(token_warning)
    if not same:
        gateway["warnings"].append("the two sides did not send the same prompts request for request (compare_direct.same_prompts)")
    _write_json(report, gateway)
    runs = [Run("direct", direct_path, direct), Run("through the gateway", report, gateway)]
    page = write_campaign_html(report.with_suffix(".compare-direct.json"),
                               compare_html("Direct vs through the gateway", runs,
                                            {**comparison, "warnings": [w for w in (token_warning,) if w]}, report))
    _say(HEADER)
    _say(_row("direct", direct))
    _say(_row("gateway", gateway))
    _say("gateway overhead (added ms): " + "  ".join(f"{k.removesuffix('_ms')} {show(v, '{:+.2f}')}" for k, v in added.items()))
    _say(f"throughput ratio gateway/direct: {show(comparison['request_throughput_ratio'], '{:.3f}')}")
    _say(f"output tokens: direct {direct['total_output_tokens']} ({direct['output_tokens_source']}), gateway "
         f"{gateway['total_output_tokens']} ({gateway['output_tokens_source']}; the gateway's usage says "
         f"{show(tokens['gateway_usage_output_tokens'])})")
    if token_warning:
        _say(f"warning: {token_warning}")
    _say(f"comparison: {report}, {page}")
    return code


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def compare_tokens(direct: dict[str, Any], gateway: dict[str, Any], direct_path: Path,
                   gateway_path: Path) -> tuple[dict[str, Any], str | None]:
    """Both sides' output token counts, request for request (the same seeded workload); a warning
    when the gateway's usage disagrees with the direct side's count."""
    d_records = {r.request_index: r for r in load_records(records_path(direct_path)) if r.ok}
    g_records = {r.request_index: r for r in load_records(records_path(gateway_path)) if r.ok}
    both = sorted(d_records.keys() & g_records.keys())
    usage_off = [i for i in both if g_records[i].output_tokens is not None
                 and g_records[i].output_tokens != d_records[i].output_count()[0]]
    gateway_usage = [n for n in (g_records[i].output_tokens for i in both) if n is not None]
    info = {
        "direct_output_tokens": direct["total_output_tokens"], "direct_source": direct["output_tokens_source"],
        "gateway_output_tokens": gateway["total_output_tokens"], "gateway_source": gateway["output_tokens_source"],
        "gateway_usage_output_tokens": sum(gateway_usage) if gateway_usage else None,
        "requests_compared": len(both), "requests_gateway_usage_differs": len(usage_off),
    }
    warning = None
    if usage_off:
        d_total = sum(d_records[i].output_count()[0] for i in usage_off)
        g_total = sum(g_records[i].output_tokens or 0 for i in usage_off)
        warning = (f"token counts disagree: for {len(usage_off)} of {len(both)} requests the gateway's usage says "
                   f"{g_total} output tokens where the direct side counted {d_total} "
                   f"({direct['output_tokens_source']}); the gateway estimates usage when the server sends none, "
                   f"so its figures use {gateway['output_tokens_source']}")
    return info, warning


def same_workload(direct_path: Path, gateway_path: Path) -> bool:
    """Whether both sides sent the same prompt for each request of the seeded workload."""
    d = {r.request_index: r.prompt_sha for r in load_records(records_path(direct_path))}
    g = {r.request_index: r.prompt_sha for r in load_records(records_path(gateway_path))}
    return all(d[i] == g[i] for i in d.keys() & g.keys())


def _sweep(args: argparse.Namespace, plan: Plan, url: str, model: str, report: Path) -> int:
    points: list[dict[str, Any]] = []

    def point(label: str, data: dict[str, Any], offered: float | None, path: Path) -> None:
        # the run's figures, then the point's own label, rate and report (a report has a "label" of its own: vLLM's)
        points.append({**{k: v for k, v in data.items() if not isinstance(v, dict | list)},
                       "label": label, "offered_rate": offered, "report": str(path)})
        _say(_row(label, data))

    _say("== sweep: one stream (synchronous)")
    _, sync = _one(args, plan, url, model, report.with_suffix(".sync.json"), users=1, rate=0.0, thresholds=False)
    point("synchronous (1 stream)", sync, None, report.with_suffix(".sync.json"))
    peak_users = args.users or SWEEP_USERS
    _say(f"== sweep: saturation ({peak_users} streams)")
    _, peak = _one(args, plan, url, model, report.with_suffix(".max.json"), users=peak_users, rate=0.0, thresholds=False)
    point(f"throughput ({peak_users} streams)", peak, None, report.with_suffix(".max.json"))
    low = sync.get("steady_state_request_throughput") or sync["request_throughput"]
    high = peak.get("steady_state_request_throughput") or peak["request_throughput"]
    if not low or not high:
        raise AibackendError("the sweep's first runs completed no request: no rate to step through "
                             f"(see {report.with_suffix('.sync.json')} and {report.with_suffix('.max.json')})")
    rates = [low + (high - low) * (i + 1) / (args.sweep_steps + 1) for i in range(args.sweep_steps)] + [high * 1.1]
    for i, rate in enumerate(rates):
        _say(f"== sweep: {rate:.2f} req/s")
        _, data = _one(args, plan, url, model, report.with_suffix(f".rate{i + 1}.json"), rate=rate,
                       users=max(peak_users, SWEEP_MIN_POOL), thresholds=False)
        point(f"rate {rate:.2f}/s", data, rate, report.with_suffix(f".rate{i + 1}.json"))
    base_ttft = sync["median_ttft_ms"]
    knee = None
    for p in points[2:]:
        # steady state: the sweep asks what a rate sustains, ramp-up and drain aside
        achieved = p.get("steady_state_request_throughput") or p["request_throughput"] or 0.0
        ttft = p["median_ttft_ms"]
        if achieved < 0.9 * p["offered_rate"] or ttft is None or (base_ttft is not None and ttft > 2 * base_ttft):
            knee = p["offered_rate"]
            break
    best = None
    slo = format_slo(plan.settings.slos)
    if slo:
        meeting = [p for p in points[2:] if (p.get("slo_attainment") or 0) >= 0.99]
        best = max((p["offered_rate"] for p in meeting), default=None)
    summary = {"tool": "aibackend loadtest --sweep", "points": points, "knee_rate": knee,
               "max_rate_meeting_slo": best, "slo": slo or None,
               "knee_rule": "first rate whose achieved throughput < 90% of offered or median TTFT > 2x synchronous"}
    _write_json(report, summary)
    page = write_campaign_html(report, sweep_html(summary, report))
    _say(HEADER)
    for p in points:
        _say(_row(p["label"], p))
    _say(f"knee: {knee if knee is None else f'{knee:.2f} req/s'}" + (
        f"; highest rate meeting SLOs ({slo}, >= 99% of requests): "
        f"{'none' if best is None else f'{best:.2f} req/s'}" if slo else ""))
    _say(f"sweep report: {report}, {page}")
    return 0
