"""The contract suite: every check of a provider type's contract, runnable outside pytest.

``run_suite(target)`` sends the requests of every check that applies to ``target.type`` and
returns a ``SuiteReport`` whose ``violations`` name the broken rules (ids of
``contracts/rules.py``). The pytest modules ``tests/contract/test_contract_*.py`` parametrise
over ``CHECKS`` (one test per check and target), ``aibackend contract`` runs them all.

Each check is a small function of a ``Probe`` (an HTTP client bound to one target and model).
What a correct answer is comes from the type's spec (``contracts/specs/<type>.yaml``) and, for
streams, from ``contracts/streaming.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from contracts.rules import OPENAI_LIKE, RULES
from contracts.schemas import SpecSchemas, load_spec, spec_schemas
from contracts.specbuilder import PROVIDER_TYPES
from contracts.streaming import (
    NdjsonExpectations,
    SseExpectations,
    check_json_content_type,
    check_ndjson_stream,
    check_sse_stream,
    check_usage,
)
from contracts.violation import Violation
from generator.errors import UsageError

__all__ = [
    "CHECKS",
    "Check",
    "KnownDeviation",
    "Observation",
    "Probe",
    "SuiteReport",
    "Target",
    "checks_for",
    "discover_model",
    "excuses",
    "find_deviation",
    "known_deviations",
    "open_probe",
    "run_suite",
]

MAX_TOKENS = 3  # small: a contract run exercises the protocol, not the model
PROMPT = "Say hello in three words."
UNKNOWN_MODEL = "no-such-model-for-contract-check"
# Types whose server serves one model and ignores the name in a request (no 404).
IGNORES_MODEL_NAME = frozenset({"llama_cpp", "llama_cpp_python"})
# FastAPI answers request-validation errors with 422 and its own {"detail": [...]} body.
VALIDATION_STATUS = {"llama_cpp_python": 422}
# llama-cpp-python ignores stream_options: no usage in streams, no 400 without stream.
IGNORES_STREAM_OPTIONS = frozenset({"llama_cpp_python"})
# llama-cpp-python's request models default a missing `messages` to [] and `prompt` to "".
FASTAPI_DEFAULTS = frozenset({"llama_cpp_python"})


@dataclass(frozen=True)
class Target:
    type: str
    url: str
    model: str | None = None
    api_key: str | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.type not in PROVIDER_TYPES:
            raise UsageError(
                f"unknown provider type {self.type!r}", hint=f"use one of: {', '.join(PROVIDER_TYPES)}"
            )

    @property
    def base_url(self) -> str:
        # providers.yaml writes OpenAI-style base URLs with /v1; the specs' paths include it.
        url = self.url.rstrip("/")
        return url[: -len("/v1")] if url.endswith("/v1") else url

    @property
    def label(self) -> str:
        return self.name or f"{self.type}={self.url}"


@dataclass
class Probe:
    """One target, one model, one HTTP client; what every check is given."""

    target: Target
    model: str
    client: httpx.Client
    schemas: SpecSchemas = field(init=False)
    # The response behind each violation a check reported: what known deviations are matched on.
    observed: dict[Violation, httpx.Response] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.schemas = spec_schemas(self.target.type)

    @property
    def type(self) -> str:
        return self.target.type

    def request(self, method: str, path: str, *, body: Any = None, raw: bytes | None = None) -> httpx.Response:
        if raw is not None:
            # Some servers (llama-cpp-python 0.3) answer a broken body and then silently drop the
            # keep-alive connection: never let that surface as the NEXT check's failure.
            headers = {"Content-Type": "application/json", "Connection": "close"}
            return self.client.request(method, path, content=raw, headers=headers)
        if body is not None:
            return self.client.request(method, path, json=body)
        return self.client.request(method, path)

    def error_schema(self, method: str, path: str, status: int) -> str | None:
        """The schema the spec gives this operation's ``status`` response (None: undocumented)."""
        operation = load_spec(self.type)["paths"].get(path, {}).get(method.lower(), {})
        documented = operation.get("responses", {}).get(str(status), {})
        schema = documented.get("content", {}).get("application/json", {}).get("schema", {})
        ref = schema.get("$ref", "")
        return ref.rsplit("/", 1)[-1] if ref else None


