"""Request fuzzing with schemathesis, reported as contract violations; and the stream checks as
schemathesis custom checks.

``fuzz_target(target, model)`` generates requests from the type's spec (schemathesis 4.x,
Hypothesis underneath: seeded, few examples, no shrinking, no example database), tames them
(the target's model, a tiny ``max_tokens``), sends them and judges each answer:

- positive cases (valid requests): a documented status; a 200 matches its schema, its usage
  adds up; streams pass ``contracts/streaming.py``;
- negative cases (invalid requests): never a 5xx; one the server accepts (2xx) is a warning;
- every documented 4xx answer carries the type's error body.

A finding the type's spec records in ``x-known-deviations`` (check ``fuzz METHOD PATH (mode)``,
case = the finding's ``expected`` without the request it names, the same class of request
(``request_classes``) and the same observed answer) is reported as a known deviation, exactly as
the suite does (``contracts/suite/deviations.py: excuses``).

``stream_conformance`` and ``usage_conformance`` are registered with ``@schemathesis.check`` so a
schemathesis run (``case.call_and_validate()``, the ``st`` CLI with this module imported) applies
the project's SSE/NDJSON rules too.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import hypothesis
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case, GenerationMode

from contracts.provenance import is_advisory
from contracts.schemas import spec_path, spec_schemas
from contracts.streaming import (
    NdjsonExpectations,
    SseExpectations,
    check_ndjson_stream,
    check_sse_stream,
    check_usage,
)
from contracts.suite.check import response_excerpt
from contracts.suite.deviations import KnownDeviation, Observation, find_deviation
from contracts.suite.probe import Target
from contracts.suite.runner import CheckOutcome
from contracts.violation import Exchange, Violation

__all__ = ["fuzz_target", "request_classes", "stream_conformance", "usage_conformance", "violations_for_response"]

# Servers that answer with one choice whatever `n` asks (llama.cpp runs one sequence per request).
ONE_CHOICE_ONLY = frozenset({"llama_cpp", "llama_cpp_python"})

AnyCase = Case[Any]

FUZZ_MAX_TOKENS = 4
MAX_N = 2
# Spec bounds of the fields tame() caps (openai_request_schemas): a value inside them is not what a
# negative case negated, so capping it cannot make an invalid request valid.
LENGTH_FIELDS = ("max_tokens", "max_completion_tokens")
# The rule a wrong answer to an operation breaks, per (type family, path).
OPERATION_RULES = {
    "/v1/models": "models-schema",
    "/v1/chat/completions": "chat-schema",
    "/v1/completions": "completion-schema",
    "/completion": "completion-schema",
    "/health": "health",
    "/health/liveliness": "health",
    "/health/readiness": "health",
    "/": "health",
    "/api/version": "health",
    "/api/tags": "ollama-tags-schema",
    "/api/ps": "ollama-tags-schema",
    "/api/show": "ollama-tags-schema",
    "/api/chat": "ollama-chat-schema",
    "/api/generate": "ollama-chat-schema",
}
SSE_PATHS = {"/v1/chat/completions": ("chat", "ChatCompletionChunk"), "/v1/completions": ("completion", "TextCompletionChunk")}
NDJSON_PATHS = {"/api/chat": ("message", "ChatChunk", "ChatFinal"), "/api/generate": ("response", "GenerateChunk", "GenerateFinal")}


def _clip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _one_choice(body: dict[str, Any]) -> None:
    """llama-server streams several choices (n > 1, or a batch of prompts) in ways this module does not
    judge (a leading `data: null` event, usage on every choice's last chunk: docs/llama-cpp.md,
    "Fuzzing"); the judgement here assumes ONE choice for the llama.cpp types, so ask for one."""
    if "n" in body:
        body["n"] = 1
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) > 1:
        body["prompt"] = prompt[:1]


def tame_negative(case: AnyCase) -> None:
    """Keep an INVALID request cheap too: a real engine may serve it (llama-server serves most),
    and without max_tokens it generates until its context is full. A missing max_tokens gets the
    small bound, a valid one is capped; an invalid one (what the case negates) is left alone."""
    body: Any = case.body
    if not isinstance(body, dict):
        return
    if case.path == "/completion":  # llama-server's native endpoint: n_predict >= -1 is valid
        n_predict = body.get("n_predict", -1)
        if isinstance(n_predict, int) and not isinstance(n_predict, bool) and n_predict >= -1:
            body["n_predict"] = FUZZ_MAX_TOKENS
        return
    if not case.path.startswith("/v1/"):
        return
    if all(name not in body for name in LENGTH_FIELDS):
        body["max_tokens"] = FUZZ_MAX_TOKENS
        return
    for name in LENGTH_FIELDS:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            body[name] = min(value, FUZZ_MAX_TOKENS)


def tame(case: AnyCase, model: str, provider_type: str = "") -> None:
    """Keep a generated request cheap and aimed at a served model (positive cases only)."""
    body: Any = case.body
    if not isinstance(body, dict):
        return
    if "model" in body:
        body["model"] = model
    if case.path.startswith("/v1/"):
        limit = body.get("max_tokens")
        # A valid max_tokens <= 0 is "no limit" where a spec allows it (llama-cpp-python's chat
        # requests: max_tokens has no bound, and Llama.create_completion reads <= 0 as "until the
        # context is full"): any limit is capped to a small positive one.
        if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 1:
            body["max_tokens"] = min(limit, FUZZ_MAX_TOKENS)
        else:
            body["max_tokens"] = FUZZ_MAX_TOKENS
        n = body.get("n")
        if isinstance(n, int):
            body["n"] = min(n, MAX_N)
        if provider_type == "llama_cpp":
            _one_choice(body)
    elif case.path == "/completion":
        body["n_predict"] = FUZZ_MAX_TOKENS
    elif case.path in NDJSON_PATHS:
        options = body.get("options")
        options = options if isinstance(options, dict) else {}
        options["num_predict"] = FUZZ_MAX_TOKENS
        body["options"] = options


def _media(headers: Any) -> str:
    return str(headers.get("content-type", "")).split(";")[0].strip().lower()


def _streamed(provider_type: str, path: str, body: Any) -> bool:
    if not isinstance(body, dict):
        return False
    if path in NDJSON_PATHS:
        # Ollama streams by default, but answers a load request (no prompt, no messages) with one
        # JSON object (server/routes.go: c.JSON(..., DoneReason: "load")).
        loads = not body.get("prompt") if path == "/api/generate" else not body.get("messages")
        return body.get("stream", True) is not False and not loads
    return body.get("stream") is True


def violations_for_response(
    provider_type: str,
    method: str,
    path: str,
    request_body: Any,
    status: int,
    headers: Any,
    content: bytes,
    *,
    positive: bool,
    documented: dict[str, Any],
) -> list[Violation]:
    """Judge one fuzzed exchange. ``documented`` is the operation's ``responses`` in the spec."""
    endpoint = f"{method} {path}"
    rule = OPERATION_RULES.get(path, "chat-schema")
    error_rule = "ollama-error" if provider_type == "ollama" else "error-schema"
    request = _request_text(request_body)
    if status >= 500:
        which = rule if positive else _invalid_request_rule(provider_type, path, request_body)
        kind = "a valid" if positive else "an invalid"
        return [Violation(which, endpoint, f"no 5xx for {kind} request {request}", f"{status}: {_clip(content.decode('utf-8', 'replace'))}")]
    if not positive and 200 <= status < 300:
        # An invalid request served: a warning (contracts/fuzz.py: ACCEPTED_INVALID), never a failure.
        which = _invalid_request_rule(provider_type, path, request_body)
        return [Violation(which, endpoint, f"{ACCEPTED_INVALID} {request}", f"{status}: {_clip(content.decode('utf-8', 'replace'))}")]
    if str(status) not in documented and not (status >= 400 and "default" in documented):
        if positive:
            return [Violation(rule, endpoint, f"a documented status ({', '.join(documented)}) for {request}", f"{status}")]
        return []
    schemas = spec_schemas(provider_type)
    if status >= 400:
        answer = documented.get(str(status)) or documented["default"]
        ref = answer.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
        if not ref:
            return []
        try:
            document = json.loads(content)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return [Violation(error_rule, endpoint, f"a JSON error body for {request}", _clip(content.decode("utf-8", "replace")))]
        errors = schemas.errors(ref.rsplit("/", 1)[-1], document)
        return [Violation(error_rule, endpoint, f"the {provider_type} error body for {request}", "; ".join(errors))] if errors else []
    if not positive or status != 200:
        return []
    if path == "/completion":
        return []  # llama-server's native stream has no [DONE]; its JSON answer is checked by the suite
    if _streamed(provider_type, path, request_body) and (path in SSE_PATHS or path in NDJSON_PATHS):
        return _stream_violations(provider_type, path, request_body, headers, content)
    content_map = documented["200"].get("content", {})
    if "application/json" not in content_map:
        return []
    ref = content_map["application/json"].get("schema", {}).get("$ref", "")
    try:
        document = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return [Violation(rule, endpoint, "a JSON body", _clip(content.decode("utf-8", "replace")))]
    found: list[Violation] = []
    if _media(headers) != "application/json":
        ct_rule = "json-content-type" if provider_type != "ollama" else rule
        found.append(Violation(ct_rule, endpoint, "Content-Type: application/json", f"Content-Type: {_media(headers) or '(none)'}"))
    if ref:
        errors = schemas.errors(ref.rsplit("/", 1)[-1], document)
        if errors:
            found.append(Violation(rule, endpoint, f"a body matching {ref.rsplit('/', 1)[-1]} for {request}", "; ".join(errors)))
    if isinstance(document, dict) and path.startswith("/v1/") and path != "/v1/models":
        limit = request_body.get("max_tokens") if isinstance(request_body, dict) else None
        n = request_body.get("n") if isinstance(request_body, dict) else None
        choices = n if isinstance(n, int) and n > 0 and provider_type not in ONE_CHOICE_ONLY else 1
        found += check_usage(document.get("usage"), endpoint, limit * choices if isinstance(limit, int) else None)
    return found


