"""Report outputs (loadtests.report, prompts): JSON fields, CSV of every request, self-contained HTML."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from loadtests.prompts import PromptFileError, PromptSource, load_prompt_file
from loadtests.report import CSV_COLUMNS, build_report, csv_text, html_text, write_outputs
from tests.unit.test_load_metrics import make

pytestmark = [pytest.mark.unit]

ROOT = Path(__file__).resolve().parents[2]


def records() -> list:
    out = [make(i * 300.0, user=1 + i % 2) for i in range(6)]
    out.append(make(2000.0, error="timeout"))
    out[0].server_timing = {"x-sim-ttft-ms": "100.000"}
    return out


def test_csv_has_one_row_per_request_with_request_id_and_error_class() -> None:
    recs = records()
    rows = list(csv.DictReader(io.StringIO(csv_text(recs))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["request_id"] for r in rows] == [r.request_id for r in sorted(recs, key=lambda r: r.sent_ns)]
    assert rows[0]["ttft_ms"] == "100.000" and rows[0]["tpot_ms"] == f"{180 / 19:.3f}"
    assert rows[0]["server_timing"] == '{"x-sim-ttft-ms": "100.000"}'
    failed = [r for r in rows if r["error_class"]]
    assert [(r["error_class"], r["error"], r["ttft_ms"]) for r in failed] == [("timeout", "boom", "")]
    assert (rows[0]["output_tokens_counted"], rows[0]["output_tokens_source"], rows[0]["usage_from"]) == (
        "20", "server_usage", "server")


def test_csv_keeps_the_gateways_headers_per_request() -> None:
    r = make(0.0)
    r.gateway = {"x-litellm-model-id": "g@vllm/m", "x-litellm-attempted-retries": "1",
                 "x-litellm-attempted-fallbacks": "0", "x-litellm-overhead-duration-ms": "12.5",
                 "x-litellm-response-duration-ms": "20.0", "x-litellm-call-id": "c1", "x-litellm-model-group": "g"}
    row = next(csv.DictReader(io.StringIO(csv_text([r]))))
    assert {k: row[k] for k in ("gateway_model_group", "gateway_deployment", "gateway_retries", "gateway_fallbacks",
                                "gateway_response_ms", "gateway_overhead_ms", "upstream_ttft_ms", "gateway_call_id",
                                "usage_from")} == {
        "gateway_model_group": "g", "gateway_deployment": "g@vllm/m", "gateway_retries": "1", "gateway_fallbacks": "0",
        "gateway_response_ms": "20.0", "gateway_overhead_ms": "12.5", "upstream_ttft_ms": "87.500",
        "gateway_call_id": "c1", "usage_from": "gateway"}


def test_html_is_self_contained_with_the_five_charts() -> None:
    recs = records()
    report = build_report(recs, {"host": "http://x"}, open_loop=False)
    text = html_text(report, recs)
    for title in ("TTFT distribution", "TPOT distribution", "Latency over time", "Throughput over time",
                  "Errors over time", "The slowest requests (by TTFT)", "Token counts"):
        assert title in text
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "").replace("http://x", "")
    assert "<script" not in text


def test_write_outputs_writes_json_csv_html_atomically(tmp_path: Path) -> None:
    recs = records()
    report = build_report(recs, {"host": "http://x", "max_concurrency": 2}, open_loop=False)
    paths = write_outputs(tmp_path / "run.json", report, recs)
    assert [p.name for p in paths] == ["run.json", "run.csv", "run.html", "run.records.jsonl"]
    data = json.loads(paths[0].read_text())
    assert data["completed"] == 6 and data["failed"] == 1 and data["errors"]["timeout"] == 1
    assert data["max_concurrency"] == 2 and data["run"]["host"] == "http://x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.csv", "run.html", "run.json", "run.records.jsonl"]


def test_prompts_are_seeded_and_sized() -> None:
    src = PromptSource(prompt_tokens=16, max_tokens=40, seed=3)
    p = src.get(7)
    assert p == PromptSource(prompt_tokens=16, max_tokens=40, seed=3).get(7)
    assert p != src.get(8)
    assert len(p.text.split()) == 16 and p.prompt_tokens == 16 and p.max_tokens == 40


def test_shipped_prompt_set_loads_by_name_and_cycles(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # a name, not a path: found in the installed package wherever we are
    path = Path("chat-short")
    rows = load_prompt_file(path)
    assert len(rows) == 20
    src = PromptSource(prompt_tokens=8, max_tokens=10, seed=1, prompt_file=path)
    assert {src.get(i).id for i in range(20)} == {r[0] for r in rows}
    assert src.get(0) == src.get(20)


def test_bad_prompt_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "ok"}\n{"text": "no prompt"}\n', encoding="utf-8")
    with pytest.raises(PromptFileError, match=r'p.jsonl:2: each line must be an object with a non-empty "prompt" string'):
        load_prompt_file(path)


def test_the_html_explains_the_slowest_requests_by_what_their_figures_show() -> None:
    # The demo's 5 s outliers: a fallback after the rate-limited deployment's retries, all in the gateway.
    fell = [make(i * 300.0) for i in range(8)]
    for r in fell[:6]:
        r.gateway = {"x-litellm-overhead-duration-ms": "2.0", "x-litellm-model-id": "g@vllm/m",
                     "x-litellm-attempted-retries": "0", "x-litellm-attempted-fallbacks": "0"}
    for r in fell[6:]:
        r.token_chunk_ns = [t + 5000 * 1_000_000 for t in r.token_chunk_ns]
        r.first_token_ns, r.last_token_ns = r.token_chunk_ns[0], r.token_chunk_ns[-1]
        r.done_ns = r.last_token_ns + 1000
        r.gateway = {"x-litellm-overhead-duration-ms": "4950.0", "x-litellm-model-id": "fallback@ollama/q",
                     "x-litellm-attempted-retries": "0", "x-litellm-attempted-fallbacks": "1"}
    report = build_report(fell, {"load_average": [13.9, 12.7, 11.1], "cpus": 2}, open_loop=False)
    text = html_text(report, fell)
    assert "Of these: 2 fell back to another deployment; 2 spent most of their TTFT inside the gateway" in text
    assert "fallback@ollama/q" in text and "The machine running the load test was overloaded (load average 13.9" in text
    assert [row["fallbacks"] for row in report["slowest_requests"][:2]] == [1, 1]
