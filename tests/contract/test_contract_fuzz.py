"""Request fuzzing with schemathesis over each target's spec (seeded, few examples, tiny
max_tokens), judged by the contract rules; and the stream checks working as schemathesis checks."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from schemathesis.core.failures import FailureGroup

from contracts.fuzz import fuzz_target, stream_conformance, usage_conformance
from contracts.provenance import is_advisory
from contracts.schemas import load_spec, spec_path
from contracts.suite import Target, open_probe

pytestmark = [pytest.mark.contract]

EXAMPLES = 6
SEED = 20240611


def test_fuzz(contract_target: Target) -> None:
    probe = open_probe(contract_target)
    probe.client.close()
    outcomes = fuzz_target(contract_target, probe.model, examples=EXAMPLES, seed=SEED)
    # every operation of the spec was exercised: positive cases, and negative ones for POSTs
    operations = [(m.upper(), p) for p, item in load_spec(contract_target.type)["paths"].items() for m in item]
    expected = [
        f"fuzz {method} {path} ({mode})"
        for method, path in operations
        for mode in (("positive", "negative") if method == "POST" else ("positive",))
    ]
    assert sorted(o.check for o in outcomes) == sorted(expected)
    # The llama.cpp simulators reproduce their real servers' 500s, which the specs record in
    # x-known-deviations: contracts/fuzz.py reports them as known, not as violations.
    found = [f"{o.check}: {v}" for o in outcomes for v in o.violations]
    assert found == [], "\n".join(found)
    if contract_target.name in ("sim-llama_cpp", "sim-llama_cpp_python"):
        known = sorted({(o.check, k.violation.rule) for o in outcomes for k in o.known})
        assert known != [], "the seeded run met none of the recorded deviations"


def _stream_case(provider_type: str, path: str, body: dict[str, Any]) -> schemathesis.Case:
    schema = schemathesis.openapi.from_path(str(spec_path(provider_type)))
    return schema[path]["POST"].Case(body=body, media_type="application/json")


@pytest.mark.parametrize(
    ("provider_type", "path", "body"),
    [
        ("vllm", "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "stream": True}),
        ("ollama", "/api/chat", {"messages": [{"role": "user", "content": "hi"}], "options": {"num_predict": 3}}),
    ],
    ids=["sse", "ndjson"],
)
def test_stream_checks_run_inside_schemathesis(
    simulator_factory: Any, provider_type: str, path: str, body: dict[str, Any]
) -> None:
    sim = simulator_factory(provider_type, ttft_ms=1.0, tpot_ms=0.5)
    body = {**body, "model": sim.config.models[0]}
    case = _stream_case(provider_type, path, body)
    response = case.call(base_url=sim.url)
    case.validate_response(response, checks=[stream_conformance])

    rule = "sse-done" if provider_type == "vllm" else "ndjson-done"
    sim.control(violations=[rule])
    broken = case.call(base_url=sim.url)
    with pytest.raises(FailureGroup) as caught:
        case.validate_response(broken, checks=[stream_conformance])
    messages = [failure.message for failure in caught.value.exceptions]
    expected = {
        "sse-done": f"{path}: [sse-done] expected the last event is 'data: [DONE]'; got last event: ",
        "ndjson-done": f"{path}: [ndjson-done] expected done_reason, total_duration and integer metrics on the done line; got ",
    }[rule]
    assert len(messages) == 1 and messages[0].startswith("POST " + expected), messages


def test_usage_check_runs_inside_schemathesis(simulator_factory: Any) -> None:
    sim = simulator_factory("openai", ttft_ms=1.0, tpot_ms=0.5, violations=["usage-arithmetic"])
    body = {"model": sim.config.models[0], "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
    case = _stream_case("openai", "/v1/chat/completions", body)
    response = case.call(base_url=sim.url)
    usage = response.json()["usage"]
    with pytest.raises(FailureGroup) as caught:
        case.validate_response(response, checks=[usage_conformance])
    prompt, completion = usage["prompt_tokens"], usage["completion_tokens"]
    assert [failure.message for failure in caught.value.exceptions] == [
        "POST /v1/chat/completions: [usage-arithmetic] expected total_tokens = prompt_tokens + completion_tokens"
        f" = {prompt} + {completion} = {prompt + completion}; got total_tokens = {prompt + completion + 1}"
    ]


# Fuzzing has teeth of its own: with these violation modes on, the seeded fuzz run alone (no
# deterministic check) reports the rule, and only it; a rule advisory for the type, as a warning.
# (missing-field / invalid-param modes serve invalid requests with 200: fuzzing warns of those,
# test_fuzzing_warns_of_accepted_invalid_requests.)
FUZZ_FINDS = [
    ("vllm", "chat-schema"),
    ("vllm", "error-schema"),
    ("vllm", "sse-done"),
    ("vllm", "usage-arithmetic"),
    ("vllm", "max-tokens"),
    ("openai", "malformed-body"),
    ("ollama", "ndjson-framing"),
    ("ollama", "ollama-error"),
]


@pytest.mark.parametrize(("provider_type", "rule"), FUZZ_FINDS, ids=[f"{t}-{r}" for t, r in FUZZ_FINDS])
def test_fuzzing_alone_finds_a_violation(session_simulator_factory: Any, provider_type: str, rule: str) -> None:
    sim = session_simulator_factory(provider_type, ttft_ms=1.0, tpot_ms=0.5, seed=1_414_213)
    sim.control(violations=[rule])
    try:
        outcomes = fuzz_target(Target(provider_type, sim.url), sim.config.models[0], examples=EXAMPLES, seed=SEED)
    finally:
        sim.control(violations=[])
    found = {v.rule for o in outcomes for v in o.violations}
    if is_advisory(provider_type, rule):
        assert (found, rule in {w.rule for o in outcomes for w in o.warnings}) == (set(), True)
    else:
        assert found == {rule}


def test_fuzzing_warns_of_accepted_invalid_requests(session_simulator_factory: Any) -> None:
    """Negative fuzzing reports an invalid request the server served as a warning, with its exchange."""
    sim = session_simulator_factory("vllm", ttft_ms=1.0, tpot_ms=0.5, seed=1_414_213)
    sim.control(violations=["invalid-param"])
    try:
        outcomes = fuzz_target(Target("vllm", sim.url), sim.config.models[0], examples=EXAMPLES, seed=SEED)
    finally:
        sim.control(violations=[])
    assert [v for o in outcomes for v in o.violations] == []
    accepted = [w for o in outcomes for w in o.warnings if w.expected.startswith("a 4xx for an invalid request")]
    assert accepted, "no accepted invalid request reported"
    assert all(w.exchange is not None and w.exchange.status == 200 for w in accepted)
