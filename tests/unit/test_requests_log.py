"""``aibackend requests tail|analyze`` over a real LiteLLM 1.106.2 log and over broken ones."""

from __future__ import annotations

import argparse
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aibackend.commands import requests as requests_command
from aibackend.ops.request_log import (
    RequestRecord,
    analyze,
    classify,
    format_record,
    parse_duration,
)
from generator.errors import UsageError

pytestmark = [pytest.mark.unit]

ROOT = Path(__file__).resolve().parents[2]
# Written by a real LiteLLM 1.106.2 proxy (json_logs: true + generator.request_logger.handler) in front of
# a vLLM and an Ollama simulator: a plain, a streamed, a fallback (vLLM failing 503) and an unknown model.
REAL_LOG = ROOT / "fixtures" / "logs" / "litellm-1.106.2-json.log"


def record(**fields: object) -> str:
    base: dict[str, object] = {
        "message": "aibackend.request", "level": "INFO", "timestamp": "2026-11-23T19:00:00.000+00:00",
        "component": "aibackend.request_logger", "model_group": "chat", "original_model_group": "chat",
        "deployment": "chat@vl/m", "api_base": "http://127.0.0.1:8001/v1/chat/completions", "status": "success",
        "status_code": 200, "stream": True, "latency_ms": 100.0, "ttft_ms": 10.0, "prompt_tokens": 5,
        "completion_tokens": 7,
    }
    base.update(fields)
    return json.dumps(base)


def test_real_litellm_log_is_analyzed_exactly() -> None:
    with REAL_LOG.open() as handle:
        result = analyze(handle)
    data = result.to_json()
    assert data["records"] == 5
    assert data["malformed"] == []
    assert data["fallbacks"] == [{"from": "chat", "to": "llama3.2:latest", "count": 1}]
    groups = {(g["model_group"], g["backend"]): g for g in data["groups"]}
    assert sorted(groups) == [("(no group)", "(none)"), ("chat", "http://127.0.0.1:45211/v1"),
                              ("llama3.2:latest", "http://127.0.0.1:53859")]
    chat = groups[("chat", "http://127.0.0.1:45211/v1")]
    assert (chat["count"], chat["errors"], chat["completion_tokens"]) == (3, 1, 8)
    assert chat["status_codes"] == {"200": 2, "503": 1}
    # two successes: 810.772 and 129.735 ms (failures are left out of latency figures)
    assert chat["latency_ms"] == {"p50": 470.25, "p90": 742.67, "p95": 776.72, "p99": 803.96, "max": 810.772}
    unknown = groups[("(no group)", "(none)")]
    assert (unknown["count"], unknown["errors"], unknown["status_codes"]) == (1, 1, {"400": 1})
    assert data["access_log_status"] == {"200": 8, "400": 3}
    assert data["lines"]["text"] > 0  # LiteLLM's banner: plain text, not "malformed"


def test_malformed_lines_are_counted_with_their_line_numbers_not_a_crash() -> None:
    lines = [
        "LiteLLM banner line",
        record(),
        '{"message": "aibackend.request", "timestamp": ',  # cut off mid-line (a crash while writing)
        record(status="maybe"),
        record(latency_ms="fast"),
        record(timestamp="yesterday"),
        "[1, 2, 3]",
        "{not json at all}",
        "",
        record(model_group="other", status="failure", status_code=503, error_class="ServiceUnavailableError"),
    ]
    result = analyze(lines)
    assert [(m.line, m.reason) for m in result.malformed] == [
        (3, "not valid JSON (Expecting value at column 46)"),
        (4, "request record: `status` must be success or failure, got 'maybe'"),
        (5, "request record: `latency_ms` is not a number: 'fast'"),
        (6, "request record: `timestamp` is not an ISO time: 'yesterday'"),
        (8, "not valid JSON (Expecting property name enclosed in double quotes at column 2)"),
    ]
    assert result.lines == {"text": 2, "request": 2, "malformed": 5, "blank": 1}
    assert result.requests == 2
    assert result.groups[("other", "http://127.0.0.1:8001/v1")].errors == 1