CheckFunction = Callable[[Probe], list[Violation]]


@dataclass(frozen=True)
class Check:
    name: str
    types: frozenset[str]
    rules: tuple[str, ...]  # the rules this check can report (the README's table)
    run: CheckFunction
    description: str = ""
    # The rule a broken exchange (dropped connection, timeout) breaks; default: the first rule.
    transport_rule: str | None = None


@dataclass(frozen=True)
class KnownDeviation:
    """A violation the type's spec records as a real server's known deviation (``x-known-deviations``)."""

    violation: Violation
    server: str
    why: str
    evidence: str

    def to_dict(self) -> dict[str, str]:
        return {**self.violation.to_dict(), "server": self.server, "why": self.why, "evidence": self.evidence}


@dataclass
class CheckOutcome:
    check: str
    violations: list[Violation]
    known: list[KnownDeviation] = field(default_factory=list)


@dataclass
class SuiteReport:
    target: Target
    model: str
    outcomes: list[CheckOutcome]

    @property
    def violations(self) -> list[Violation]:
        return [v for outcome in self.outcomes for v in outcome.violations]

    @property
    def known_deviations(self) -> list[KnownDeviation]:
        return [k for outcome in self.outcomes for k in outcome.known]

    @property
    def violated_rules(self) -> set[str]:
        return {v.rule for v in self.violations}

    @property
    def ok(self) -> bool:
        return not self.violations


def _clip(text: str, limit: int = 200) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _endpoint(method: str, path: str) -> str:
    return f"{method} {path}"


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _schema_violations(probe: Probe, rule: str, endpoint: str, schema: str, document: Any) -> list[Violation]:
    errors = probe.schemas.errors(schema, document)
    if not errors:
        return []
    return [Violation(rule, endpoint, f"a body matching the {probe.type} {schema} schema", "; ".join(errors))]


def _expect_status(
    rule: str, endpoint: str, response: httpx.Response, wanted: int, what: str, probe: Probe | None = None
) -> list[Violation]:
    if response.status_code == wanted:
        return []
    violation = Violation(rule, endpoint, f"{wanted} {what}", f"{response.status_code}: {_clip(response.text)}")
    if probe is not None:
        probe.observed[violation] = response
    return [violation]


# --- OpenAI-compatible surface ----------------------------------------------------------------


