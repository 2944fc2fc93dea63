"""Exact aggregation of request records (loadtests.metrics) on synthetic records with known answers."""

from __future__ import annotations

import statistics

import pytest

from loadtests.metrics import aggregate, parse_slo, steady_window, summarize
from loadtests.timing import RequestRecord

pytestmark = [pytest.mark.unit]

MS = 1_000_000


def make(
    sent_ms: float,
    *,
    ttfb: float = 2.0,
    ttft: float = 100.0,
    gap: float = 20.0,
    chunks: int = 10,
    per_chunk: int = 2,
    usage: bool = True,
    user: int = 1,
    worker: int = 0,
    intended_ms: float | None = None,
    error: str | None = None,
    offset: int = 0,
) -> RequestRecord:
    sent = int(sent_ms * MS)
    r = RequestRecord(request_id=f"r{sent_ms}-{user}", api="openai-chat", stream=True, worker=worker, user=user,
                      epoch_offset_ns=offset)
    r.intended_start_ns = int((intended_ms if intended_ms is not None else sent_ms) * MS)
    r.sent_ns = sent
    r.headers_ns = sent + int(ttfb * MS)
    r.prompt_tokens_requested = 8
    if error:
        r.fail(error, "boom")
        return r
    r.first_byte_ns = r.first_event_ns = r.headers_ns
    r.token_chunk_ns = [sent + int((ttft + i * gap) * MS) for i in range(chunks)]
    r.first_token_ns, r.last_token_ns = r.token_chunk_ns[0], r.token_chunk_ns[-1]
    r.done_ns = r.last_token_ns + 1000
    r.output_tokens = chunks * per_chunk if usage else None
    r.input_tokens = 8 if usage else None
    r.output_words = chunks * per_chunk
    return r


def test_summarize_uses_every_raw_value_no_rounding() -> None:
    # Locust would store 147 as 150 and 3432 as 3400; the report must not.
    values = [147.0, 3432.0, 58760.0]
    out = summarize(values, (90, 99))
    assert out == {
        "mean": pytest.approx(statistics.fmean(values)),
        "median": 3432.0,
        "std": pytest.approx(statistics.pstdev(values)),
        "p90": pytest.approx(3432.0 + (58760.0 - 3432.0) * 0.8),
        "p99": pytest.approx(3432.0 + (58760.0 - 3432.0) * 0.98),
    }


def test_a_figure_of_nothing_is_none_never_zero() -> None:
    assert summarize([], (50, 99.9)) == {"mean": None, "median": None, "std": None, "p50": None, "p99.9": None}


def test_per_request_definitions_ttft_tpot_itl_e2el_ttfb() -> None:
    recs = [make(i * 500.0, user=1) for i in range(5)]
    f = aggregate(recs).figures
    assert f["median_ttft_ms"] == pytest.approx(100.0)
    assert f["median_ttfb_ms"] == pytest.approx(2.0)
    # E2EL = last token - sent = 100 + 9 * 20
    assert f["median_e2el_ms"] == pytest.approx(280.0)
    # TPOT = (E2EL - TTFT) / (N - 1) with N from usage (20 tokens), not chunks (10)
    assert f["median_tpot_ms"] == pytest.approx(180.0 / 19)
    # ITL: per-chunk gaps, pooled
    assert f["median_itl_ms"] == pytest.approx(20.0)
    assert f["std_itl_ms"] == pytest.approx(0.0, abs=1e-9)
    assert f["completed"] == 5 and f["failed"] == 0
    assert f["total_output_tokens"] == 100 and f["total_input_tokens"] == 40


def test_without_usage_tokens_are_chunks_and_a_warning_says_so() -> None:
    recs = [make(i * 500.0, usage=False) for i in range(3)]
    agg = aggregate(recs)
    assert agg.figures["median_tpot_ms"] == pytest.approx(180.0 / 9)
    assert agg.figures["token_counts"]["requests_without_usage"] == 3
    assert "3 request(s) came without usage: their output tokens are the token-bearing chunk count" in agg.warnings


