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
import os
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from generator.stats import DEFAULT_PERCENTILES, percentile, percentile_key
from loadtests import users
from loadtests.gate import (
    GateConfigError,
    GateResult,
    baseline_diff,
    check_baseline,
    check_thresholds,
    load_baseline,
    parse_percent,
)
from loadtests.launcher import PREFIX
from loadtests.metrics import aggregate, per_request
from loadtests.report import build_report, show, stat_names, write_outputs
from loadtests.runtime import RunContext
from loadtests.settings import LoadSettings, add_locust_arguments
from loadtests.timing import RequestRecord

__all__ = ["STATE"]

# The summary's and the LLM tab's rows and columns (the percentiles: the report's own set).
SUMMARY_METRICS = ("ttfb", "ttft", "tpot", "itl", "e2el")
GATEWAY_ROWS = {"gateway_overhead": "GW OVH", "upstream_ttft": "UPSTR"}
STAT_COLUMNS = ("mean",)  # then the percentiles (p50 is the median)
HISTORY_BUCKET_S = 2.0
WEBUI_SCRIPT = Path(__file__).resolve().parent / "webui" / "llm_tab.js"


class _MasterState:
    def __init__(self) -> None:
        self.records: list[RequestRecord] = []
        self.done_workers: set[str] = set()
        self.settings: LoadSettings | None = None
        self.reported = False
        self.history_cache: tuple[int, dict[str, Any]] = (-1, {})


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
    STATE.history_cache = (-1, {})
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


def run_info(environment: Environment, settings: LoadSettings) -> dict[str, Any]:
    """The run's settings as the report keeps them under ``run``."""
    opts = environment.parsed_options
    return {
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
        "prompt_tokens_unit": "tokens" if settings.tokenizer else "words",
        "max_tokens": settings.max_tokens,
        "requests": settings.requests,
        "warmup": settings.warmup,
        "tokenizer": str(settings.tokenizer) if settings.tokenizer else None,
        "dataset": str(settings.dataset) if settings.dataset else None,
        "prompt_file": str(settings.prompt_file) if settings.prompt_file else None,
        "ignore_eos": settings.ignore_eos,
        "extra_body": settings.extra_body,
        "metric_percentiles": list(settings.metric_percentiles),
        # How busy the load generator's machine was (a loaded machine delays every stamp and every server on it).
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "cpus": os.cpu_count(),
    }


def _quitting(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner) or STATE.reported or STATE.settings is None:
        return
    STATE.reported = True
    _final_locust_csv(environment)
    settings = STATE.settings
    records = all_records()
    if not records:
        say("no request was sent: no report")
        environment.process_exit_code = 1
        return
    try:
        slos = settings.slos
    except ValueError as exc:
        say(f"error: {exc}")
        environment.process_exit_code = 2
        return
    report = build_report(records, run_info(environment, settings), open_loop=settings.open_loop, slo=slos,
                          warmup=settings.warmup, percentiles=settings.metric_percentiles)
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
            report["baseline"] = {"file": str(settings.baseline), "max_regression": settings.max_regression,
                                  "figures": baseline_diff(report, base)}
    except GateConfigError as exc:
        say(f"error: {exc}")
        environment.process_exit_code = 2
        return
    report["gate"] = {"passed": gate.passed, "lines": gate.lines, "failures": gate.failures}
    if settings.report:
        paths = write_outputs(settings.report, report, records, warmup=settings.warmup)
        say("report: " + ", ".join(str(p) for p in paths))
    _print_summary(report)
    for line in gate.lines:
        say(line)
    if report["completed"] == 0:
        say(f"error: no request completed ({report['failed']} failed: "
            + ", ".join(f"{k} {v}" for k, v in report["errors"].items() if v)
            + "): no latency could be measured; see the errors above and the report's CSV")
        environment.process_exit_code = 1
        return
    environment.process_exit_code = 0 if gate.passed else 1