# The expected text of a negative case's finding when the server served it (a warning).
ACCEPTED_INVALID = "a 4xx for an invalid request"

REQUIRED_FIELDS = {"/v1/chat/completions": ("model", "messages"), "/v1/completions": ("model", "prompt")}
REQUEST_SCHEMAS = {
    "/v1/chat/completions": "ChatCompletionRequest",
    "/v1/completions": "CompletionRequest",
    "/completion": "NativeCompletionRequest",
    "/api/chat": "ChatRequest",
    "/api/generate": "GenerateRequest",
    "/api/show": "ShowRequest",
}
# A text completion whose prompt is "" or absent (llama-cpp-python's default prompt is "").
EMPTY_PROMPT = "an empty prompt"
# The class every request the type's request schema rejects belongs to (the most general one).
SCHEMA_INVALID = "a request its request schema rejects"


def request_classes(provider_type: str, path: str, body: Any, *, parsed: bool = True) -> tuple[str, ...]:
    """What kind of invalid request ``body`` is, from the most specific class to the most general:
    what a fuzz record (``x-known-deviations`` with ``request_class``) excuses exactly.

    ``not JSON`` (a body that does not parse), ``a JSON value that is not an object``, ``a message
    without a role``, ``a message whose role is not a string``, then the first error of the body
    against the type's request schema (``type of temperature``, ``required messages``,
    ``maximum of top_p``, ...) and ``a request its request schema rejects``. ``parsed``: False
    for a body that is not JSON (then ``body`` is its text)."""
    if not parsed:
        return ("not JSON",)
    if not isinstance(body, dict):
        return ("a JSON value that is not an object",)
    classes: list[str] = []
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict) and "role" not in message:
                classes.append("a message without a role")
            elif isinstance(message, dict) and not isinstance(message["role"], str):
                classes.append("a message whose role is not a string")
            elif isinstance(message, dict) and message["role"] == "assistant" and "content" not in message:
                classes.append("an assistant message without content")
            if isinstance(message, dict) and "content" in message and message["content"] is None:
                classes.append("a message whose content is null")
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) > 1:
        classes.append("a batch of prompts")
    if path == "/v1/completions" and prompt in (None, ""):
        classes.append(EMPTY_PROMPT)
    schema = REQUEST_SCHEMAS.get(path)
    schemas = spec_schemas(provider_type)
    if schema is not None and schemas.has(schema):
        first = schemas.first_error(schema, body)
        if first is not None:
            classes += [first, SCHEMA_INVALID]
    return tuple(dict.fromkeys(classes))
