"""Locust event wiring: options, per-process context, records to the master, report and gate.

Imported by ``loadtests/locustfile.py``. The same code path serves plain ``locust -f`` (web UI or
headless), ``aibackend loadtest`` (which runs Locust headless as a subprocess), and distributed
runs: workers ship their raw records to the master in ``report_to_master`` (every few seconds
and once more when they stop) and in an ``llm_done`` message when their share of the workload is
finished; the master merges them, and when every worker is done it ends the run. The report is
computed at ``quitting`` (after the workers' last reports arrived) and a failed gate sets
``environment.process_exit_code`` to 1.
"""

from __future__ import annotations

import gc
import json
import sys
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from loadtests import users
from loadtests.gate import (
    GateConfigError,
    GateResult,
    check_baseline,
    check_thresholds,
    load_baseline,
    parse_percent,
)
from loadtests.launcher import PREFIX
from loadtests.metrics import aggregate
from loadtests.report import build_report, write_outputs
from loadtests.runtime import RunContext
from loadtests.settings import LoadSettings, add_locust_arguments
from loadtests.timing import RequestRecord

__all__ = ["STATE"]

# The summary's and the LLM tab's rows and columns.
SUMMARY_METRICS = ("ttfb", "ttft", "tpot", "itl", "e2el")
SUMMARY_STATS = ("mean", "median", "p90", "p99")


class _MasterState:
    def __init__(self) -> None:
        self.records: list[RequestRecord] = []
        self.done_workers: set[str] = set()
        self.settings: LoadSettings | None = None
        self.reported = False


STATE = _MasterState()


def say(text: str) -> None:
    print(f"{PREFIX}{text}", file=sys.stderr, flush=True)


def _options(parser: Any) -> None:
    add_locust_arguments(parser)


def _settings(environment: Environment) -> LoadSettings:
    return LoadSettings.from_options(environment.parsed_options)


def _init(environment: Environment, **_: Any) -> None:
    # gevent timers count from the loop's cached clock, which is stale by however long Locust's
    # start-up took (seconds on a busy machine): without this, `-t 30s` fires at once.
    gevent.get_hub().loop.update_now()
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        runner.register_message("llm_done", _on_worker_done)
    if environment.web_ui is not None:
        _extend_web_ui(environment)


def _test_start(environment: Environment, **_: Any) -> None:
    settings = _settings(environment)
    STATE.settings = settings
    STATE.records = []
    STATE.done_workers = set()
    STATE.reported = False
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        gevent.spawn(_progress, environment)
        return
    index, count = 0, 1
    if isinstance(runner, WorkerRunner):
        index = max(0, runner.worker_index)
        count = int(getattr(environment.parsed_options, "expect_workers", 1) or 1)
    # A full garbage collection over tens of thousands of records stalls every stream for
    # milliseconds (the p99 of TTFT sees it): move start-up objects out of the collector's way
    # and collect the young generation rarely. Records hold no cycles, so little is deferred.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)
    ctx = RunContext(settings, worker_index=index, worker_count=count)
    ctx.on_finished = lambda: _on_local_finished(environment, ctx)
    users.CONTEXT["run"] = ctx
    if not isinstance(runner, WorkerRunner):
        gevent.spawn(_progress, environment)


def _on_local_finished(environment: Environment, ctx: RunContext) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        records = [r.to_dict() for r in ctx.take_pending()]
        runner.send_message("llm_done", {"records": records, "total": len(ctx.records)})
    elif runner is not None:
        gevent.spawn(_finish_run, environment)


def _finish_run(environment: Environment) -> None:
    runner = environment.runner
    assert runner is not None
    if getattr(environment.parsed_options, "headless", False) or getattr(environment.parsed_options, "autoquit", -1) != -1:
        runner.quit()
    else:
        runner.stop()


def _on_worker_done(environment: Environment, msg: Any, **_: Any) -> None:
    STATE.records.extend(RequestRecord.from_dict(d) for d in msg.data["records"])
    STATE.done_workers.add(msg.node_id)
    expected = int(getattr(environment.parsed_options, "expect_workers", 1) or 1)
    if len(STATE.done_workers) >= expected:
        gevent.spawn(_finish_run, environment)


def _report_to_master(client_id: str, data: dict[str, Any]) -> None:
    ctx = users.CONTEXT.get("run")
    if ctx is not None:
        data["llm_records"] = [r.to_dict() for r in ctx.take_pending()]


def _worker_report(client_id: str, data: dict[str, Any]) -> None:
    STATE.records.extend(RequestRecord.from_dict(d) for d in data.get("llm_records", ()))


def all_records() -> list[RequestRecord]:
    ctx = users.CONTEXT.get("run")
    if ctx is not None and not STATE.records:
        return list(ctx.records)
    return list(STATE.records)


def _progress(environment: Environment) -> None:
    settings = STATE.settings
    if settings is None or settings.progress <= 0:
        return
    last_count = 0
    while True:
        gevent.sleep(settings.progress)
        records = all_records()
        ok = [r for r in records if r.ok]
        failed = len(records) - len(ok)
        recent = ok[last_count:] if len(ok) >= last_count else ok
        last_count = len(ok)
        ttft = sorted((r.first_token_ns - r.sent_ns) / 1e6 for r in recent if r.first_token_ns is not None)
        med = f"{ttft[len(ttft) // 2]:.1f} ms" if ttft else "-"
        users_now = environment.runner.user_count if environment.runner else 0
        say(f"users {users_now}  completed {len(ok)}  failed {failed}  "
            f"+{len(recent) / settings.progress:.1f} req/s  TTFT median (last {settings.progress:g} s) {med}")