def chat_body(probe: Probe, **extra: Any) -> dict[str, Any]:
    return {"model": probe.model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": MAX_TOKENS, **extra}


def completion_body(probe: Probe, **extra: Any) -> dict[str, Any]:
    return {"model": probe.model, "prompt": PROMPT, "max_tokens": MAX_TOKENS, **extra}


def check_models(probe: Probe) -> list[Violation]:
    endpoint = "GET /v1/models"
    response = probe.request("GET", "/v1/models")
    found = _expect_status("models-schema", endpoint, response, 200, "with the model list")
    if found:
        return found
    found += check_json_content_type(response.headers, endpoint)
    found += _schema_violations(probe, "models-schema", endpoint, "ModelList", _json(response))
    return found


def _non_stream(probe: Probe, path: str, body: dict[str, Any], schema: str, rule: str) -> list[Violation]:
    endpoint = _endpoint("POST", path)
    response = probe.request("POST", path, body=body)
    found = _expect_status(rule, endpoint, response, 200, f"with a {schema}")
    if found:
        return found
    found += check_json_content_type(response.headers, endpoint)
    document = _json(response)
    if document is None:
        return [*found, Violation(rule, endpoint, f"a JSON {schema}", f"not JSON: {_clip(response.text)}")]
    found += _schema_violations(probe, rule, endpoint, schema, document)
    found += check_usage(document.get("usage") if isinstance(document, dict) else None, endpoint, MAX_TOKENS)
    return found


def check_chat(probe: Probe) -> list[Violation]:
    return _non_stream(probe, "/v1/chat/completions", chat_body(probe), "ChatCompletion", "chat-schema")


def check_completion(probe: Probe) -> list[Violation]:
    return _non_stream(probe, "/v1/completions", completion_body(probe), "TextCompletion", "completion-schema")


def _stream(probe: Probe, path: str, body: dict[str, Any], kind: str, include_usage: bool) -> list[Violation]:
    endpoint = _endpoint("POST", path)
    response = probe.request("POST", path, body=body)
    rule = "chat-schema" if kind == "chat" else "completion-schema"
    found = _expect_status(rule, endpoint, response, 200, "with a stream")
    if found:
        return found
    schema = "ChatCompletionChunk" if kind == "chat" else "TextCompletionChunk"
    expect = SseExpectations(
        kind="chat" if kind == "chat" else "completion",
        include_usage=include_usage,
        max_tokens=MAX_TOKENS,
        chunk_errors=lambda doc: probe.schemas.errors(schema, doc),
    )
    return check_sse_stream(response.content, response.headers, endpoint, expect)


def _stream_body(probe: Probe, make: Callable[..., dict[str, Any]], include_usage: bool) -> dict[str, Any]:
    if include_usage:
        return make(probe, stream=True, stream_options={"include_usage": True})
    return make(probe, stream=True)


def check_chat_stream(probe: Probe) -> list[Violation]:
    return _stream(probe, "/v1/chat/completions", _stream_body(probe, chat_body, False), "chat", False)


def check_chat_stream_usage(probe: Probe) -> list[Violation]:
    return _stream(probe, "/v1/chat/completions", _stream_body(probe, chat_body, True), "chat", True)


def check_completion_stream(probe: Probe) -> list[Violation]:
    return _stream(probe, "/v1/completions", _stream_body(probe, completion_body, False), "completion", False)


def check_completion_stream_usage(probe: Probe) -> list[Violation]:
    return _stream(probe, "/v1/completions", _stream_body(probe, completion_body, True), "completion", True)


def check_llama_native_completion(probe: Probe) -> list[Violation]:
    """llama-server's own POST /completion: {content, stop, stop_type, timings, tokens_predicted}."""
    endpoint = "POST /completion"
    response = probe.request("POST", "/completion", body={"prompt": PROMPT, "n_predict": MAX_TOKENS})
    found = _expect_status("completion-schema", endpoint, response, 200, "with a NativeCompletion")
    if found:
        return found
    found += check_json_content_type(response.headers, endpoint)
    document = _json(response)
    found += _schema_violations(probe, "completion-schema", endpoint, "NativeCompletion", document)
    predicted = document.get("tokens_predicted") if isinstance(document, dict) else None
    if isinstance(predicted, int) and predicted > MAX_TOKENS:
        found.append(Violation("max-tokens", endpoint, f"tokens_predicted <= n_predict = {MAX_TOKENS}", f"tokens_predicted = {predicted}"))
    return found


def _expect_error(
    probe: Probe,
    rule: str,
    path: str,
    wanted: int,
    *,
    body: Any = None,
    raw: bytes | None = None,
    what: str,
    schema_rule: str = "error-schema",
    also: frozenset[int] = frozenset(),
) -> list[Violation]:
    endpoint = _endpoint("POST", path)
    response = probe.request("POST", path, body=body, raw=raw)
    if response.status_code in also:
        wanted = response.status_code  # an equally correct answer, held to its own error body
    if response.status_code != wanted:
        violation = Violation(rule, endpoint, f"{wanted} for {what}", f"{response.status_code}: {_clip(response.text)}")
        probe.observed[violation] = response
        return [violation]
    schema = probe.error_schema("POST", path, wanted)
    if schema is None:
        return []
    document = _json(response)
    errors = probe.schemas.errors(schema, document) if document is not None else [f"not JSON: {_clip(response.text)}"]
    if errors:
        return [Violation(schema_rule, endpoint, f"the {probe.type} {schema} body for {what}", "; ".join(errors))]
    return []


def _validation_status(probe: Probe) -> int:
    return VALIDATION_STATUS.get(probe.type, 400)


def check_unknown_model(probe: Probe) -> list[Violation]:
    if probe.type in IGNORES_MODEL_NAME:
        # One model per server: the name is ignored and the request served.
        endpoint = "POST /v1/chat/completions"
        response = probe.request("POST", "/v1/chat/completions", body={**chat_body(probe), "model": UNKNOWN_MODEL})
        return _expect_status("unknown-model", endpoint, response, 200, f"(a {probe.type} server ignores the model name)", probe)
    # LiteLLM answers an unknown model group with 400 (litellm.BadRequestError), the others 404.
    # A gateway with a catch-all group (`model_name: "*"`) HAS a group for any name: it forwards the
    # request and the backend's 404 comes back in LiteLLM's Error body (litellm.NotFoundError) —
    # correct for that configuration, so the litellm contract accepts it.
    wanted, also = (400, frozenset({404})) if probe.type == "litellm" else (404, frozenset())
    found = _expect_error(
        probe, "unknown-model", "/v1/chat/completions", wanted, body={**chat_body(probe), "model": UNKNOWN_MODEL}, what="an unknown model", also=also
    )
    found += _expect_error(
        probe, "unknown-model", "/v1/completions", wanted, body={**completion_body(probe), "model": UNKNOWN_MODEL}, what="an unknown model", also=also
    )
    return found


def check_malformed_body(probe: Probe) -> list[Violation]:
    return _expect_error(
        probe, "malformed-body", "/v1/chat/completions", _validation_status(probe), raw=b'{"model": "x", "messages": [', what="a body that is not JSON"
    )


def check_missing_field(probe: Probe) -> list[Violation]:
    status = _validation_status(probe)
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/v1/chat/completions", {**chat_body(probe), "messages": "hello"}, "messages that is a string"),
        ("/v1/chat/completions", {**chat_body(probe), "messages": [{"role": "wizard", "content": "hi"}]}, "a message with an invalid role"),
        ("/v1/completions", {**completion_body(probe), "prompt": 42}, "a prompt that is a number"),
    ]
    if probe.type not in FASTAPI_DEFAULTS:
        cases += [
            ("/v1/chat/completions", {"model": probe.model, "max_tokens": MAX_TOKENS}, "a chat request without messages"),
            ("/v1/completions", {"model": probe.model, "max_tokens": MAX_TOKENS}, "a completion request without prompt"),
        ]
    if probe.type not in IGNORES_MODEL_NAME:
        cases += [
            ("/v1/chat/completions", {k: v for k, v in chat_body(probe).items() if k != "model"}, "a request without model"),
            ("/v1/chat/completions", {**chat_body(probe), "model": 123}, "a model that is a number"),
        ]
    found: list[Violation] = []
    for path, body, what in cases:
        found += _expect_error(probe, "missing-field", path, status, body=body, what=what)
    return found