FIELD_TYPES: dict[str, type | tuple[type, ...]] = {"model": str, "messages": list, "prompt": (str, list)}


def _invalid_request_rule(provider_type: str, path: str, body: Any) -> str:
    """The rule a 5xx to an invalid request breaks: which kind of invalid it was."""
    if provider_type == "ollama":
        return "ollama-error"
    if not isinstance(body, dict):
        return "malformed-body"  # not JSON, or not an object
    for name in REQUIRED_FIELDS.get(path, ()):
        if name not in body or not isinstance(body[name], FIELD_TYPES[name]):
            return "missing-field"
    return "invalid-param"


def _stream_violations(provider_type: str, path: str, body: dict[str, Any], headers: Any, content: bytes) -> list[Violation]:
    schemas = spec_schemas(provider_type)
    endpoint = f"POST {path}"
    if path in NDJSON_PATHS:
        key, chunk, final = NDJSON_PATHS[path]
        options: Any = body.get("options")
        limit = options.get("num_predict") if isinstance(options, dict) else None
        ndjson = NdjsonExpectations(
            num_predict=limit if isinstance(limit, int) else None,
            content_key="message" if key == "message" else "response",
            chunk_errors=lambda d: schemas.errors(chunk, d),
            final_errors=lambda d: schemas.errors(final, d),
        )
        return check_ndjson_stream(content, headers, endpoint, ndjson)
    kind, chunk_schema = SSE_PATHS[path]
    stream_options: Any = body.get("stream_options")
    include_usage = isinstance(stream_options, dict) and stream_options.get("include_usage") is True and provider_type != "llama_cpp_python"
    limit = body.get("max_tokens")
    requested_n = body.get("n")
    n = requested_n if isinstance(requested_n, int) and provider_type not in ONE_CHOICE_ONLY else 1
    sse = SseExpectations(
        kind="chat" if kind == "chat" else "completion",
        include_usage=include_usage,
        finish_reasons=schemas.finish_reasons(chunk_schema),
        max_tokens=limit if isinstance(limit, int) else None,
        choices=n,
        chunk_errors=lambda d: schemas.errors(chunk_schema, d),
    )
    found = check_sse_stream(content, headers, endpoint, sse)
    if provider_type == "llama_cpp_python":
        # It ignores stream_options: a usage chunk is never expected, whatever was asked.
        found = [v for v in found if v.rule != "sse-usage" or "not requested" in v.expected]
    return found