def _quitting(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner) or STATE.reported or STATE.settings is None:
        return
    STATE.reported = True
    settings = STATE.settings
    records = all_records()
    opts = environment.parsed_options
    run = {
        "host": environment.host,
        "model": settings.model,
        "api": settings.api,
        "stream": settings.stream,
        "users": getattr(opts, "num_users", None),
        "workers": int(getattr(opts, "expect_workers", 0) or 0) if isinstance(environment.runner, MasterRunner) else 0,
        "request_rate": settings.rate if settings.open_loop else "inf",
        "arrival": settings.arrival if settings.open_loop else "closed-loop",
        "burstiness": settings.burstiness,
        "max_concurrency": getattr(opts, "num_users", None),
        "seed": settings.seed,
        "prompt_tokens": settings.prompt_tokens,
        "max_tokens": settings.max_tokens,
        "requests": settings.requests,
        "warmup": settings.warmup,
    }
    if not records:
        say("no request was sent: no report")
        environment.process_exit_code = 1
        return
    report = build_report(records, run, open_loop=settings.open_loop, slo=settings.slo, warmup=settings.warmup)
    runner = environment.runner
    if runner is not None and (runner.cpu_warning_emitted or getattr(runner, "worker_cpu_warning_emitted", False)):
        report["warnings"].append(
            "a load-generator process ran above 90% CPU: its stamps include its own delays; "
            "add --workers (one per core) or lower the load")
    gate = GateResult()
    try:
        if settings.thresholds:
            gate = gate.merge(check_thresholds(report, settings.thresholds))
        if settings.baseline:
            base = load_baseline(settings.baseline)
            gate = gate.merge(check_baseline(report, base, parse_percent(settings.max_regression), settings.baseline.name))
    except GateConfigError as exc:
        say(f"error: {exc}")
        environment.process_exit_code = 2
        return
    report["gate"] = {"passed": gate.passed, "lines": gate.lines, "failures": gate.failures}
    if settings.report:
        paths = write_outputs(settings.report, report, records, open_loop=settings.open_loop)
        say("report: " + ", ".join(str(p) for p in paths))
    _print_summary(report)
    for line in gate.lines:
        say(line)
    environment.process_exit_code = 0 if gate.passed else 1


def _print_summary(report: dict[str, Any]) -> None:
    say(f"completed {report['completed']}  failed {report['failed']}  errors {json.dumps(report['errors'])}")
    say(f"steady-state window {report['duration']:.2f} s ({report['steady_state_window']['reason']})")
    say(f"request_throughput {report['request_throughput']:.2f} req/s  output_throughput "
        f"{report['output_throughput']:.1f} tok/s" + (f"  request_goodput {report['request_goodput']:.2f} req/s"
                                                        if "request_goodput" in report else ""))
    say(f"{'ms':6} " + " ".join(f"{s:>9}" for s in SUMMARY_STATS) + f"   (from {report['latency_origin']})")
    for m in SUMMARY_METRICS:
        say(f"{m.upper():6} " + " ".join(f"{report[f'{s}_{m}_ms']:9.2f}" for s in SUMMARY_STATS))
    for w in report.get("warnings", []):
        say(f"warning: {w}")


def _extend_web_ui(environment: Environment) -> None:
    """An 'LLM' tab next to Locust's charts (exact figures from the raw records) and /llm JSON."""
    from flask import Response, request

    web_ui = environment.web_ui
    assert web_ui is not None and web_ui.app is not None
    app = web_ui.app
    web_ui.template_args["extended_tabs"] = [{"title": "LLM metrics", "key": "llm"}]
    web_ui.template_args["extended_tables"] = [{
        "key": "llm",
        "structure": [{"key": "metric", "title": "Metric (ms)"},
                      *({"key": s, "title": s if s.startswith("p") else s.title()} for s in SUMMARY_STATS)],
    }]

    def figures() -> dict[str, Any]:
        records = all_records()
        settings = STATE.settings
        if not records or settings is None:
            return {}
        return aggregate(records, open_loop=settings.open_loop, slo=settings.slo or None).figures

    def rows(f: dict[str, Any]) -> list[dict[str, Any]]:
        out = [{"metric": m.upper(), **{s: round(f.get(f"{s}_{m}_ms", 0.0), 2) for s in SUMMARY_STATS}}
               for m in SUMMARY_METRICS]
        for key in ("request_throughput", "output_throughput", "request_goodput"):
            if key in f:
                out.append({"metric": f"{key} (/s)", **dict.fromkeys(SUMMARY_STATS, ""), "mean": round(f[key], 2)})
        return out

    def _llm_stats(response: Response) -> Response:
        if request.path != "/stats/requests" or not response.is_json:
            return response
        data = response.get_json()
        data["extended_stats"] = [{"key": "llm", "data": rows(figures())}]
        response.set_data(json.dumps(data))
        return response

    def _llm_json() -> Response:
        return Response(json.dumps(figures(), indent=2), mimetype="application/json")

    app.after_request(_llm_stats)
    app.add_url_rule("/llm", "llm_figures", _llm_json)


events.init_command_line_parser.add_listener(_options)  # type: ignore[no-untyped-call]
events.init.add_listener(_init)  # type: ignore[no-untyped-call]
events.test_start.add_listener(_test_start)  # type: ignore[no-untyped-call]
events.report_to_master.add_listener(_report_to_master)  # type: ignore[no-untyped-call]
events.worker_report.add_listener(_worker_report)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_quitting)  # type: ignore[no-untyped-call]