def check_invalid_param(probe: Probe) -> list[Violation]:
    status = _validation_status(probe)
    if probe.type in FASTAPI_DEFAULTS:
        # llama-cpp-python's pydantic models bound only top_p (chat and completions) and the
        # completions' max_tokens; it accepts temperature 2.5 or n=0 as the real server does.
        cases = [("/v1/chat/completions", "top_p", 1.5), ("/v1/chat/completions", "top_p", -0.1), ("/v1/completions", "max_tokens", -1)]
    else:
        cases = [("/v1/chat/completions", name, value) for name, value in
                 [("max_tokens", 0), ("n", 0), ("temperature", 2.5), ("temperature", -0.5), ("top_p", 1.5)]]
        cases.append(("/v1/completions", "max_tokens", 0))
    found: list[Violation] = []
    for path, name, value in cases:
        make = chat_body if path == "/v1/chat/completions" else completion_body
        found += _expect_error(probe, "invalid-param", path, status, body={**make(probe), name: value}, what=f"{name}={value}")
    return found


def check_stream_options_without_stream(probe: Probe) -> list[Violation]:
    found: list[Violation] = []
    for stream in (None, False):
        body = chat_body(probe, stream_options={"include_usage": True})
        if stream is not None:
            body["stream"] = stream
        what = "stream_options without stream" if stream is None else "stream_options with stream: false"
        found += _expect_error(probe, "stream-options-without-stream", "/v1/chat/completions", 400, body=body, what=what)
    return found


# --- health, per type ----------------------------------------------------------------------------


