"""vLLM's meanings under vLLM's names: the report's shared keys against vLLM's own code.

``tests/unit/vllm_reference/serve_metrics.py`` is vLLM 0.34.0's ``calculate_metrics``, verbatim.
The same requests go through it and through ``loadtests.metrics.aggregate``; every figure the two
share must be equal (vLLM is given our ``duration``; what ``duration`` itself is, is checked
against vLLM's definition in ``test_duration_is_vllms_benchmark_duration``).
"""

from __future__ import annotations

import random

import pytest

from loadtests.metrics import aggregate
from loadtests.timing import RequestRecord
from tests.unit.vllm_reference.serve_metrics import RequestFuncOutput, calculate_metrics

pytestmark = [pytest.mark.unit]

MS = 1_000_000
PERCENTILES = [50.0, 90.0, 95.0, 99.0, 99.9]


def workload(seed: int = 7) -> list[RequestRecord]:
    """Four closed-loop users, uneven latencies and lengths, one token per chunk, a few failures."""
    rng = random.Random(seed)
    records = []
    clock = {u: 0.0 for u in range(4)}
    for i in range(120):
        user = i % 4
        sent = clock[user]
        r = RequestRecord(request_id=f"r{i}", api="openai-chat", stream=True, user=user, epoch_offset_ns=10**18)
        r.intended_start_ns = r.sent_ns = int(sent * MS)
        r.headers_ns = r.sent_ns + int(rng.uniform(0.5, 3) * MS)
        r.prompt_tokens_requested = 16
        if i % 17 == 5:
            r.fail("http_5xx", "HTTP 503")
            r.ended_ns = r.headers_ns
            clock[user] = sent + 3
            continue
        ttft = rng.lognormvariate(4.5, 0.6)
        n = rng.choice([1, 2, 8, 33, 64])
        gaps = [rng.uniform(5, 40) for _ in range(n - 1)]
        t = sent + ttft
        chunks = [t]
        for g in gaps:
            t += g
            chunks.append(t)
        r.token_chunk_ns = [int(c * MS) for c in chunks]
        r.first_token_ns, r.last_token_ns = r.token_chunk_ns[0], r.token_chunk_ns[-1]
        r.done_ns = r.ended_ns = r.last_token_ns + int(0.2 * MS)
        r.output_tokens, r.input_tokens = n, 16 + rng.randint(0, 9)
        r.output_words = n
        records.append(r)
        clock[user] = t + 0.2
    return records


def as_vllm(r: RequestRecord) -> RequestFuncOutput:
    """What vLLM's request function would have recorded for the same exchange."""
    out = RequestFuncOutput()
    out.success = r.ok
    out.start_time = r.epoch(r.sent_ns) / 1e9
    if r.ok:
        out.ttft = ((r.first_token_ns or 0) - r.sent_ns) / 1e9
        out.latency = ((r.last_token_ns or 0) - r.sent_ns) / 1e9
        out.itl = [(b - a) / 1e9 for a, b in zip(r.token_chunk_ns, r.token_chunk_ns[1:], strict=False)]
        out.output_tokens = r.output_tokens or 0
        out.prompt_len = r.input_tokens or 0
    return out


def test_every_shared_key_means_what_vllm_means() -> None:
    records = workload()
    slo = {"ttft": 120.0, "tpot": 25.0, "e2el": 900.0}
    ours = aggregate(records, slo=slo, percentiles=PERCENTILES).figures
    theirs, _ = calculate_metrics([], [as_vllm(r) for r in records], ours["duration"], None, PERCENTILES, slo)
    assert ours["completed"] == theirs.completed and ours["failed"] == theirs.failed
    assert (ours["total_input_tokens"], ours["total_output_tokens"]) == (theirs.total_input, theirs.total_output)
    for key in ("request_throughput", "request_goodput", "output_throughput", "total_token_throughput",
                "max_output_tokens_per_s"):
        assert ours[key] == pytest.approx(getattr(theirs, key)), key
    assert ours["max_concurrent_requests"] == theirs.max_concurrent_requests
    for metric in ("ttft", "tpot", "itl", "e2el"):
        for stat in ("mean", "median", "std"):
            assert ours[f"{stat}_{metric}_ms"] == pytest.approx(getattr(theirs, f"{stat}_{metric}_ms")), (stat, metric)
        for p, value in getattr(theirs, f"percentiles_{metric}_ms"):
            p_word = str(int(p)) if int(p) == p else str(p)  # vLLM's own key spelling
            assert ours[f"p{p_word}_{metric}_ms"] == pytest.approx(value), (p_word, metric)
    assert ours["request_goodput"] < ours["request_throughput"]  # the SLOs bite: the check means something


def test_duration_is_vllms_benchmark_duration() -> None:
    # vLLM: benchmark_start_time is taken before the first request goes out, the duration read when
    # the last request (answered or failed) is over. Here: first send .. last end, 1e18 ns offset or not.
    records = workload()
    f = aggregate(records).figures
    first = min(r.sent_ns for r in records)
    last = max(r.ended_ns or 0 for r in records)
    assert f["duration"] == pytest.approx((last - first) / 1e9)
    assert f["request_throughput"] == pytest.approx(f["completed"] / f["duration"])