def fuzz_case(violation: Violation, request_body: Any) -> str:
    """A fuzzed finding's case: its ``expected`` without the (generated) request it names, e.g.
    ``no 5xx for an invalid request``; what an ``x-known-deviations`` entry's ``case`` says."""
    return violation.expected.removesuffix(" " + _request_text(request_body))


def _request_text(request_body: Any) -> str:
    return _clip(json.dumps(request_body, ensure_ascii=True, default=str))


def _exchange(method: str, path: str, body: Any, status: int, content_type: str, content: bytes, actual: str) -> Exchange:
    """The fuzzed exchange behind a finding: the request as generated, the part of the answer
    ``actual`` is about (as the suite shows it: contracts/suite/check.py, response_excerpt)."""
    sent = body if isinstance(body, str) else json.dumps(body, ensure_ascii=True, default=str)
    answer = httpx.Response(status, headers={"content-type": content_type} if content_type else None, content=content)
    return Exchange(method, path, _clip(sent, 300), status, content_type, response_excerpt(answer, actual))


def _run_operation(operation: Any, target: Target, model: str, mode: GenerationMode, examples: int, seed: int,
                   timeout: float) -> CheckOutcome:
    check = f"fuzz {operation.method.upper()} {operation.path} ({mode.value})"
    found: dict[tuple[str, str, str], Violation] = {}
    known: dict[tuple[str, str, str], KnownDeviation] = {}
    warned: dict[tuple[str, str, str, str], Violation] = {}
    documented = operation.definition.raw.get("responses", {})
    headers = {"Authorization": f"Bearer {target.api_key}"} if target.api_key else None
    positive = mode == GenerationMode.POSITIVE

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=False,
        phases=[hypothesis.Phase.generate],  # no shrinking: every finding is kept, none chased
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.seed(seed)
    @hypothesis.given(operation.as_strategy(generation_mode=mode))
    def exercise(case: AnyCase) -> None:
        if positive:
            tame(case, model, target.type)
        else:
            tame_negative(case)
        response = case.call(base_url=target.base_url, headers=headers, timeout=timeout)
        response_headers = response.headers_dict() if hasattr(response, "headers_dict") else _flat(response.headers)
        request_body, parsed = _decoded(case.body)
        content_type = str(response_headers.get("content-type", ""))
        observation = Observation(response.status_code, content_type, response.content)
        classes = request_classes(target.type, case.path, request_body, parsed=parsed)
        for violation in violations_for_response(
            target.type, case.method.upper(), case.path, request_body,
            response.status_code, response_headers, response.content, positive=positive, documented=documented,
        ):
            violation = violation.with_exchange(_exchange(
                case.method.upper(), case.path, request_body, response.status_code, content_type, response.content, violation.actual,
            ))
            # Known and unknown findings are kept apart BEFORE de-duplication: an excused 500 must
            # not hide a later, unexcused one of the same rule.
            key = (violation.rule, violation.endpoint, violation.expected.split(" for ")[0])
            deviation = find_deviation(target.type, check=check, violation=violation,
                                       case=fuzz_case(violation, request_body), observation=observation,
                                       request_classes=classes)
            if deviation is not None:
                known.setdefault(key, deviation)
            elif violation.expected.startswith(ACCEPTED_INVALID) or is_advisory(target.type, violation.rule):
                warned.setdefault((*key, classes[0] if classes else ""), violation)
            else:
                found.setdefault(key, violation)

    exercise()
    return CheckOutcome(check, sorted(found.values()), [known[k] for k in sorted(known)], [warned[k] for k in sorted(warned)])