def check_health(probe: Probe) -> list[Violation]:
    if probe.type == "vllm":
        response = probe.request("GET", "/health")
        found = _expect_status("health", "GET /health", response, 200, "with an empty body")
        if not found and response.content:
            found.append(Violation("health", "GET /health", "200 with an EMPTY body", f"body {_clip(response.text)!r}"))
        return found
    if probe.type == "llama_cpp":
        response = probe.request("GET", "/health")
        found = _expect_status("health", "GET /health", response, 200, 'with {"status": "ok"}')
        return found or _schema_violations(probe, "health", "GET /health", "Health", _json(response))
    if probe.type == "ollama":
        response = probe.request("GET", "/")
        found = _expect_status("health", "GET /", response, 200, "'Ollama is running'")
        if not found and response.text != "Ollama is running":
            found.append(Violation("health", "GET /", "the body 'Ollama is running'", repr(_clip(response.text))))
        return found
    # litellm
    found = []
    live = probe.request("GET", "/health/liveliness")
    found += _expect_status("health", "GET /health/liveliness", live, 200, "\"I'm alive!\"")
    if not found and _json(live) != "I'm alive!":
        found.append(Violation("health", "GET /health/liveliness", "the JSON string \"I'm alive!\"", _clip(live.text)))
    ready = probe.request("GET", "/health/readiness")
    bad = _expect_status("health", "GET /health/readiness", ready, 200, '{"status": "healthy", ...}')
    found += bad or _schema_violations(probe, "health", "GET /health/readiness", "Readiness", _json(ready))
    return found


# --- Ollama native --------------------------------------------------------------------------------


def ollama_chat_body(probe: Probe, **extra: Any) -> dict[str, Any]:
    return {"model": probe.model, "messages": [{"role": "user", "content": PROMPT}], "options": {"num_predict": MAX_TOKENS}, **extra}


def ollama_generate_body(probe: Probe, **extra: Any) -> dict[str, Any]:
    return {"model": probe.model, "prompt": PROMPT, "options": {"num_predict": MAX_TOKENS}, **extra}


def _ollama_get(probe: Probe, path: str, schema: str, rule: str) -> list[Violation]:
    endpoint = _endpoint("GET", path)
    response = probe.request("GET", path)
    found = _expect_status(rule, endpoint, response, 200, f"with {schema}")
    if found:
        return found
    found += check_json_content_type(response.headers, endpoint, rule)
    return found + _schema_violations(probe, rule, endpoint, schema, _json(response))


def check_ollama_tags(probe: Probe) -> list[Violation]:
    return _ollama_get(probe, "/api/tags", "Tags", "ollama-tags-schema")


def check_ollama_ps(probe: Probe) -> list[Violation]:
    return _ollama_get(probe, "/api/ps", "Running", "ollama-tags-schema")


def check_ollama_version(probe: Probe) -> list[Violation]:
    return _ollama_get(probe, "/api/version", "Version", "health")


def check_ollama_show(probe: Probe) -> list[Violation]:
    endpoint = "POST /api/show"
    response = probe.request("POST", "/api/show", body={"model": probe.model})
    found = _expect_status("ollama-tags-schema", endpoint, response, 200, "with the model information")
    return found or _schema_violations(probe, "ollama-tags-schema", endpoint, "Show", _json(response))


def _ollama_non_stream(probe: Probe, path: str, body: dict[str, Any], schema: str) -> list[Violation]:
    endpoint = _endpoint("POST", path)
    response = probe.request("POST", path, body=body)
    found = _expect_status("ollama-chat-schema", endpoint, response, 200, f"with {schema}")
    if found:
        return found
    found += check_json_content_type(response.headers, endpoint, "ollama-chat-schema")
    document = _json(response)
    found += _schema_violations(probe, "ollama-chat-schema", endpoint, schema, document)
    eval_count = document.get("eval_count") if isinstance(document, dict) else None
    if isinstance(eval_count, int) and eval_count > MAX_TOKENS:
        found.append(Violation("ollama-max-tokens", endpoint, f"eval_count <= num_predict = {MAX_TOKENS}", f"eval_count = {eval_count}"))
    return found


def check_ollama_chat(probe: Probe) -> list[Violation]:
    return _ollama_non_stream(probe, "/api/chat", ollama_chat_body(probe, stream=False), "ChatFinal")