def test_usage_below_chunk_count_is_reported_as_wrong_usage() -> None:
    r = make(0.0)
    r.output_tokens = 5  # 10 token-bearing chunks but usage says 5
    agg = aggregate([r])
    assert agg.figures["token_counts"]["requests_usage_below_chunks"] == 1
    assert any("fewer output tokens in usage than token-bearing chunks" in w for w in agg.warnings)


def test_failed_and_warmup_requests_stay_out_of_latency() -> None:
    slow_first = make(0.0, ttft=5000.0)
    recs = [slow_first] + [make(10_000 + i * 500.0) for i in range(4)] + [make(20_000, error="http_5xx")]
    f = aggregate(recs, warmup=1).figures
    assert f["median_ttft_ms"] == pytest.approx(100.0)
    assert f["p99_ttft_ms"] == pytest.approx(100.0)
    assert f["warmup_excluded"] == 1
    # vLLM runs its warm-ups before its clock starts: they are in no figure, counts included
    assert f["completed"] == 4 and f["failed"] == 1 and f["total_output_tokens"] == 80
    assert f["errors"] == {"http_4xx": 0, "http_5xx": 1, "timeout": 0, "connection": 0, "protocol": 0}
    assert f["failed_ratio"] == pytest.approx(1 / 5)
    assert f["duration"] == pytest.approx((20_000 + 2 - 10_000) / 1000)  # first measured send .. the 503's end


def test_open_loop_latency_includes_the_client_queue_under_its_own_name() -> None:
    # Sent 50 ms late: vLLM's TTFT counts from the send; the coordinated-omission-corrected figure
    # (from the intended start) has vLLM's "including client queue" name.
    recs = [make(i * 100.0 + 50.0, intended_ms=i * 100.0) for i in range(10)]
    closed = aggregate(recs, open_loop=False).figures
    opened = aggregate(recs, open_loop=True).figures
    assert closed["median_ttft_ms"] == opened["median_ttft_ms"] == pytest.approx(100.0)
    assert "median_ttft_including_client_queue_ms" not in closed
    assert opened["median_ttft_including_client_queue_ms"] == pytest.approx(150.0)
    assert opened["median_e2el_including_client_queue_ms"] == pytest.approx(330.0)
    assert opened["median_client_queue_time_ms"] == opened["median_schedule_lag_ms"] == pytest.approx(50.0)
    assert opened["latency_origin"] == "sent"
    # the benchmark's clock starts at the first intended start (vLLM starts it before dispatching)
    assert opened["duration"] == pytest.approx((9 * 100 + 50 + 280) / 1000 + 1e-6)  # .. the last one done
    assert any(w.startswith("the client could not keep to its schedule: p99 schedule lag 50.0 ms") for w in
               aggregate(recs, open_loop=True).warnings)


def test_closed_loop_window_excludes_ramp_up_and_drain() -> None:
    # User 1 starts at 0, user 2 at 1000 ms (ramp-up); both loop every 300 ms; user 1 stops early.
    recs = [make(t, user=1, chunks=1, ttft=100.0) for t in range(0, 3000, 300)]
    recs += [make(t, user=2, chunks=1, ttft=100.0) for t in range(1000, 5000, 300)]
    w = steady_window(recs, open_loop=False)
    # done = sent + ttft + 1 us; start = user 2's first completion, end = user 1's last completion
    assert w.start_ns == 1100 * MS + 1000
    assert w.end_ns == 2800 * MS + 1000
    f = aggregate(recs).figures
    inside = [r for r in recs if w.start_ns < r.done_ns <= w.end_ns]  # type: ignore[operator]
    assert f["steady_state_request_throughput"] == pytest.approx(len(inside) / 1.7)
    assert f["steady_state_duration"] == pytest.approx(1.7)
    assert f["steady_state_window"]["requests"] == len(inside)
    # vLLM's figures cover the whole run: first send (0) .. last request over (4900 + 100 ms + 1 us)
    assert f["duration"] == pytest.approx(5.000001)
    assert f["request_throughput"] == pytest.approx(len(recs) / 5.000001)
    assert f["steady_state_window"]["reason"].startswith("closed loop, 2 users")