def test_since_keeps_only_recent_records() -> None:
    now = datetime.now(UTC)
    lines = [record(timestamp=(now - timedelta(hours=2)).isoformat(), model_group="old"),
             record(timestamp=(now - timedelta(minutes=5)).isoformat(), model_group="new")]
    result = analyze(lines, since=now - parse_duration("15m"))
    assert [key[0] for key in result.groups] == ["new"]
    assert result.skipped_before_since == 1


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("15m", 900), ("2h", 7200), ("1d", 86400),
                                               ("500ms", 0.5), ("90", 90), ("1.5h", 5400)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "5x", "m5", "-3m", "1 hour"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_tail_line_format() -> None:
    kind, item = classify(1, record(model_group="llama", original_model_group="chat", api_base="http://h:1/api/chat",
                                    timestamp="2026-11-23T19:06:27.668+00:00", latency_ms=75.0, ttft_ms=30.0,
                                    prompt_tokens=1, completion_tokens=3))
    assert kind == "request" and isinstance(item, RequestRecord)
    local = datetime(2026, 11, 23, 19, 6, 27, 668000, tzinfo=UTC).astimezone().strftime("%H:%M:%S")
    assert format_record(item) == (f"{local}.668  {'llama (fallback from chat)':<28} {'http://h:1':<40} "
                                   f"{'200':<6} {'75 ms':>8} ttft 30 ms  1+3 tok")


def _args(tmp_path: Path, action: str, **extra: object) -> argparse.Namespace:
    values: dict[str, object] = {"config_dir": tmp_path / "config", "log": None, "action": action}
    values.update({"follow": False, "lines": 20} if action == "tail" else {"since": None, "json": False})
    values.update(extra)
    return argparse.Namespace(**values)


def test_analyze_command_json_and_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "gw.log"
    log.write_text("\n".join([record(), record(latency_ms=300.0), "{broken", record(model_group="b")]) + "\n")
    assert requests_command.run(_args(tmp_path, "analyze", log=log, json=True)) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(g["model_group"], g["count"], g["latency_ms"]["p50"]) for g in data["groups"]] == [
        ("b", 1, 100.0), ("chat", 2, 200.0)]
    assert data["malformed"][0]["line"] == 3
    assert requests_command.run(_args(tmp_path, "analyze", log=log)) == 0
    captured = capsys.readouterr()
    assert "fallbacks taken:\n  chat -> b: 1\n" in captured.out
    assert "1 malformed line(s) skipped:" in captured.err
    assert "line 3: not valid JSON" in captured.err


def test_no_log_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    with pytest.raises(UsageError, match=r"no gateway log in .*: the gateway has not run from"):
        requests_command.run(_args(tmp_path, "analyze"))
    with pytest.raises(UsageError, match=r"log file .*missing\.log does not exist"):
        requests_command.run(_args(tmp_path, "tail", log=tmp_path / "missing.log"))
    with pytest.raises(UsageError, match="--since: '3 weeks' is not a duration"):
        requests_command.run(_args(tmp_path, "analyze", log=REAL_LOG, since="3 weeks"))


def test_log_of_the_running_gateway_comes_from_its_state(tmp_path: Path) -> None:
    run = tmp_path / "config" / ".run"
    run.mkdir(parents=True)
    (run / "gateway-green.log").write_text(record() + "\n")
    (run / "gateway.json").write_text(json.dumps({
        "host": "127.0.0.1", "port": 4000, "front": None,
        "active": {"slot": "green", "pid": 1, "port": 4000, "config": "x", "log": str(run / "gateway-green.log")}}))
    assert requests_command.log_path(_args(tmp_path, "tail")) == run / "gateway-green.log"


def test_tail_follow_prints_appended_records(tmp_path: Path) -> None:
    log = tmp_path / "gw.log"
    log.write_text(record(model_group="before") + "\n")
    seen: list[str] = []
    with log.open() as handle:
        handle.read()
        follow = requests_command._follow(handle, interval=0.01)

        def append() -> None:
            time.sleep(0.1)
            with log.open("a") as out:
                out.write(record(model_group="after")[:40])
                out.flush()
                time.sleep(0.05)  # half a line first: it must not be read as a malformed line
                out.write(record(model_group="after")[40:] + "\n")

        writer = threading.Thread(target=append)
        writer.start()
        seen.append(next(follow))
        writer.join()
    kind, item = classify(2, seen[0])
    assert kind == "request" and isinstance(item, RequestRecord) and item.model_group == "after"