def _decoded(body: Any) -> tuple[Any, bool]:
    """A request's body as a server would parse it, and whether it parses as JSON at all
    (negative cases may send raw bytes: then their text)."""
    if isinstance(body, bytes | bytearray):
        try:
            return json.loads(body), True
        except (json.JSONDecodeError, UnicodeDecodeError):
            return body.decode("utf-8", "replace"), False
    return body, True


def _flat(headers: Any) -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in dict(headers).items():
        flat[str(key).lower()] = value[0] if isinstance(value, list) and value else str(value)
    return flat


def fuzz_target(target: Target, model: str, *, examples: int = 5, seed: int = 0, timeout: float = 30.0) -> list[CheckOutcome]:
    """One outcome per (operation, generation mode): ``fuzz POST /v1/chat/completions (positive)``."""
    schema = schemathesis.openapi.from_path(str(spec_path(target.type)))
    outcomes = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # our own specs always load
        modes = [GenerationMode.POSITIVE]
        if operation.method.upper() == "POST":
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            outcomes.append(_run_operation(operation, target, model, mode, examples, seed, timeout))
    return outcomes


# --- schemathesis custom checks -----------------------------------------------------------------


def _raise_for(found: list[Violation]) -> None:
    if found:
        raise AssertionError("\n".join(str(v) for v in found))


def _provider_type(case: AnyCase) -> str | None:
    title = str(case.operation.schema.raw_schema.get("info", {}).get("title", ""))
    return TITLES.get(title)


TITLES = {
    "Ollama native API": "ollama",
    "vLLM OpenAI-compatible server": "vllm",
    "llama.cpp llama-server": "llama_cpp",
    "llama-cpp-python server": "llama_cpp_python",
    "OpenAI-compatible core": "openai",
    "LiteLLM gateway": "litellm",
}


def _body_of(case: AnyCase) -> Any:
    return case.body if isinstance(case.body, dict) else None


@schemathesis.check
def stream_conformance(ctx: Any, response: Any, case: AnyCase) -> None:
    """SSE / NDJSON framing, chunks, [DONE] / done line, finish_reason, usage: contracts/streaming.py."""
    provider_type = _provider_type(case)
    body = _body_of(case)
    if provider_type is None or response.status_code != 200 or not _streamed(provider_type, case.path, body):
        return
    if case.path not in SSE_PATHS and case.path not in NDJSON_PATHS:
        return
    assert body is not None
    _raise_for(_stream_violations(provider_type, case.path, body, _flat(response.headers), response.content))


@schemathesis.check
def usage_conformance(ctx: Any, response: Any, case: AnyCase) -> None:
    """total_tokens = prompt + completion and completion_tokens <= max_tokens on JSON completions."""
    body = _body_of(case)
    if response.status_code != 200 or not case.path.startswith("/v1/") or case.path == "/v1/models":
        return
    if body is None or body.get("stream") is True:
        return
    try:
        document = json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return
    limit = body.get("max_tokens")
    if isinstance(document, dict):
        _raise_for(check_usage(document.get("usage"), f"POST {case.path}", limit if isinstance(limit, int) else None))