def check_ollama_generate(probe: Probe) -> list[Violation]:
    return _ollama_non_stream(probe, "/api/generate", ollama_generate_body(probe, stream=False), "GenerateFinal")


def _ollama_stream(probe: Probe, path: str, body: dict[str, Any], kind: str) -> list[Violation]:
    endpoint = _endpoint("POST", path)
    response = probe.request("POST", path, body=body)
    found = _expect_status("ollama-chat-schema", endpoint, response, 200, "with an NDJSON stream")
    if found:
        return found
    chunk, final = ("ChatChunk", "ChatFinal") if kind == "chat" else ("GenerateChunk", "GenerateFinal")
    expect = NdjsonExpectations(
        num_predict=MAX_TOKENS,
        content_key="message" if kind == "chat" else "response",
        chunk_errors=lambda doc: probe.schemas.errors(chunk, doc),
        final_errors=lambda doc: probe.schemas.errors(final, doc),
    )
    return check_ndjson_stream(response.content, response.headers, endpoint, expect)


def check_ollama_chat_stream(probe: Probe) -> list[Violation]:
    # No `stream` field: Ollama streams by default, and a client relying on that must get NDJSON.
    return _ollama_stream(probe, "/api/chat", ollama_chat_body(probe), "chat")


def check_ollama_generate_stream(probe: Probe) -> list[Violation]:
    return _ollama_stream(probe, "/api/generate", ollama_generate_body(probe, stream=True), "generate")


def check_ollama_errors(probe: Probe) -> list[Violation]:
    found: list[Violation] = []
    not_found = {"error": f"model '{UNKNOWN_MODEL}' not found"}
    for path, body in [
        ("/api/chat", ollama_chat_body(probe, model=UNKNOWN_MODEL, stream=False)),
        ("/api/generate", ollama_generate_body(probe, model=UNKNOWN_MODEL, stream=False)),
        ("/api/show", {"model": UNKNOWN_MODEL}),
    ]:
        endpoint = _endpoint("POST", path)
        response = probe.request("POST", path, body=body)
        if response.status_code != 404 or _json(response) != not_found:
            found.append(
                Violation("ollama-error", endpoint, f"404 {json.dumps(not_found)}", f"{response.status_code}: {_clip(response.text)}")
            )
    bad_requests: list[tuple[str, Any, bytes | None, str]] = [
        ("/api/chat", None, b'{"model": "x", "messages": [', "a body that is not JSON"),
        ("/api/chat", ollama_chat_body(probe, messages="hello"), None, "messages that is a string"),
        ("/api/chat", ollama_chat_body(probe, stream="yes"), None, "stream that is a string"),
        ("/api/chat", ollama_chat_body(probe, options="fast"), None, "options that is a string"),
        ("/api/generate", ollama_generate_body(probe, prompt=42), None, "prompt that is a number"),
    ]
    for path, body, raw, what in bad_requests:
        found += _expect_error(probe, "ollama-error", path, 400, body=body, raw=raw, what=what, schema_rule="ollama-error")
    return found


# --- the catalogue --------------------------------------------------------------------------------

STREAM_RULES = ("sse-content-type", "sse-framing", "sse-chunk-json", "sse-chunk-schema", "sse-done", "sse-finish-reason", "sse-usage", "usage-arithmetic", "max-tokens")


def _check(name: str, types: Iterable[str], rules: tuple[str, ...], run: CheckFunction) -> Check:
    unknown = [r for r in rules if r not in RULES]
    if unknown:
        raise ValueError(f"check {name} names unknown rules {unknown}")
    # A stream cut short is a stream without its end marker.
    transport = "sse-done" if "sse-done" in rules else "ndjson-done" if "ndjson-done" in rules else None
    return Check(name, frozenset(types), rules, run, (run.__doc__ or "").strip(), transport)