def test_records_from_two_workers_share_one_time_axis() -> None:
    # Worker 1's monotonic clock is 1e12 ns behind; its epoch offset puts it back in line.
    a = [make(t, user=1, worker=0) for t in range(0, 2000, 400)]
    b = [make(t - 1_000_000.0, user=1, worker=1, offset=10**12) for t in range(0, 2000, 400)]
    fa = aggregate(a + [make(t, user=1, worker=1) for t in range(0, 2000, 400)]).figures
    fb = aggregate(a + b).figures
    assert fb["request_throughput"] == pytest.approx(fa["request_throughput"])
    assert fb["duration"] == pytest.approx(fa["duration"])


def test_goodput_counts_requests_meeting_every_slo() -> None:
    recs = [make(i * 300.0, ttft=100.0 if i % 2 else 600.0, user=1) for i in range(10)]
    f = aggregate(recs, slo={"ttft": 500.0, "tpot": 50.0}).figures
    assert f["slo_attainment"] == pytest.approx(0.5)
    assert f["request_goodput"] == pytest.approx(f["request_throughput"] / 2)  # vLLM: good / duration
    assert aggregate(recs).figures["request_goodput"] is None  # vLLM writes null without --goodput
    assert f["slo"] == {"ttft": 500.0, "tpot": 50.0}


def test_parse_slo() -> None:
    assert parse_slo("ttft=500, tpot=50,e2el_ms=2000") == {"ttft": 500.0, "tpot": 50.0, "e2el": 2000.0}
    assert parse_slo("") == {}
    with pytest.raises(ValueError, match=r"bad SLO 'foo=1': expected NAME=MILLISECONDS with NAME one of ttft, tpot, e2el, ttfb"):
        parse_slo("foo=1")
    with pytest.raises(ValueError, match=r"bad SLO 'ttft=fast': 'fast' is not a number of milliseconds"):
        parse_slo("ttft=fast")


def test_interface_fields_present_with_the_vllm_names() -> None:
    f = aggregate([make(0.0), make(500.0)], slo={"ttft": 500}).figures
    expected = {"completed", "failed", "duration", "total_input_tokens", "total_output_tokens", "request_throughput",
                "output_throughput", "total_token_throughput", "request_goodput", "errors", "metric_definitions",
                "max_output_tokens_per_s", "max_concurrent_requests"}
    for m in ("ttft", "tpot", "itl", "e2el", "ttfb"):
        expected |= {f"{s}_{m}_ms" for s in ("mean", "median", "std", "p50", "p90", "p95", "p99")}
    assert expected <= set(f)
    assert set(f["metric_definitions"]) >= {"ttft", "tpot", "itl", "e2el", "ttfb", "request_goodput"}


def test_no_completed_request_gives_null_latencies_not_zeros() -> None:
    recs = [make(i * 100.0, error="http_4xx") for i in range(5)]
    f = aggregate(recs).figures
    assert f["completed"] == 0 and f["failed"] == 5
    for m in ("ttft", "tpot", "itl", "e2el", "ttfb"):
        assert {f[f"{s}_{m}_ms"] for s in ("mean", "median", "std", "p50", "p90", "p95", "p99")} == {None}
    assert f["request_throughput"] == 0.0  # measured: nothing completed in a run that lasted
    assert f["steady_state_request_throughput"] is not None
    assert f["output_tokens_source"] is None and f["max_output_tokens_per_s"] is None
    assert f["warnings"][0] == "no request completed (5 failed): every latency figure is null"


