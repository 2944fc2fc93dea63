"""The dashboard as a Flask application: read-only pages over the results store and the config.

Pages render their tables on the server (readable without scripts); charts are drawn in the
browser by ``static/charts.js`` with the vendored uPlot, from the JSON each page embeds. Every
route is a GET; nothing here writes. When bound to loopback, requests naming another host are
refused (a page elsewhere cannot read the dashboard through DNS rebinding).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, abort, jsonify, render_template, request
from werkzeug.wrappers import Response

from aibackend.dashboard.overview import health_json, load_overview
from aibackend.results.figures import DEFAULT_REGRESSION, PERCENTILE_STATS, TREND_FIGURES, percentile_table
from aibackend.results.present import compare_json, fmt, local_time, run_json, summary, verdict_text
from aibackend.results.record import Run
from aibackend.results.store import ResultsStoreError, open_store
from aibackend.results.trends import trends

__all__ = ["LOOPBACK_NAMES", "create_app"]

LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1", "[::1]"}
RUNS_PER_PAGE = 200  # the newest; ?limit=0 lists them all
TREND_TABLE_ROWS = 25  # per trend, under its chart (which shows every run)
PACKAGE = Path(__file__).resolve().parent
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _hostname(host_header: str) -> str:
    """The name of a Host header, without its port (``[::1]:8050`` -> ``[::1]``)."""
    if host_header.startswith("["):
        return host_header.split("]", 1)[0] + "]"
    return host_header.rsplit(":", 1)[0]


def create_app(store_path: Path, config_dir: Path, *, loopback_only: bool = True) -> Flask:
    app = Flask("aibackend.dashboard", root_path=str(PACKAGE), template_folder="templates", static_folder="static")
    app.config.update(STORE=Path(store_path), CONFIG_DIR=Path(config_dir))
    app.jinja_env.globals.update(fmt=fmt, local_time=local_time, verdict_text=verdict_text,
                                 store_path=str(store_path), config_dir=str(config_dir))

    @app.before_request
    def _only_local_names() -> None:
        host = _hostname(request.host or "")
        if loopback_only and host not in LOOPBACK_NAMES:
            abort(421, description=f"this dashboard answers to 127.0.0.1/localhost only, not {host!r}")

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.update(_SECURITY_HEADERS)
        return response

    @app.errorhandler(ResultsStoreError)
    def _store_error(exc: ResultsStoreError) -> tuple[str, int]:
        return render_template("error.html", title="Results store unusable", message=str(exc)), 500

    @app.errorhandler(404)
    @app.errorhandler(400)
    @app.errorhandler(421)
    def _http_error(exc: Any) -> tuple[str, int]:
        return render_template("error.html", title=exc.name, message=exc.description), exc.code

    def _runs(**filters: Any) -> list[Run]:
        with open_store(app.config["STORE"], create=False) as store:
            return store.runs(**filters)

    def _choices() -> list[tuple[str, str | None, str]]:
        with open_store(app.config["STORE"], create=False) as store:
            return store.targets()

    @app.get("/favicon.ico")
    def favicon() -> tuple[str, int]:
        return "", 204

    @app.get("/")
    def overview() -> str:
        return render_template("overview.html", page="overview", overview=load_overview(app.config["CONFIG_DIR"]),
                               chart={"kind": "overview"})

    @app.get("/api/health")
    def health() -> Response:
        return jsonify(health_json(app.config["CONFIG_DIR"]))

    @app.get("/runs")
    def runs() -> str:
        target = request.args.get("target") or None
        model = request.args.get("model") or None
        kind = request.args.get("kind") or None
        if kind not in (None, "loadtest", "contract"):
            abort(400, description=f"kind must be loadtest or contract, not {kind!r}")
        raw_limit = request.args.get("limit", str(RUNS_PER_PAGE))
        if not raw_limit.isdigit():
            abort(400, description=f"limit is a number of runs (0: all), not {raw_limit!r}")
        limit = int(raw_limit) or None
        found = _runs(target=target, model=model, kind=kind, limit=None if limit is None else limit + 1)
        more = limit is not None and len(found) > limit
        found = found[:limit]
        choices = _choices()
        rows = []
        for run in found:
            stats, table = percentile_table(run.figures)
            rows.append({"run": run, "summary": summary(run), "stats": stats,
                         "latency": {m: table.get(m, {}) for m in ("ttft", "tpot", "e2el")}})
        # The one percentile set of every view (generator.stats.DEFAULT_PERCENTILES), n/a where a run lacks one.
        return render_template("runs.html", page="runs", rows=rows, percentiles=PERCENTILE_STATS,
                               target=target, model=model, kind=kind, more=more,
                               targets=sorted({t for t, _, _ in choices}),
                               models=sorted({m for _, m, _ in choices if m is not None}))

    @app.get("/runs/<int:run_id>")
    def run_page(run_id: int) -> str:
        found = _runs(ids=[run_id], details=True)
        if not found:
            abort(404, description=f"no run {run_id} in {app.config['STORE']}")
        run = found[0]
        data = run_json(run)
        return render_template("run.html", page="runs", run=run, data=data,
                               chart={"kind": "run", "percentiles": data["percentiles"], "timeline": run.timeline,
                                      "document": {k: v for k, v in run.document.items()
                                                   if k in ("violations", "checks", "known_deviations")}})

    @app.get("/compare")
    def compare_page() -> str:
        ids = []
        for name in ("a", "b"):
            raw = request.args.get(name, "")
            if not raw.isdigit():
                abort(400, description=f"compare needs two run ids: /compare?a=ID&b=ID (got {name}={raw!r})")
            ids.append(int(raw))
        found = {run.id: run for run in _runs(ids=ids)}
        missing = [str(i) for i in ids if i not in found]
        if missing:
            abort(404, description=f"no run {', '.join(missing)} in {app.config['STORE']}")
        data = compare_json(found[ids[0]], found[ids[1]])
        return render_template("compare.html", page="compare", a=found[ids[0]], b=found[ids[1]], data=data,
                               chart={"kind": "compare", "a": data["a"]["percentiles"], "b": data["b"]["percentiles"],
                                      "ids": ids})

    @app.get("/trends")
    def trends_page() -> str:
        target = request.args.get("target") or None
        model = request.args.get("model") or None
        raw = request.args.get("threshold", "")
        try:
            threshold = float(raw) / 100 if raw else DEFAULT_REGRESSION
        except ValueError:
            abort(400, description=f"threshold is a percentage, e.g. 10 (got {raw!r})")
        found = trends(_runs(target=target, model=model, kind="loadtest"), threshold)
        choices = _choices()
        return render_template("trends.html", page="trends", trends=found, target=target, model=model,
                               threshold=threshold, figures=TREND_FIGURES, table_rows=TREND_TABLE_ROWS,
                               targets=sorted({t for t, _, k in choices if k == "loadtest"}),
                               models=sorted({m for _, m, k in choices if m is not None and k == "loadtest"}),
                               chart={"kind": "trends", "trends": [t.to_json() for t in found]})

    return app