def _final_locust_csv(environment: Environment) -> None:
    """Locust's ``--csv`` stats file, written once more with the final figures.

    Locust rewrites it once a second from a background greenlet and not at the end, so a run
    shorter than a second left it with no request, and a longer one without its last second.
    """
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    if not prefix:
        return
    import csv

    from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

    writer = StatsCSV(environment, PERCENTILES_TO_REPORT)
    for suffix, write in (("_stats.csv", writer.requests_csv), ("_failures.csv", writer.failures_csv),
                          ("_exceptions.csv", writer.exceptions_csv)):
        with open(f"{prefix}{suffix}", "w", newline="", encoding="utf-8") as handle:
            write(csv.writer(handle))


def _print_summary(report: dict[str, Any]) -> None:
    say(f"completed {report['completed']}  failed {report['failed']}  errors {json.dumps(report['errors'])}")
    say(f"duration {show(report['duration'])} s  request_throughput {show(report['request_throughput'])} req/s  "
        f"output_throughput {show(report['output_throughput'], '{:.1f}')} tok/s"
        + (f"  request_goodput {show(report['request_goodput'])} req/s" if report.get("slo") else ""))
    window = report["steady_state_window"]
    say(f"steady state: {show(report['steady_state_duration'])} s, {show(report['steady_state_request_throughput'])} "
        f"req/s, {show(report['steady_state_output_throughput'], '{:.1f}')} tok/s ({window['reason']})")
    say(f"output tokens from {report['output_tokens_source']}, input tokens from {report['input_tokens_source']}")
    stats = stat_names(report)
    say(f"{'ms':6} " + " ".join(f"{s:>9}" for s in stats) + "   (from the send)")
    for m in (*SUMMARY_METRICS, *(g for g in GATEWAY_ROWS if report.get("gateway_requests"))):
        label = m.upper() if m in SUMMARY_METRICS else GATEWAY_ROWS[m]
        say(f"{label:6} " + " ".join(f"{show(report.get(f'{s}_{m}_ms')):>9}" for s in stats))
    if report.get("gateway_requests"):
        say(f"through the gateway: {report['gateway_requests']} requests, {report['gateway_retried_requests']} retried, "
            f"{report['gateway_fallback_requests']} fell back")
    for w in report.get("warnings", []):
        say(f"warning: {w}")


def _extend_web_ui(environment: Environment) -> None:
    """An 'LLM metrics' tab next to Locust's own: the exact figures from the raw records (a table,
    through Locust's ``extended_tabs``/``extended_tables``/``extended_stats``) and live charts of
    TTFT, TPOT and throughput over time (a small script the page loads from ``/llm/webui.js``,
    drawing what ``/llm/history`` returns); ``/llm`` gives the figures as JSON."""
    from flask import Response, request

    web_ui = environment.web_ui
    assert web_ui is not None and web_ui.app is not None
    app = web_ui.app
    stats = [*STAT_COLUMNS, *(percentile_key(p) for p in DEFAULT_PERCENTILES)]
    web_ui.template_args["extended_tabs"] = [{"title": "LLM metrics", "key": "llm"}]
    web_ui.template_args["extended_tables"] = [{
        "key": "llm",
        "structure": [{"key": "metric", "title": "Metric (ms)"},
                      *({"key": s, "title": s if s.startswith("p") else s.title()} for s in stats)],
    }]

    def figures() -> dict[str, Any]:
        records = all_records()
        settings = STATE.settings
        if not records or settings is None:
            return {}
        return aggregate(records, open_loop=settings.open_loop, slo=settings.slos or None,
                         warmup=settings.warmup).figures

    def rows(f: dict[str, Any]) -> list[dict[str, Any]]:
        def cell(value: Any) -> Any:
            return "n/a" if value is None else round(value, 2)

        out = [{"metric": m.upper(), **{s: cell(f.get(f"{s}_{m}_ms")) for s in stats}} for m in SUMMARY_METRICS]
        for key in ("request_throughput", "output_throughput", "request_goodput"):
            if key in f and (key != "request_goodput" or f.get("slo")):
                out.append({"metric": f"{key} (/s)", **dict.fromkeys(stats, ""), "mean": cell(f[key])})
        return out

    def _llm_stats(response: Response) -> Response:
        if request.path == "/stats/requests" and response.is_json:
            data = response.get_json()
            data["extended_stats"] = [{"key": "llm", "data": rows(figures())}]
            response.set_data(json.dumps(data))
        elif request.path == "/" and response.mimetype == "text/html":
            page = response.get_data(as_text=True)
            response.set_data(page.replace("</body>", '<script src="./llm/webui.js" defer></script></body>', 1))
        return response

    def _llm_json() -> Response:
        return Response(json.dumps(figures(), indent=2), mimetype="application/json")

    def _llm_history() -> Response:
        return Response(json.dumps(history()), mimetype="application/json")

    def _llm_script() -> Response:
        return Response(WEBUI_SCRIPT.read_text(encoding="utf-8"), mimetype="text/javascript")

    app.after_request(_llm_stats)
    app.add_url_rule("/llm", "llm_figures", _llm_json)
    app.add_url_rule("/llm/history", "llm_history", _llm_history)
    app.add_url_rule("/llm/webui.js", "llm_webui_js", _llm_script)