CHECKS: tuple[Check, ...] = (
    _check("health", {"vllm", "llama_cpp", "ollama", "litellm"}, ("health",), check_health),
    _check("models", OPENAI_LIKE, ("models-schema", "json-content-type"), check_models),
    _check("chat", OPENAI_LIKE, ("chat-schema", "json-content-type", "usage-arithmetic", "max-tokens"), check_chat),
    _check("completion", OPENAI_LIKE, ("completion-schema", "json-content-type", "usage-arithmetic", "max-tokens"), check_completion),
    _check(
        "native-completion",
        {"llama_cpp"},
        ("completion-schema", "json-content-type", "max-tokens"),
        check_llama_native_completion,
    ),
    _check("chat-stream", OPENAI_LIKE, STREAM_RULES, check_chat_stream),
    _check("chat-stream-usage", OPENAI_LIKE - IGNORES_STREAM_OPTIONS, STREAM_RULES, check_chat_stream_usage),
    _check("completion-stream", OPENAI_LIKE, STREAM_RULES, check_completion_stream),
    _check("completion-stream-usage", OPENAI_LIKE - IGNORES_STREAM_OPTIONS, STREAM_RULES, check_completion_stream_usage),
    _check("unknown-model", OPENAI_LIKE, ("unknown-model", "error-schema"), check_unknown_model),
    _check("malformed-body", OPENAI_LIKE, ("malformed-body", "error-schema"), check_malformed_body),
    _check("missing-field", OPENAI_LIKE, ("missing-field", "error-schema"), check_missing_field),
    _check("invalid-param", OPENAI_LIKE, ("invalid-param", "error-schema"), check_invalid_param),
    _check(
        "stream-options-without-stream",
        OPENAI_LIKE - IGNORES_STREAM_OPTIONS,
        ("stream-options-without-stream", "error-schema"),
        check_stream_options_without_stream,
    ),
    _check("ollama-version", {"ollama"}, ("health",), check_ollama_version),
    _check("ollama-tags", {"ollama"}, ("ollama-tags-schema",), check_ollama_tags),
    _check("ollama-ps", {"ollama"}, ("ollama-tags-schema",), check_ollama_ps),
    _check("ollama-show", {"ollama"}, ("ollama-tags-schema",), check_ollama_show),
    _check("ollama-chat", {"ollama"}, ("ollama-chat-schema", "ollama-max-tokens"), check_ollama_chat),
    _check("ollama-generate", {"ollama"}, ("ollama-chat-schema", "ollama-max-tokens"), check_ollama_generate),
    _check(
        "ollama-chat-stream",
        {"ollama"},
        ("ndjson-content-type", "ndjson-framing", "ndjson-done", "ollama-chat-schema", "ollama-max-tokens"),
        check_ollama_chat_stream,
    ),
    _check(
        "ollama-generate-stream",
        {"ollama"},
        ("ndjson-content-type", "ndjson-framing", "ndjson-done", "ollama-chat-schema", "ollama-max-tokens"),
        check_ollama_generate_stream,
    ),
    _check("ollama-errors", {"ollama"}, ("ollama-error",), check_ollama_errors),
)


def checks_for(provider_type: str) -> list[Check]:
    return [check for check in CHECKS if provider_type in check.types]


# --- running -----------------------------------------------------------------------------------------


def _client(target: Target, timeout: float) -> httpx.Client:
    headers = {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}
    # A new connection per request: keep-alive is not part of any contract, and llama-server
    # closes the connection after every streamed answer without saying so, so reusing one could
    # fail a check on a request sent into a closing connection ("Connection reset by peer").
    return httpx.Client(base_url=target.base_url, headers=headers, timeout=timeout,
                        limits=httpx.Limits(max_keepalive_connections=0))


def discover_model(target: Target, client: httpx.Client) -> str:
    """The model to exercise: ``target.model``, else the first the server lists."""
    if target.model:
        return target.model
    path, key, name = ("/api/tags", "models", "name") if target.type == "ollama" else ("/v1/models", "data", "id")
    try:
        response = client.get(path)
        listed = response.json()[key]
        return str(listed[0][name])
    except httpx.TransportError as exc:
        raise UsageError(f"{target.label}: cannot reach the server: {exc}", hint="is it running? check TYPE=URL") from exc
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise UsageError(
            f"{target.label}: cannot find a model to exercise: GET {path} answered {response.status_code} {_clip(response.text, 120)}",
            hint="pass --model NAME",
        ) from exc