def gateway_record(sent_ms: float, usage: int | None, *, overhead: float = 5.0, chunks: int = 10) -> RequestRecord:
    r = make(sent_ms, chunks=chunks, per_chunk=1, ttft=100.0)
    r.output_tokens = usage
    r.gateway = {"x-litellm-overhead-duration-ms": f"{overhead}", "x-litellm-model-id": "m@p",
                 "x-litellm-attempted-retries": "0", "x-litellm-attempted-fallbacks": "0"}
    return r


def test_a_gateways_usage_that_disagrees_with_the_chunks_is_not_taken_for_the_servers() -> None:
    # llama-cpp-python sends no usage in streams: LiteLLM fills it with its own estimate (99 for 32).
    recs = [gateway_record(i * 500.0, usage=31) for i in range(4)]
    f = aggregate(recs).figures
    assert f["output_tokens_source"] == "chunks" and f["total_output_tokens"] == 40
    assert f["median_tpot_ms"] == pytest.approx(180.0 / 9)  # N = 10 chunks, not the gateway's 31
    assert f["token_counts"]["sources"] == {"chunks": 4} and f["token_counts"]["usage_from"] == "gateway"
    assert any("4 request(s) through the gateway carry a usage that differs from their token-bearing chunks"
               in w for w in f["warnings"])
    agreeing = aggregate([gateway_record(0.0, usage=10)]).figures
    assert agreeing["output_tokens_source"] == "gateway_usage"
    direct = aggregate([make(0.0)]).figures
    assert direct["output_tokens_source"] == "server_usage" and direct["token_counts"]["usage_from"] == "server"


def test_a_tokenizer_count_beats_a_gateways_usage_but_not_the_servers() -> None:
    r = gateway_record(0.0, usage=31)
    r.tokenizer_output_tokens = 12
    assert r.output_count() == (12, "tokenizer")
    d = make(0.0)
    d.tokenizer_output_tokens = 12
    assert d.output_count() == (20, "server_usage")
    d.prompt_tokens_unit, d.input_tokens = "tokenizer", None
    assert d.input_count() == (8, "tokenizer")


def test_latency_through_the_gateway_splits_into_its_overhead_and_upstream() -> None:
    recs = [gateway_record(i * 500.0, usage=10, overhead=float(5 + i)) for i in range(5)]
    recs[4].gateway["x-litellm-attempted-retries"] = "2"
    recs[4].token_chunk_ns = [t + 4000 * MS for t in recs[4].token_chunk_ns]
    recs[4].first_token_ns, recs[4].last_token_ns = recs[4].token_chunk_ns[0], recs[4].token_chunk_ns[-1]
    recs[4].done_ns = recs[4].last_token_ns + 1000
    f = aggregate(recs).figures
    assert f["gateway_requests"] == 5 and f["gateway_retried_requests"] == 1 and f["gateway_retries"] == 2
    assert f["median_gateway_overhead_ms"] == pytest.approx(7.0)
    assert f["median_upstream_ttft_ms"] == pytest.approx(94.0)  # 95, 94, 93, 92 and 4091 ms
    slowest = f["slowest_requests"][0]
    assert (slowest["request_id"], slowest["ttft_ms"], slowest["retries"], slowest["deployment"]) == (
        recs[4].request_id, pytest.approx(4100.0), 2, "m@p")
    assert slowest["upstream_ttft_ms"] == pytest.approx(4100.0 - 9.0)
    assert aggregate([make(0.0)]).figures["median_gateway_overhead_ms"] is None


def test_vllm_goodput_spelling() -> None:
    from loadtests.metrics import format_goodput, parse_goodput

    assert parse_goodput("ttft:500 tpot:50") == {"ttft": 500.0, "tpot": 50.0}
    assert format_goodput({"ttft": 500.0, "e2el": 1500.5}) == "ttft:500 e2el:1500.5"
    with pytest.raises(ValueError, match=r"bad --goodput 'ttfb:5': expected KEY:MILLISECONDS with KEY one of ttft, tpot, e2el"):
        parse_goodput("ttfb:5")
    with pytest.raises(ValueError, match="must not be negative"):
        parse_goodput("ttft:-1")