def history(bucket_s: float = HISTORY_BUCKET_S) -> dict[str, Any]:
    """The LLM tab's time series: per ``bucket_s`` seconds of the run (by completion time), the
    requests and output tokens per second and TTFT/TPOT percentiles of the requests completed then."""
    records = all_records()
    if STATE.history_cache[0] == len(records):
        return STATE.history_cache[1]
    ok = [r for r in records if r.ok and r.done_ns is not None]
    series: dict[str, Any] = {"bucket_s": bucket_s, "t": [], "requests_per_s": [], "output_tokens_per_s": [],
                              "ttft_p50_ms": [], "ttft_p90_ms": [], "ttft_p99_ms": [], "tpot_p50_ms": [],
                              "tpot_p99_ms": [], "failed": sum(1 for r in records if not r.ok), "completed": len(ok)}
    if ok:
        t0 = min(r.epoch(r.sent_ns) for r in records)
        buckets: dict[int, list[RequestRecord]] = {}
        for r in ok:
            buckets.setdefault(int((r.epoch(r.done_ns or 0) - t0) / 1e9 // bucket_s), []).append(r)
        # The bucket still filling (the run goes on) would read as a drop: it waits for its end.
        current = int((time.time_ns() - t0) / 1e9 // bucket_s)
        for index in range(min(max(buckets), current - 1) + 1):
            group = buckets.get(index, [])
            ttft = sorted((r.first_token_ns - r.sent_ns) / 1e6 for r in group if r.first_token_ns is not None)
            tpot = sorted(per_request(r).tpot or 0.0 for r in group if r.output_token_count > 1 and r.first_token_ns)
            series["t"].append(round((index + 1) * bucket_s, 3))
            series["requests_per_s"].append(len(group) / bucket_s)
            series["output_tokens_per_s"].append(sum(r.output_token_count for r in group) / bucket_s)
            for name, values, q in (("ttft_p50_ms", ttft, 50), ("ttft_p90_ms", ttft, 90), ("ttft_p99_ms", ttft, 99),
                                    ("tpot_p50_ms", tpot, 50), ("tpot_p99_ms", tpot, 99)):
                series[name].append(round(percentile(values, q), 3) if values else None)
    STATE.history_cache = (len(records), series)
    return series


events.init_command_line_parser.add_listener(_options)  # type: ignore[no-untyped-call]
events.init.add_listener(_init)  # type: ignore[no-untyped-call]
events.test_start.add_listener(_test_start)  # type: ignore[no-untyped-call]
events.report_to_master.add_listener(_report_to_master)  # type: ignore[no-untyped-call]
events.worker_report.add_listener(_worker_report)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_quitting)  # type: ignore[no-untyped-call]