def open_probe(target: Target, *, timeout: float = 30.0) -> Probe:
    client = _client(target, timeout)
    try:
        model = discover_model(target, client)
    except BaseException:
        client.close()
        raise
    return Probe(target, model, client)


def known_deviations(provider_type: str) -> list[dict[str, Any]]:
    """The spec's ``x-known-deviations`` of ``provider_type`` (see contracts/specbuilder.py)."""
    return list(load_spec(provider_type).get("x-known-deviations", []))


@dataclass(frozen=True)
class Observation:
    """The answer behind a violation: what a deviation's ``match`` is compared with."""

    status: int
    content_type: str
    content: bytes

    @classmethod
    def of(cls, response: httpx.Response) -> Observation:
        return cls(response.status_code, response.headers.get("content-type", ""), response.content)


def _observed_as(match: dict[str, Any], schemas: SpecSchemas, observation: Observation | None) -> bool:
    """``{status, body: SCHEMA}``: that status and a JSON body valid against the spec's SCHEMA;
    ``{status, text}``: that status and exactly that text/plain body. Nothing looser."""
    if observation is None or observation.status != match["status"]:
        return False
    if "text" in match:
        return observation.content_type.startswith("text/plain") and observation.content == match["text"].encode()
    try:
        document = json.loads(observation.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return not schemas.errors(match["body"], document)


def excuses(
    deviation: dict[str, Any],
    schemas: SpecSchemas,
    *,
    check: str,
    violation: Violation,
    case: str,
    observation: Observation | None,
) -> bool:
    """Whether ``deviation`` is exactly ``violation``: same check, rule, endpoint and case (the
    violation's ``expected``, without the request a fuzzed finding names), and the same observed
    behaviour (``match``: an exact ``actual``, or the answer's status and body)."""
    where = (deviation["check"], deviation["rule"], deviation["endpoint"], deviation["case"])
    if where != (check, violation.rule, violation.endpoint, case):
        return False
    match = deviation["match"]
    if "actual" in match:
        return bool(match["actual"] == violation.actual)
    return _observed_as(match, schemas, observation)


def find_deviation(
    provider_type: str, *, check: str, violation: Violation, case: str, observation: Observation | None
) -> KnownDeviation | None:
    """The type's recorded deviation that excuses ``violation``, if one does."""
    schemas = spec_schemas(provider_type)
    for deviation in known_deviations(provider_type):
        if excuses(deviation, schemas, check=check, violation=violation, case=case, observation=observation):
            return KnownDeviation(violation, deviation["server"], deviation["why"], deviation["evidence"])
    return None


def _classify(probe: Probe, check: str, found: list[Violation]) -> CheckOutcome:
    violations: list[Violation] = []
    known: list[KnownDeviation] = []
    for violation in sorted(set(found)):
        response = probe.observed.get(violation)
        observation = Observation.of(response) if response is not None else None
        deviation = find_deviation(probe.type, check=check, violation=violation, case=violation.expected,
                                   observation=observation)
        if deviation is None:
            violations.append(violation)
        else:
            known.append(deviation)
    return CheckOutcome(check, violations, known)


def run_check(probe: Probe, check: Check) -> CheckOutcome:
    try:
        found = check.run(probe)
    except httpx.TransportError as exc:
        # A server that drops, hangs or breaks the HTTP exchange fails the check's first rule.
        try:
            endpoint = f"{exc.request.method} {exc.request.url.path}"
        except RuntimeError:  # an error raised before any request was built
            endpoint = check.name
        found = [Violation(check.transport_rule or check.rules[0], endpoint, "a complete HTTP response", f"{type(exc).__name__}: {exc}")]
    outcome = _classify(probe, check.name, found)
    probe.observed.clear()
    return outcome


def run_suite(target: Target, *, timeout: float = 30.0, only: Iterable[str] | None = None) -> SuiteReport:
    """Every check of ``target.type`` (or those named in ``only``) against ``target``."""
    wanted = set(only) if only is not None else None
    probe = open_probe(target, timeout=timeout)
    try:
        outcomes = [
            run_check(probe, check)
            for check in checks_for(target.type)
            if wanted is None or check.name in wanted
        ]
    finally:
        probe.client.close()
    return SuiteReport(target, probe.model, outcomes)
