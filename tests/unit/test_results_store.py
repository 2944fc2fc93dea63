"""The results store: runs round-trip whole, figures are read generically, and a file that is not a
store (text, another program's database, a newer schema, a corrupt file, a directory) is refused with
a clear message and left byte for byte as it was."""

from __future__ import annotations

import copy
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aibackend.cli import main
from aibackend.results.record import REDACTED, Run, loadtest_run, redact, report_facts, report_figures
from aibackend.results.schema import APPLICATION_ID, SCHEMA_VERSION
from aibackend.results.store import ResultsStoreError, default_store_path, open_store

pytestmark = [pytest.mark.unit]

ROOT = Path(__file__).resolve().parents[2]
REPORT = json.loads((ROOT / "fixtures" / "results" / "loadtest-report.json").read_text())


def _run(report: dict[str, Any], tmp_path: Path, when: datetime, **changes: Any) -> Run:
    data = copy.deepcopy(report)
    for key, value in changes.items():
        data[key] = value
    path = tmp_path / f"report-{when:%H%M%S}.json"
    run = loadtest_run(data, report_path=path)
    run.started_at = run.recorded_at = when
    return run


def test_a_run_round_trips_whole_with_every_figure_in_report_order(tmp_path: Path) -> None:
    run = _run(REPORT, tmp_path, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    with open_store(tmp_path / "s.sqlite3") as store:
        run_id = store.add(run)
        back = store.get(run_id)
    assert back is not None
    assert back == run  # every field, the figures dict in the report's order included
    assert list(back.figures) == list(report_figures(REPORT))
    assert back.figures["median_ttft_ms"] == REPORT["median_ttft_ms"]
    assert back.figures["errors.http_5xx"] == 0.0
    assert back.workload == {k: v for k, v in REPORT["run"].items() if k not in ("host", "model")}
    url = REPORT["run"]["host"]
    assert url.startswith("http://127.0.0.1:")
    assert (back.target, back.target_url, back.model) == (url, url, "Qwen/Qwen2.5-0.5B-Instruct")


def test_every_figure_of_the_issue_12_report_is_recorded(tmp_path: Path) -> None:
    run = _run(REPORT, tmp_path, datetime(2026, 1, 2, tzinfo=UTC))
    with open_store(tmp_path / "s.sqlite3") as store:
        back = store.get(store.add(run))
    assert back is not None
    numbers = {k for k, v in REPORT.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    assert numbers <= set(back.figures)  # every number of the report, under its own name
    for name in ("p50_ttft_ms", "p95_ttft_ms", "p95_tpot_ms", "p95_e2el_ms", "steady_state_duration",
                 "steady_state_request_throughput", "steady_state_output_throughput", "max_concurrent_requests"):
        assert back.figures[name] == REPORT[name], name
    # Gateway overhead: a direct run has none; not measured is null, never 0.
    assert back.figures["p95_gateway_overhead_ms"] is None and back.figures["gateway_retries"] is None
    # Token counts by source, and the steady-state window, as <section>.<name>.
    counts = REPORT["token_counts"]
    assert back.figures["token_counts.usage_output_tokens"] == counts["usage_output_tokens"] == 1024
    assert back.figures["token_counts.token_bearing_chunks"] == counts["token_bearing_chunks"]
    assert back.figures["token_counts.sources.server_usage"] == 64
    assert back.figures["steady_state_window.requests"] == REPORT["steady_state_window"]["requests"]
    # Text keys are no figures, even null ones (a missing label is not an unmeasured figure).
    assert not {"label", "tokenizer_id", "output_tokens_source", "request_rate"} & set(back.figures)
    assert report_facts(back.document) == {"output_tokens_source": "server_usage",
                                           "input_tokens_source": "server_usage", "latency_origin": "sent"}


def test_figures_are_every_numeric_top_level_key_and_null_is_not_measured() -> None:
    report = {"completed": 3, "failed": 0, "p95_ttft_ms": 12.5, "median_ttft_ms": None, "steady_state_output_throughput": 7,
              "request_rate": "inf", "ok": True, "errors": {"http_5xx": 2, "timeout": None}, "run": {"users": 2},
              "gate": {"passed": True}, "nan_figure": float("nan"), "label": None,
              "token_counts": {"usage_output_tokens": 30, "usage_from": "server", "sources": {"server_usage": 3}},
              "slo": {"ttft": 500}}
    assert report_figures(report) == {"completed": 3.0, "failed": 0.0, "p95_ttft_ms": 12.5, "median_ttft_ms": None,
                                      "steady_state_output_throughput": 7.0, "nan_figure": None,
                                      "errors.http_5xx": 2.0, "errors.timeout": None,
                                      "token_counts.usage_output_tokens": 30.0,
                                      "token_counts.sources.server_usage": 3.0}


def test_a_null_figure_is_stored_as_null_not_zero(tmp_path: Path) -> None:
    run = _run(REPORT, tmp_path, datetime(2026, 1, 2, tzinfo=UTC), p99_ttft_ms=None)
    with open_store(tmp_path / "s.sqlite3") as store:
        back = store.get(store.add(run))
    assert back is not None and "p99_ttft_ms" in back.figures and back.figures["p99_ttft_ms"] is None


def test_the_gate_verdict_is_pass_fail_or_none_when_nothing_was_gated(tmp_path: Path) -> None:
    ungated = _run(REPORT, tmp_path, datetime(2026, 1, 1, tzinfo=UTC))
    failed = _run(REPORT, tmp_path, datetime(2026, 1, 2, tzinfo=UTC),
                  gate={"passed": False, "lines": ["FAIL p99_ttft_ms: measured 30, allowed max 20 (t.yaml:1)"],
                        "failures": ["p99_ttft_ms: measured 30 is not <= 20 (t.yaml:1)"]})
    passed = _run(REPORT, tmp_path, datetime(2026, 1, 3, tzinfo=UTC),
                  gate={"passed": True, "lines": ["PASS p99_ttft_ms: measured 10, allowed max 20 (t.yaml:1)"],
                        "failures": []})
    assert (ungated.verdict, failed.verdict, passed.verdict) == (None, "fail", "pass")


def test_secrets_never_reach_the_store() -> None:
    document = {"request": {"headers": {"Authorization": "Bearer sk-live-123", "Content-Type": "application/json",
                                        "x-api-key": "abc"}},
                "api_key": "plain", "note": "sk-" + "a" * 40, "max_tokens": 32, "token_counts": {"usage": 3}}
    assert redact(document) == {"request": {"headers": {"Authorization": REDACTED, "Content-Type": "application/json",
                                                        "x-api-key": REDACTED}},
                                "api_key": REDACTED, "note": REDACTED, "max_tokens": 32, "token_counts": {"usage": 3}}


def test_a_new_store_is_wal_versioned_and_marked_as_a_results_store(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "results.sqlite3"
    open_store(path).close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    finally:
        db.close()


def test_readers_never_create_a_store(tmp_path: Path) -> None:
    path = tmp_path / "none.sqlite3"
    with open_store(path, create=False) as store:
        assert store.runs() == [] and store.targets() == []
    assert not path.exists()


def _other_program_db(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (body TEXT)")
    db.execute("INSERT INTO notes VALUES ('mine')")
    db.commit()
    db.close()


def _newer_store(path: Path) -> None:
    open_store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()


def _corrupt_store(path: Path) -> None:
    open_store(path).close()
    data = bytearray(path.read_bytes())
    data[100:len(data)] = b"\xff" * (len(data) - 100)  # header intact, every page garbage
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.write_text("my notes, not a database\n"), "is not a results store (not an SQLite database)"),
    (_other_program_db, "is an SQLite database of another program, not a results store (tables: notes)"),
    (_newer_store, f"was written by a newer aibackend (schema {SCHEMA_VERSION + 1}; this one knows up to "
                   f"{SCHEMA_VERSION})"),
    (_corrupt_store, "is corrupt (database disk image is malformed)"),
], ids=["text-file", "other-database", "newer-schema", "corrupt"])
@pytest.mark.parametrize("create", [True, False], ids=["writer", "reader"])
def test_a_file_that_is_not_a_store_is_refused_and_left_as_it_is(tmp_path: Path, make: Any, message: str,
                                                                 create: bool) -> None:
    path = tmp_path / "results.sqlite3"
    make(path)
    before = path.read_bytes()
    with pytest.raises(ResultsStoreError) as caught:
        open_store(path, create=create)
    assert caught.value.message == f"{path}: {message}; it was left as it is"
    assert caught.value.exit_code == 2
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.sqlite3"]  # no -wal/-shm left either


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ResultsStoreError, match="is a directory, not a results store"):
        open_store(tmp_path)


def test_the_default_store_follows_xdg_data_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_store_path() == tmp_path / "aibackend" / "results.sqlite3"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")  # the spec: a relative path is invalid
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_store_path() == tmp_path / "home" / ".local" / "share" / "aibackend" / "results.sqlite3"


def test_a_command_given_a_bad_store_refuses_before_sending_anything(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("not a store")
    # Port 9 (discard) is closed: had the suite started, the error would be a connection failure.
    code = main(["contract", "--target", "vllm=http://127.0.0.1:9", "--store", str(bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (f"aibackend contract: error: {bad}: is not a results store (not an SQLite database); "
                   "it was left as it is\n  hint: pass --store PATH naming another file (or --no-store)\n")
    assert bad.read_text() == "not a store"
