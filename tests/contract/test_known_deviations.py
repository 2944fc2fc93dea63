"""Known deviations excuse EXACTLY what they record: the same check, rule, endpoint and case, and
the same observed answer (``match``). The same rule broken any other way still fails.

Unit level (no server): ``contracts.suite.excuses`` / ``find_deviation`` against the real records
of the specs, and a check run over an in-memory transport (``httpx.MockTransport``), which is how
the suite pairs a violation with the response behind it.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from contracts.fuzz import fuzz_case, request_classes
from contracts.suite import Observation, Probe, Target, checks_for, find_deviation, run_check
from contracts.violation import Violation

pytestmark = [pytest.mark.contract]

CHAT = "POST /v1/chat/completions"
PARSE_ERROR = {
    "error": {
        "code": 500,
        "message": "[json.exception.parse_error.101] parse error at line 1, column 29: "
        "syntax error while parsing value - unexpected end of input",
        "type": "server_error",
    }
}
TIMINGS = {
    "prompt_n": 5,
    "prompt_ms": 1.0,
    "prompt_per_second": 5000.0,
    "predicted_n": 3,
    "predicted_ms": 1.0,
    "predicted_per_second": 3000.0,
}
CHAT_COMPLETION = {
    "id": "chatcmpl-x",
    "object": "chat.completion",
    "created": 1,
    "model": "tiny-llama",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "abc"}, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    "timings": TIMINGS,
}


def _json(status: int, body: Any) -> Observation:
    return Observation(status, "application/json", json.dumps(body).encode())


def _excused(
    provider_type: str,
    check: str,
    violation: Violation,
    observation: Observation | None,
    case: str | None = None,
) -> bool:
    found = find_deviation(
        provider_type,
        check=check,
        violation=violation,
        case=violation.expected if case is None else case,
        observation=observation,
    )
    return found is not None


MALFORMED = Violation("malformed-body", CHAT, "400 for a body that is not JSON", "500: ...")
ROLE = Violation("missing-field", CHAT, "400 for a message with an invalid role", "200: ...")


@pytest.mark.parametrize(
    ("observation", "excused"),
    [
        (_json(500, PARSE_ERROR), True),
        # the same status, llama-server's error shape, but not json::parse's message
        (
            _json(
                500,
                {"error": {"code": 500, "message": "Internal Server Error: boom", "type": "server_error"}},
            ),
            False,
        ),
        (_json(500, {"error": {**PARSE_ERROR["error"], "type": "invalid_request_error"}}), False),
        (_json(502, PARSE_ERROR), False),
        (Observation(500, "text/plain", b"Internal Server Error"), False),
        (None, False),  # no response behind the violation (a dropped connection)
    ],
    ids=["the-recorded-500", "other-message", "other-type", "other-status", "plain-text", "no-response"],
)
def test_llama_server_malformed_body_excuses_only_its_parse_error(
    observation: Observation | None, excused: bool
) -> None:
    assert _excused("llama_cpp", "malformed-body", MALFORMED, observation) is excused


def test_a_case_an_upstream_serves_by_design_is_no_longer_a_record() -> None:
    # llama-server never checks the role (server-common.cpp): the case is not run for llama_cpp
    # (contracts/provenance/llama_cpp.yaml, not_checked), so no record excuses it any more.
    assert not _excused("llama_cpp", "missing-field", ROLE, _json(200, CHAT_COMPLETION))


@pytest.mark.parametrize(
    ("check", "violation", "observation", "excused"),
    [
        ("missing-field", ROLE, _json(200, CHAT_COMPLETION), False),
        # served, but the body is not a llama_cpp ChatCompletion (no timings): not what was recorded
        (
            "missing-field",
            ROLE,
            _json(200, {k: v for k, v in CHAT_COMPLETION.items() if k != "timings"}),
            False,
        ),
        ("missing-field", ROLE, _json(500, PARSE_ERROR), False),
        # the same 200 for another case of the rule: no record
        (
            "missing-field",
            Violation("missing-field", CHAT, "400 for messages that is a string", "200: ..."),
            _json(200, CHAT_COMPLETION),
            False,
        ),
        # the same case reported by another check or on another endpoint
        ("invalid-param", ROLE, _json(200, CHAT_COMPLETION), False),
        (
            "missing-field",
            Violation("missing-field", "POST /v1/completions", ROLE.expected, "200: ..."),
            _json(200, CHAT_COMPLETION),
            False,
        ),
    ],
    ids=["not-recorded", "broken-body", "a-500", "other-case", "other-check", "other-endpoint"],
)
def test_a_served_request_is_excused_only_with_a_valid_completion(
    check: str, violation: Violation, observation: Observation, excused: bool
) -> None:
    assert _excused("llama_cpp", check, violation, observation) is excused


@pytest.mark.parametrize(
    ("check", "actual", "excused"),
    [
        ("completion-stream", "usage in 1 chunk(s)", True),
        ("completion-stream", "usage in 2 chunk(s)", False),
        ("chat-stream", "usage in 1 chunk(s)", False),
    ],
)
def test_a_stream_finding_is_excused_by_its_exact_text(check: str, actual: str, excused: bool) -> None:
    endpoint = "POST /v1/completions" if check == "completion-stream" else CHAT
    violation = Violation(
        "sse-usage", endpoint, "no usage (stream_options.include_usage not requested)", actual
    )
    assert _excused("llama_cpp", check, violation, None) is excused


def test_a_type_excuses_only_its_own_records() -> None:
    assert _excused("llama_cpp", "malformed-body", MALFORMED, _json(500, PARSE_ERROR))
    for other in ("vllm", "openai", "llama_cpp_python"):
        assert not _excused(other, "malformed-body", MALFORMED, _json(500, PARSE_ERROR)), other


def test_a_text_record_needs_a_text_plain_body() -> None:
    violation = Violation(
        "malformed-body", CHAT, "422 for a body that is not JSON", "500: Internal Server Error"
    )
    plain = Observation(500, "text/plain; charset=utf-8", b"Internal Server Error")
    assert _excused("llama_cpp_python", "malformed-body", violation, plain)
    assert not _excused(
        "llama_cpp_python",
        "malformed-body",
        violation,
        Observation(500, "application/json", b"Internal Server Error"),
    )
    assert not _excused(
        "llama_cpp_python",
        "malformed-body",
        violation,
        Observation(500, "text/plain; charset=utf-8", b"Internal Server Error!"),
    )


def test_fuzz_findings_are_matched_without_the_generated_request() -> None:
    request: Any = {"messages": [{"content": "x"}], "model": "tiny-llama"}
    violation = Violation(
        "missing-field", CHAT, f"no 5xx for an invalid request {json.dumps(request)}", "500: ..."
    )
    assert fuzz_case(violation, request) == "no 5xx for an invalid request"
    parse = _json(
        500,
        {
            "error": {
                "code": 500,
                "message": "Failed to parse messages: Missing 'role' in message: {}",
                "type": "server_error",
            }
        },
    )
    check = "fuzz POST /v1/chat/completions (negative)"
    # excused only for its exact class of request: a message without a role
    assert not _excused("llama_cpp", check, violation, parse, fuzz_case(violation, request))
    classes = request_classes("llama_cpp", "/v1/chat/completions", request)
    assert classes[0] == "a message without a role"
    assert find_deviation("llama_cpp", check=check, violation=violation, case=fuzz_case(violation, request),
                          observation=parse, request_classes=classes) is not None
    # the same finding in positive mode (a VALID request answered 500) is not excused
    assert not _excused(
        "llama_cpp",
        "fuzz POST /v1/chat/completions (positive)",
        violation,
        parse,
        fuzz_case(violation, request),
    )
    # nor another 500 body
    assert not _excused("llama_cpp", check, violation, _json(500, PARSE_ERROR), fuzz_case(violation, request))


def test_an_assertion_500_is_excused_only_with_its_empty_message() -> None:
    violation = Violation(
        "completion-schema", "POST /v1/completions", "no 5xx for a valid request", "500: ..."
    )
    check = "fuzz POST /v1/completions (positive)"
    body = {"error": {"message": "", "type": "internal_server_error", "param": None, "code": None}}
    batch = request_classes("llama_cpp_python", "/v1/completions", {"prompt": ["a", "b"]})
    assert "a batch of prompts" in batch

    def excused(observation: Observation, classes: tuple[str, ...]) -> bool:
        return find_deviation("llama_cpp_python", check=check, violation=violation, case=violation.expected,
                              observation=observation, request_classes=classes) is not None

    assert excused(_json(500, body), batch)
    assert not excused(_json(500, {"error": {**body["error"], "message": "x"}}), batch)
    # the same 500 for a request that is not a batch: not what the record excuses
    assert not excused(_json(500, body), request_classes("llama_cpp_python", "/v1/completions", {"prompt": "a"}))


def _probe(handler: Any) -> Probe:
    client = httpx.Client(base_url="http://llama-server.test", transport=httpx.MockTransport(handler))
    return Probe(Target("llama_cpp", "http://llama-server.test"), "tiny-llama", client)


@pytest.mark.parametrize(
    ("answer", "known", "violations"),
    [
        (httpx.Response(500, json=PARSE_ERROR), 1, []),
        (
            httpx.Response(500, json={"error": {"code": 500, "message": "boom", "type": "server_error"}}),
            0,
            ["malformed-body"],
        ),
        (
            httpx.Response(
                400, json={"error": {"code": 400, "message": "bad JSON", "type": "invalid_request_error"}}
            ),
            0,
            [],
        ),
    ],
    ids=["recorded-500", "other-500", "the-contract's-400"],
)
def test_the_suite_pairs_a_violation_with_its_response(
    answer: httpx.Response, known: int, violations: list[str]
) -> None:
    probe = _probe(lambda request: answer)
    check = next(c for c in checks_for("llama_cpp") if c.name == "malformed-body")
    try:
        outcome = run_check(probe, check)
    finally:
        probe.client.close()
    assert ([v.rule for v in outcome.violations], len(outcome.known)) == (violations, known)
    assert [k.server for k in outcome.known] == ["llama.cpp as vendored by llama-cpp-python 0.3.36"] * known


@pytest.mark.parametrize(
    ("provider_type", "check", "violation", "excused"),
    [
        *(("llama_cpp_python", "chat", Violation("max-tokens", CHAT, "completion_tokens <= max_tokens = 3",
                                                  f"completion_tokens = {n}"), True) for n in (4, 5, 6)),
        # one token more than a character can need: not what llama-cpp-python's loop does
        ("llama_cpp_python", "chat", Violation("max-tokens", CHAT, "completion_tokens <= max_tokens = 3",
                                               "completion_tokens = 7"), False),
        # the same overrun from another server fails
        ("llama_cpp", "chat", Violation("max-tokens", CHAT, "completion_tokens <= max_tokens = 3",
                                        "completion_tokens = 4"), False),
        # seen in content chunks (a text that is not UTF-8): up to 3 more, not 4
        ("llama_cpp_python", "chat-stream", Violation("max-tokens", CHAT, "at most max_tokens = 3 tokens",
                                                      "6 content chunks for choice 0"), True),
        ("llama_cpp_python", "chat-stream", Violation("max-tokens", CHAT, "at most max_tokens = 3 tokens",
                                                      "7 content chunks for choice 0"), False),
        # fuzzing's max_tokens 2: 3-5 excused, the suite's numbers are not
        ("llama_cpp_python", "fuzz POST /v1/completions (positive)",
         Violation("max-tokens", "POST /v1/completions", "completion_tokens <= max_tokens = 2", "completion_tokens = 5"), True),
        ("llama_cpp_python", "fuzz POST /v1/completions (positive)",
         Violation("max-tokens", "POST /v1/completions", "completion_tokens <= max_tokens = 2", "completion_tokens = 6"), False),
    ],
    ids=["plus-1", "plus-2", "plus-3", "plus-4", "llama-server", "chunks-plus-3", "chunks-plus-4", "fuzz-plus-3",
         "fuzz-plus-4"],
)
def test_an_overrun_is_excused_only_by_the_sizes_a_character_allows(
    provider_type: str, check: str, violation: Violation, excused: bool
) -> None:
    assert _excused(provider_type, check, violation, None) is excused
