"""The suite's HTTP-facing checks against respx-mocked servers (no sockets): what a check sends,
and which rule it reports for which answer."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from contracts import suite
from contracts.suite import Probe, Target, open_probe, run_check, run_suite
from contracts.violation import Violation
from generator.errors import UsageError

pytestmark = [pytest.mark.unit]

URL = "http://vllm.test:8000"
MODELS = {
    "object": "list",
    "data": [
        {
            "id": "Qwen/Qwen2.5-0.5B-Instruct",
            "object": "model",
            "created": 1700000000,
            "owned_by": "vllm",
            "root": "Qwen/Qwen2.5-0.5B-Instruct",
            "parent": None,
            "max_model_len": 4096,
            "permission": [{}],
        }
    ],
}


def probe(provider_type: str = "vllm", model: str = "Qwen/Qwen2.5-0.5B-Instruct") -> Probe:
    return Probe(Target(provider_type, URL), model, httpx.Client(base_url=URL))


def check(name: str) -> suite.Check:
    return next(c for c in suite.CHECKS if c.name == name)


@respx.mock
def test_models_check_passes_a_vllm_model_list() -> None:
    respx.get(f"{URL}/v1/models").respond(200, json=MODELS)
    assert run_check(probe(), check("models")).violations == []


@respx.mock
def test_models_check_reports_the_schema_path() -> None:
    bad = json.loads(json.dumps(MODELS))
    del bad["data"][0]["created"]
    bad["data"][0]["owned_by"] = "me"
    respx.get(f"{URL}/v1/models").respond(200, json=bad)
    assert run_check(probe(), check("models")).violations == [
        Violation(
            "models-schema",
            "GET /v1/models",
            "a body matching the vllm ModelList schema",
            "data/0: 'created' is a required property; data/0/owned_by: 'vllm' was expected",
        )
    ]


@respx.mock
def test_llama_cpp_python_models_without_created_pass_its_own_spec() -> None:
    entry = {"id": "m.gguf", "object": "model", "owned_by": "me", "permissions": []}
    respx.get(f"{URL}/v1/models").respond(200, json={"object": "list", "data": [entry]})
    assert run_check(probe("llama_cpp_python", "m.gguf"), check("models")).violations == []
    respx.get(f"{URL}/v1/models").respond(200, json={"object": "list", "data": [{**entry, "created": 1}]})
    assert [v.actual for v in run_check(probe("llama_cpp_python", "m.gguf"), check("models")).violations] == [
        "data/0: Additional properties are not allowed ('created' was unexpected)"
    ]


@respx.mock
def test_models_check_reports_content_type() -> None:
    respx.get(f"{URL}/v1/models").respond(200, content=json.dumps(MODELS).encode(), headers={"content-type": "text/plain"})
    assert [v.rule for v in run_check(probe(), check("models")).violations] == ["json-content-type"]


@respx.mock
def test_vllm_health_must_be_empty() -> None:
    respx.get(f"{URL}/health").respond(200, content=b"")
    assert run_check(probe(), check("health")).violations == []
    respx.get(f"{URL}/health").respond(200, json={"status": "ok"})
    assert run_check(probe(), check("health")).violations == [
        Violation("health", "GET /health", "200 with an EMPTY body", "body '{\"status\":\"ok\"}'")
    ]


@respx.mock
def test_unknown_model_sends_the_unknown_name_and_wants_404_with_error_body() -> None:
    seen: list[Any] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content)["model"])
        return httpx.Response(404, json={"error": {"message": "no", "type": "NotFoundError", "param": None, "code": 404}})

    respx.post(f"{URL}/v1/chat/completions").mock(side_effect=answer)
    respx.post(f"{URL}/v1/completions").mock(side_effect=answer)
    assert run_check(probe(), check("unknown-model")).violations == []
    assert seen == [suite.UNKNOWN_MODEL, suite.UNKNOWN_MODEL]


@respx.mock
def test_unknown_model_served_with_200_is_reported() -> None:
    respx.post(f"{URL}/v1/chat/completions").respond(200, json={})
    respx.post(f"{URL}/v1/completions").respond(404, json={"detail": "Not Found"})
    found = run_check(probe(), check("unknown-model")).violations
    assert found == [
        Violation("error-schema", "POST /v1/completions", "the vllm Error body for an unknown model", "(root): 'error' is a required property"),
        Violation("unknown-model", "POST /v1/chat/completions", "404 for an unknown model", "200: {}"),
    ]


@respx.mock
def test_vllm_error_body_is_the_nested_form_with_an_integer_code() -> None:
    # vLLM 0.34.0's ErrorResponse (serve/engine/protocol.py): the flat pre-0.10.1 form is gone.
    nested = {"error": {"message": "m", "type": "Bad Request", "param": None, "code": 400}}
    respx.post(f"{URL}/v1/chat/completions").respond(400, json=nested)
    assert run_check(probe(), check("malformed-body")).violations == []
    flat = {"object": "error", "message": "m", "type": "BadRequestError", "param": None, "code": 400}
    respx.post(f"{URL}/v1/chat/completions").respond(400, json=flat)
    assert [v.rule for v in run_check(probe(), check("malformed-body")).violations] == ["error-schema"]


@respx.mock
def test_malformed_body_sends_broken_json_and_rejects_500() -> None:
    route = respx.post(f"{URL}/v1/chat/completions").respond(500, text="Internal Server Error")
    assert run_check(probe(), check("malformed-body")).violations == [
        Violation("malformed-body", "POST /v1/chat/completions", "400 for a body that is not JSON", "500: Internal Server Error")
    ]
    sent = route.calls.last.request
    # a server may drop the connection after a broken body: it is never reused
    assert (sent.content, sent.headers["connection"]) == (b'{"model": "x", "messages": [', "close")


@respx.mock
def test_llama_cpp_python_validation_is_fastapi_422() -> None:
    detail = {"detail": [{"type": "json_invalid", "loc": ["body", 28], "msg": "JSON decode error"}]}
    respx.post(f"{URL}/v1/chat/completions").respond(422, json=detail)
    assert run_check(probe("llama_cpp_python", "m.gguf"), check("malformed-body")).violations == []
    respx.post(f"{URL}/v1/chat/completions").respond(422, json={"detail": "JSON decode error"})
    assert [v.rule for v in run_check(probe("llama_cpp_python", "m.gguf"), check("malformed-body")).violations] == ["error-schema"]


@respx.mock
def test_a_dropped_connection_fails_the_checks_first_rule() -> None:
    respx.post(f"{URL}/v1/chat/completions").mock(side_effect=httpx.RemoteProtocolError("peer closed connection"))
    assert run_check(probe(), check("chat")).violations == [
        Violation("chat-schema", "POST /v1/chat/completions", "a complete HTTP response", "RemoteProtocolError: peer closed connection")
    ]


@respx.mock
def test_model_discovery_takes_the_first_listed() -> None:
    respx.get(f"{URL}/v1/models").respond(200, json=MODELS)
    opened = open_probe(Target("vllm", URL + "/v1/"))
    assert (opened.model, opened.client.base_url) == ("Qwen/Qwen2.5-0.5B-Instruct", httpx.URL(URL))


@respx.mock
def test_model_discovery_for_ollama_reads_tags() -> None:
    respx.get(f"{URL}/api/tags").respond(200, json={"models": [{"name": "llama3.2:latest"}]})
    assert open_probe(Target("ollama", URL)).model == "llama3.2:latest"


@respx.mock
def test_no_model_listed_asks_for_model() -> None:
    respx.get(f"{URL}/v1/models").respond(200, json={"object": "list", "data": []})
    with pytest.raises(UsageError) as caught:
        open_probe(Target("vllm", URL))
    assert str(caught.value) == (
        f"vllm={URL}: cannot find a model to exercise: GET /v1/models answered 200 "
        '{"object":"list","data":[]}\n  hint: pass --model NAME'
    )


@respx.mock
def test_unreachable_server_is_a_usage_error() -> None:
    respx.get(f"{URL}/v1/models").mock(side_effect=httpx.ConnectError("Connection refused"))
    with pytest.raises(UsageError, match=r"^vllm=http://vllm.test:8000: cannot reach the server: Connection refused"):
        run_suite(Target("vllm", URL))


def test_unknown_type_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown provider type 'tgi'"):
        Target("tgi", URL)


@respx.mock
def test_bearer_key_is_sent_when_given() -> None:
    route = respx.get(f"{URL}/v1/models").respond(200, json=MODELS)
    open_probe(Target("litellm", URL, api_key="sk-test"))
    assert route.calls.last.request.headers["authorization"] == "Bearer sk-test"


def test_every_check_names_catalogue_rules_and_every_rule_has_a_check() -> None:
    from contracts.rules import RULES

    covered = {rule for c in suite.CHECKS for rule in c.rules}
    assert covered == set(RULES)
