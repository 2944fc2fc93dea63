"""The OpenAI-compatible ``/v1`` surface, in the flavour of each real server.

One code path, a ``Flavor`` per provider type holding the documented differences (model list
shape, role-only first chunk, where finish_reason goes, error bodies, validation style, unknown
models). Violation modes are applied here, each touching only its rule.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

from contracts.simulators.generation import Generation, plan_generation
from contracts.simulators.replies import Call, Delayed, Reply, Streamed, dumps, json_reply
from contracts.simulators.text import count_tokens, prompt_tokens_of_chat
from contracts.simulators.utf8 import llama_cpp_python_length, plain_text

__all__ = ["CONTEXT_LENGTH", "FLAVORS", "Flavor", "error_reply", "handle_chat", "handle_completion", "handle_models"]

CONTEXT_LENGTH = 4096
MAX_N = 128
# llama-server's default --parallel (slots): its hard upper bound of `n`.
LLAMA_SERVER_N_PARALLEL = 4
CHAT_ROLES = frozenset({"system", "user", "assistant", "tool", "developer", "function"})
# llama-cpp-python 0.3.36's message union (llama_types.ChatCompletionRequestMessage): no "developer",
# and a tool message needs its tool_call_id.
LCP_ROLES = frozenset({"system", "user", "assistant", "tool", "function"})


@dataclass(frozen=True)
class Flavor:
    name: str
    role_delta: dict[str, Any] | None  # the role-only first chunk's delta; None: no such chunk
    role_in_every_delta: bool  # Ollama repeats role in every delta
    separate_finish_chunk: bool  # finish_reason in its own empty-delta chunk (else on the last content chunk)
    logprobs_field: bool  # choices carry "logprobs": null
    system_fingerprint: str | None
    model_required: bool
    unknown_model_ignored: bool  # one model per server: any name is served
    fastapi_validation: bool  # 422 {"detail": [...]} as FastAPI/pydantic gives
    stream_options_supported: bool
    timings: bool  # llama-server adds "timings"
    # --- llama-server's own ways (docs/llama-cpp.md, "Deviations found") -------------------
    text_id_prefix: str = "cmpl"  # llama-server ids text completions "chatcmpl-" too
    text_logprobs: bool = False  # text-completion choices and chunks carry "logprobs": null
    text_stream_usage: bool = False  # the final text-completion chunk carries usage, asked or not
    cached_tokens: bool = False  # usage.prompt_tokens_details.cached_tokens
    # llama-server validates only what it needs: any role, top_p/temperature clamped, max_tokens
    # >= -1, n in [1, n_parallel], stream_options ignored without stream, non-JSON body a 500.
    llama_server_validation: bool = False
    # vLLM 0.34.0 (contracts/provenance/vllm.yaml): a message may carry any role
    # (CustomChatCompletionMessageParam), a request without a model name is served by the model,
    # stream_options is refused without stream only when not empty, top_p must be above 0.
    vllm_validation: bool = False
    # --- ends of answers, seen with the eos and bytes tiny models (contracts/simulators/utf8.py) ----
    counts_eos: bool = False  # llama-server counts the EOS token of an answer that ended by itself
    eos_text_chunk: bool = False  # ...and streams a "" text-completion chunk for it
    role_with_first_token: bool = False  # the role chunk rides on token 1's partial: none if token 1 is held
    tail_replacement: bool = False  # an answer cut inside a character ends in U+FFFD (completions)
    finishes_characters: bool = False  # llama-cpp-python runs past max_tokens to finish a character
    flushes_held_tokens: bool = False  # ...and streams leftover bytes one "" chunk per token at the end


# The max-tokens violation mode of a type whose real server overruns max_tokens by 1-3 tokens (a
# known deviation, contracts/specbuilder/llama_cpp_python.py): one token more than that.
OVERRUN_PAST_THE_RECORDS = 4

FLAVORS: dict[str, Flavor] = {
    "openai": Flavor("openai", {"role": "assistant", "content": "", "refusal": None}, False, True, True,
                     "fp_sim", True, False, False, True, False),
    "vllm": Flavor("vllm", {"role": "assistant", "content": ""}, False, False, True,
                   None, False, False, False, True, False, vllm_validation=True),
    "llama_cpp": Flavor("llama_cpp", {"role": "assistant", "content": None}, False, True, False,
                        "b6100-sim", False, True, False, True, True, text_id_prefix="chatcmpl", text_logprobs=True,
                        text_stream_usage=True, cached_tokens=True, llama_server_validation=True,
                        counts_eos=True, eos_text_chunk=True, role_with_first_token=True, tail_replacement=True),
    "llama_cpp_python": Flavor("llama_cpp_python", {"role": "assistant"}, False, True, True,
                               None, False, True, True, False, False,
                               finishes_characters=True, flushes_held_tokens=True),
    "ollama": Flavor("ollama", None, True, True, False, "fp_ollama", True, False, False, True, False),
}

_ERROR_TYPES: dict[str, dict[int, str]] = {
    "openai": {400: "invalid_request_error", 404: "invalid_request_error", 429: "rate_limit_exceeded",
               500: "server_error", 503: "server_error"},
    "vllm": {400: "BadRequestError", 404: "NotFoundError", 429: "TooManyRequestsError",
             500: "InternalServerError", 503: "ServiceUnavailableError"},
    "llama_cpp": {400: "invalid_request_error", 404: "not_found_error", 429: "unavailable_error",
                  500: "server_error", 501: "not_supported_error", 503: "unavailable_error"},
    "llama_cpp_python": {400: "invalid_request_error", 500: "internal_server_error"},
    "ollama": {400: "invalid_request_error", 404: "not_found_error"},
}


def error_body(flavor: str, status: int, message: str, *, param: str | None = None, code: str | None = None) -> Any:
    kind = _ERROR_TYPES[flavor].get(status, "api_error" if flavor == "ollama" else "server_error" if status >= 500
                                    else "invalid_request_error")
    if flavor == "llama_cpp":
        return {"error": {"code": status, "message": message, "type": kind}}
    if flavor == "vllm":
        return {"error": {"message": message, "type": kind, "param": param, "code": status}}
    if flavor == "ollama":
        return {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_reply(call: Call, flavor: str, status: int, message: str, *, param: str | None = None,
                code: str | None = None) -> Reply:
    if call.violates("error-schema"):
        return json_reply(status, {"message": message})
    return json_reply(status, error_body(flavor, status, message, param=param, code=code))


def _fastapi_422(call: Call, errors: list[dict[str, Any]]) -> Reply:
    """llama-cpp-python 0.3.36's answer to a request FastAPI rejects: NOT 422 but its RouteErrorHandler's
    500 internal_server_error wrapping the validation error (docs/llama-cpp.md, deviation 1)."""
    if call.violates("error-schema"):  # a 422 whose body is neither FastAPI's nor OpenAI's
        return json_reply(422, {"message": errors[0]["msg"]})
    if errors[0]["type"] == "json_invalid" or (errors[0]["type"] == "missing" and errors[0]["loc"] == ["body"]):
        # The handler's own request.json() raises again: Starlette's plain-text 500, then the
        # connection is dropped (deviation 2).
        return Reply(500, b"Internal Server Error", "text/plain; charset=utf-8", drop_connection=True)
    shown = [{**error, "loc": tuple(error["loc"])} for error in errors]
    handler = "create_chat_completion" if call.path.endswith("/chat/completions") else "create_completion"
    message = (
        f"{len(errors)} validation error{'s' if len(errors) > 1 else ''}:\n"
        + "".join(f"  {error!r}\n" for error in shown)
        + f"\n  File \".../llama_cpp/server/app.py\", in {handler}\n    {call.method} {call.path}"
    )
    return json_reply(500, {"error": {"message": message, "type": "internal_server_error", "param": None, "code": None}})


class _Invalid(Exception):
    """A request the server rejects: ``rule`` is the contract rule a violation mode may waive."""

    def __init__(self, rule: str, message: str, *, param: str | None = None, fastapi: dict[str, Any] | None = None,
                 status: int = 400) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.param = param
        self.fastapi = fastapi
        self.status = status


# What a contract-invalid request the real server SERVES breaks (llama-server's known deviations):
# collected instead of raised, so the rest of the request is still validated.
Tolerated = list[_Invalid]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _missing(field: str, body: Any) -> dict[str, Any]:
    return {"type": "missing", "loc": ["body", field], "msg": "Field required", "input": body}


def _wrong(field: str, value: Any, kind: str, msg: str) -> dict[str, Any]:
    return {"type": kind, "loc": ["body", field], "msg": msg, "input": value}


def _nlohmann_parse_error(call: Call, exc: Exception | None) -> str:
    """llama-server's json::parse message (nlohmann/json) for a body that is not JSON."""
    if exc is None or not call.body.strip():
        return ("[json.exception.parse_error.101] parse error at line 1, column 1: attempting to parse an empty "
                "input; check that your input string or stream contains the expected JSON")
    line, column = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
    return (f"[json.exception.parse_error.101] parse error at line {line}, column {column}: syntax error while "
            "parsing value - unexpected end of input; expected '[', '{', or a literal")


def _parse_body(call: Call, flavor: Flavor) -> dict[str, Any]:
    try:
        body = json.loads(call.body.decode("utf-8")) if call.body.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        if flavor.llama_server_validation:
            # json::parse throws outside llama-server's own checks: ex_wrapper's 500 server_error.
            raise _Invalid("malformed-body", _nlohmann_parse_error(call, exc), status=500) from None
        raise _Invalid(
            "malformed-body",
            f"request body is not valid JSON: {exc}",
            fastapi={"type": "json_invalid", "loc": ["body", getattr(exc, "pos", 0)], "msg": "JSON decode error",
                     "input": {}, "ctx": {"error": getattr(exc, "msg", str(exc))}},
        ) from None
    if body is None and flavor.llama_server_validation:
        raise _Invalid("malformed-body", _nlohmann_parse_error(call, None), status=500)
    if body is None:
        raise _Invalid("malformed-body", "request body is empty; expected a JSON object",
                       fastapi=_missing("body", None) | {"loc": ["body"]})
    if not isinstance(body, dict):
        raise _Invalid("missing-field", f"request body must be a JSON object, got {type(body).__name__}",
                       fastapi={"type": "model_attributes_type", "loc": ["body"],
                                "msg": "Input should be a valid dictionary or object to extract fields from",
                                "input": body})
    return body


def _check_model(body: dict[str, Any], flavor: Flavor) -> None:
    if "model" not in body or body["model"] is None:
        if flavor.model_required:
            raise _Invalid("missing-field", "the 'model' field is required", param="model", fastapi=_missing("model", body))
        return
    if not isinstance(body["model"], str):
        raise _Invalid("missing-field", f"'model' must be a string, got {json.dumps(body['model'])}", param="model",
                       fastapi=_wrong("model", body["model"], "string_type", "Input should be a valid string"))


def _check_messages(body: dict[str, Any], flavor: Flavor, tolerated: Tolerated) -> None:
    if "messages" not in body:
        if flavor.fastapi_validation:  # llama-cpp-python: messages defaults to []
            return
        raise _Invalid("missing-field", "the 'messages' field is required", param="messages")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise _Invalid("missing-field", "'messages' must be an array of message objects", param="messages",
                       fastapi=_wrong("messages", messages, "list_type", "Input should be a valid list"))
    if not messages and not flavor.fastapi_validation:
        raise _Invalid("missing-field", "'messages' must contain at least one message", param="messages")
    if flavor.llama_server_validation:
        _check_llama_server_messages(messages, tolerated)
        return
    if flavor.vllm_validation:
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise _Invalid("missing-field", f"messages[{index}] must be an object with a string 'role'", param="messages")
        return
    roles = LCP_ROLES if flavor.fastapi_validation else CHAT_ROLES
    for index, message in enumerate(messages):
        tool_without_id = flavor.fastapi_validation and isinstance(message, dict) and message.get("role") == "tool" \
            and not isinstance(message.get("tool_call_id"), str)
        if not isinstance(message, dict) or message.get("role") not in roles or tool_without_id:
            raise _Invalid(
                "missing-field",
                f"messages[{index}] must be an object with a 'role' in {sorted(CHAT_ROLES)}",
                param="messages",
                fastapi={"type": "union_tag_invalid" if isinstance(message, dict) else "model_type",
                         "loc": ["body", "messages", index], "msg": "Input tag does not match any of the expected roles"
                         if isinstance(message, dict) else "Input should be a valid dictionary", "input": message},
            )


def _check_llama_server_messages(messages: list[Any], tolerated: Tolerated) -> None:
    """oaicompat_chat_params_parse (tools/server/server-common.cpp): content is checked, the role is not."""
    for message in messages:
        if not isinstance(message, dict) or ("content" not in message and message.get("role") != "assistant"):
            raise _Invalid("missing-field", "All non-assistant messages must contain 'content'")
        if "content" not in message:
            if "tool_calls" not in message:
                raise _Invalid("missing-field", "Assistant message must contain either 'content' or 'tool_calls'!")
            continue
        content = message["content"]
        if content is not None and not isinstance(content, str | list):
            raise _Invalid("missing-field", "Expected 'content' to be a string or an array")
    for message in messages:
        # common_chat_msgs_parse_oaicompat (common/chat.cpp) then rethrows as a runtime_error: a 500.
        if "role" not in message:
            raise _Invalid("missing-field", f"Failed to parse messages: Missing 'role' in message: {dumps(message).decode()}",
                           status=500)
        if not isinstance(message["role"], str):
            raise _Invalid("missing-field", "Failed to parse messages: [json.exception.type_error.302] type must be "
                           f"string, but is {_json_type(message['role'])}", status=500)
    for index, message in enumerate(messages):
        if message["role"] not in CHAT_ROLES:
            tolerated.append(_Invalid("missing-field", f"messages[{index}] has the role {json.dumps(message['role'])}"))


def _json_type(value: Any) -> str:
    """nlohmann's name of a JSON value's type, as its type_error messages say it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict):
        return "object"
    return "array" if isinstance(value, list) else "string"


def _check_prompt(body: dict[str, Any], flavor: Flavor) -> None:
    if "prompt" not in body:
        if flavor.fastapi_validation:  # llama-cpp-python: prompt defaults to ""
            return
        raise _Invalid("missing-field", "the 'prompt' field is required", param="prompt")
    prompt = body["prompt"]
    ok = isinstance(prompt, str) or (
        isinstance(prompt, list) and bool(prompt) and all(isinstance(p, str) for p in prompt)
    ) or (isinstance(prompt, list) and bool(prompt) and all(_is_int(p) for p in prompt))
    if flavor.fastapi_validation:
        ok = isinstance(prompt, str) or (isinstance(prompt, list) and all(isinstance(p, str) for p in prompt))
    if not ok:
        raise _Invalid("missing-field", "'prompt' must be a string, an array of strings or an array of token ids",
                       param="prompt", fastapi=_wrong("prompt", prompt, "string_type", "Input should be a valid string"))


def _lcp_prompt_batch(call: Call, flavor: Flavor, body: dict[str, Any]) -> Reply | None:
    """llama-cpp-python's create_completion asserts len(prompt) <= 1: a batch is a 500 with the
    AssertionError's empty message (a known deviation of its spec)."""
    prompt = body.get("prompt")
    if flavor.fastapi_validation and isinstance(prompt, list) and len(prompt) > 1:
        return json_reply(500, {"error": {"message": "", "type": "internal_server_error", "param": None, "code": None}})
    return None


def _check_llama_server_params(body: dict[str, Any], tolerated: Tolerated) -> None:
    """server-schema.cpp: max_tokens (n_predict) hard-limited to >= -1, n (n_cmpl) to [1, n_parallel];
    top_p clamped to [0, 1], temperature to >= 0: served, never rejected."""
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is not None and value < -1:
            raise _Invalid("invalid-param", f"Field '{name}': Value must be between -1 <= value <= 2147483647, "
                           f"but got {value}")
        if value is not None and value < 1:
            tolerated.append(_Invalid("invalid-param", f"'{name}' {value} is served"))
    n = body.get("n")
    if n is not None and not 1 <= n <= LLAMA_SERVER_N_PARALLEL:
        raise _Invalid("invalid-param", f"Field 'n': Value must be between 1 <= value <= {LLAMA_SERVER_N_PARALLEL}, "
                       f"but got {n}")
    temperature, top_p = body.get("temperature"), body.get("top_p")
    if temperature is not None and not 0 <= temperature <= 2:
        tolerated.append(_Invalid("invalid-param", f"'temperature' {temperature} is served"))
    if top_p is not None and not 0 <= top_p <= 1:
        tolerated.append(_Invalid("invalid-param", f"'top_p' {top_p} is served (clamped)"))


def _check_params(body: dict[str, Any], flavor: Flavor, kind: str, tolerated: Tolerated) -> None:
    # Types first: an ill-typed value is never a range question.
    for name in ("max_tokens", "max_completion_tokens", "n"):
        value = body.get(name)
        if flavor.fastapi_validation and isinstance(value, float) and value.is_integer():
            body[name] = value = int(value)  # pydantic's lax mode takes 4.0 for an int field
        if value is not None and not _is_int(value):
            raise _Invalid("invalid-param", f"'{name}' must be an integer, got {json.dumps(value)}", param=name,
                           fastapi=_wrong(name, value, "int_type", "Input should be a valid integer"))
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None and not _is_number(value):
            raise _Invalid("invalid-param", f"'{name}' must be a number, got {json.dumps(value)}", param=name,
                           fastapi=_wrong(name, value, "float_type", "Input should be a valid number"))
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        raise _Invalid("invalid-param", f"'stream' must be a boolean, got {json.dumps(body['stream'])}", param="stream",
                       fastapi=_wrong("stream", body["stream"], "bool_type", "Input should be a valid boolean"))
    if flavor.llama_server_validation:
        _check_llama_server_params(body, tolerated)
        return
    if flavor.fastapi_validation:
        # llama-cpp-python's pydantic bounds: top_p in [0, 1]; completions max_tokens >= 0; nothing else.
        top_p = body.get("top_p")
        if top_p is not None and not 0 <= top_p <= 1:
            bound = "less_than_equal" if top_p > 1 else "greater_than_equal"
            raise _Invalid("invalid-param", "top_p out of range", fastapi=_wrong(
                "top_p", top_p, bound, f"Input should be {'less' if top_p > 1 else 'greater'} than or equal to "
                f"{1 if top_p > 1 else 0}") | {"ctx": {"le" if top_p > 1 else "ge": 1 if top_p > 1 else 0}})
        max_tokens = body.get("max_tokens")
        if kind == "completion" and max_tokens is not None and max_tokens < 0:
            raise _Invalid("invalid-param", "max_tokens below 0", fastapi=_wrong(
                "max_tokens", max_tokens, "greater_than_equal", "Input should be greater than or equal to 0")
                | {"ctx": {"ge": 0}})
        return
    for name in ("max_tokens", "max_completion_tokens", "n"):
        value = body.get(name)
        if value is not None and value < 1:
            raise _Invalid("invalid-param", f"'{name}' must be at least 1, got {value}", param=name)
    if body.get("n") is not None and body["n"] > MAX_N and not flavor.vllm_validation:
        raise _Invalid("invalid-param", f"'n' must be at most {MAX_N}, got {body['n']}", param="n")
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= temperature <= 2:
        raise _Invalid("invalid-param", f"'temperature' must be between 0 and 2, got {temperature}", param="temperature")
    top_p = body.get("top_p")
    if top_p is not None and flavor.vllm_validation and not 0 < top_p <= 1:
        raise _Invalid("invalid-param", f"top_p must be in (0, 1], got {top_p}.", param="top_p")
    if top_p is not None and not 0 <= top_p <= 1:
        raise _Invalid("invalid-param", f"'top_p' must be between 0 and 1, got {top_p}", param="top_p")


def _check_stream_options(body: dict[str, Any], flavor: Flavor, tolerated: Tolerated) -> None:
    if not flavor.stream_options_supported or body.get("stream_options") is None:
        return
    if flavor.vllm_validation and not body["stream_options"]:
        return  # vLLM's validator tests `data.get("stream_options")`: an empty {} passes
    if not isinstance(body["stream_options"], dict):
        raise _Invalid("invalid-param", "'stream_options' must be an object", param="stream_options")
    if body.get("stream") is not True and flavor.llama_server_validation:
        # llama-server reads include_usage only when streaming: otherwise ignored, served.
        tolerated.append(_Invalid("stream-options-without-stream", "stream_options without stream is served"))
    elif body.get("stream") is not True:
        raise _Invalid("stream-options-without-stream", "Stream options can only be defined when `stream=True`.",
                       param="stream_options")


def _reject(call: Call, flavor: Flavor, invalid: _Invalid) -> Reply | None:
    """The error reply for ``invalid``, or None when a violation mode says to serve it anyway."""
    if invalid.rule == "malformed-body" and call.violates("malformed-body"):
        return error_reply(call, flavor.name, 500, f"Internal Server Error: {invalid.message}")
    if invalid.status >= 500 and call.violates("error-schema"):
        # llama-server's (excused) 500 with a broken body would break malformed-body as well:
        # this mode breaks only the error body, so the status becomes a 4xx.
        return error_reply(call, flavor.name, 400, invalid.message)
    if call.violates(invalid.rule) and invalid.rule != "malformed-body":
        return None
    if flavor.fastapi_validation and invalid.fastapi is not None:
        return _fastapi_422(call, [invalid.fastapi])
    return error_reply(call, flavor.name, invalid.status, invalid.message, param=invalid.param)


def _served_violation(call: Call, flavor: Flavor, tolerated: Tolerated) -> Reply | None:
    """A request the real server serves although the contract forbids it (a known deviation of its
    spec) is served; under that rule's violation mode it gets a 500 instead: a break of the rule
    that the deviation record does not excuse (it excuses only the 200)."""
    for invalid in tolerated:
        if call.violates(invalid.rule):
            return error_reply(call, flavor.name, 500, f"{invalid.message} (simulated {invalid.rule} violation)")
    return None


def _validated(call: Call, flavor: Flavor, kind: str) -> tuple[dict[str, Any] | None, Reply | None, bool]:
    """(body, error reply, served against the contract): the last is True for a request llama-server
    serves although the contract forbids it."""
    try:
        body = _parse_body(call, flavor)
    except _Invalid as invalid:
        return None, _reject(call, flavor, invalid) or error_reply(call, flavor.name, invalid.status, invalid.message), False
    tolerated: Tolerated = []
    checks: list[Callable[[], None]] = [
        lambda: _check_model(body, flavor),
        (lambda: _check_messages(body, flavor, tolerated)) if kind == "chat" else (lambda: _check_prompt(body, flavor)),
        lambda: _check_params(body, flavor, kind, tolerated),
        lambda: _check_stream_options(body, flavor, tolerated),
    ]
    for check in checks:
        try:
            check()
        except _Invalid as invalid:
            reply = _reject(call, flavor, invalid)
            if reply is not None:
                return None, reply, False
    if kind == "completion" and (batch := _lcp_prompt_batch(call, flavor, body)) is not None:
        return None, batch, False
    return body, _served_violation(call, flavor, tolerated), bool(tolerated)


def _resolve_model(call: Call, flavor: Flavor, body: dict[str, Any]) -> tuple[str | None, Reply | None]:
    requested = body.get("model") if isinstance(body.get("model"), str) else None
    default = call.config.models[0]
    if flavor.unknown_model_ignored:
        if call.violates("unknown-model") and requested is not None and requested not in call.config.models:
            return None, error_reply(call, flavor.name, 404, f"model '{requested}' not found")
        return requested or default, None
    if not requested:  # missing: only vLLM serves it (the served model), or missing-field is violated
        return default, None
    if requested in call.config.models or (flavor.name == "ollama" and f"{requested}:latest" in call.config.models):
        return requested, None
    if call.violates("unknown-model"):
        return requested, None
    messages = {
        "openai": (f"The model `{requested}` does not exist or you do not have access to it.", "model_not_found"),
        "vllm": (f"The model `{requested}` does not exist.", None),
        "ollama": (f'model "{requested}" not found, try pulling it first', None),
    }
    message, code = messages[flavor.name]
    return None, error_reply(call, flavor.name, 404, message, param="model" if flavor.name == "openai" else None,
                             code=code)


def _max_tokens(call: Call, body: dict[str, Any], flavor: Flavor, prompt_tokens: int) -> int | None:
    value = body.get("max_completion_tokens", body.get("max_tokens"))
    if flavor.llama_server_validation and value == 0:
        value = 1  # n_predict 0 still samples one token (seen on llama-server: completion_tokens 1)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        return None  # absent, or (violation / llama.cpp) non-positive: generate until EOS
    window = call.config.context_window
    # The llama.cpp servers stop when the context is full: prompt + completion <= the window.
    return min(value, window - prompt_tokens) if window else min(value, CONTEXT_LENGTH)


def _usage(call: Call, gen: Generation, flavor: Flavor) -> dict[str, Any]:
    completion = gen.tokens_with_eos() if flavor.counts_eos else gen.completion_tokens
    total = gen.prompt_tokens + completion + (1 if call.violates("usage-arithmetic") else 0)
    usage: dict[str, Any] = {"prompt_tokens": gen.prompt_tokens, "completion_tokens": completion,
                             "total_tokens": total}
    if flavor.cached_tokens:
        usage["prompt_tokens_details"] = {"cached_tokens": 0}  # the simulator keeps no prompt cache
    return usage


def _context_exceeded(call: Call, flavor: Flavor, kind: str, prompt_tokens: int, body: dict[str, Any]) -> Reply:
    """The real server's answer to a prompt of ``context_window`` tokens or more."""
    window = call.config.context_window
    if flavor.name == "llama_cpp":  # tools/server/server-context.cpp, ERROR_TYPE_EXCEED_CONTEXT_SIZE
        message = (f"request ({prompt_tokens} tokens) exceeds the available context size ({window} tokens), "
                   "try increasing it")
        if call.violates("error-schema"):
            return json_reply(400, {"message": message})
        return json_reply(400, {"error": {"code": 400, "message": message, "type": "exceed_context_size_error",
                                          "n_prompt_tokens": prompt_tokens, "n_ctx": window}})
    # llama-cpp-python: ErrorResponseFormatters.context_length_exceeded (llama_cpp/server/errors.py)
    max_tokens = body.get("max_tokens")
    requested = (max_tokens if isinstance(max_tokens, int) else 0) + prompt_tokens
    if kind == "chat":
        message = (f"This model's maximum context length is {window} tokens. However, you requested {requested} "
                   f"tokens ({prompt_tokens} in the messages, {max_tokens} in the completion). Please reduce the "
                   "length of the messages or completion.")
    else:
        message = (f"This model's maximum context length is {window} tokens, however you requested {requested} "
                   f"tokens ({prompt_tokens} in your prompt; {max_tokens} for the completion). Please reduce your "
                   "prompt; or completion length.")
    return error_reply(call, flavor.name, 400, message, param="messages", code="context_length_exceeded")


def timings(gen: Generation) -> dict[str, Any]:
    prompt_ms = gen.schedule.prefill_s * 1000
    predicted_ms = sum(gen.schedule.gaps_s) * 1000
    predicted_n = gen.tokens_with_eos()  # timings are llama-server's: the EOS token counts
    return {
        "cache_n": 0,
        "prompt_n": gen.prompt_tokens,
        "prompt_ms": round(prompt_ms, 3),
        "prompt_per_token_ms": round(prompt_ms / gen.prompt_tokens, 3),
        "prompt_per_second": round(gen.prompt_tokens * 1000 / prompt_ms, 3) if prompt_ms else 0.0,
        "predicted_n": predicted_n,
        "predicted_ms": round(predicted_ms, 3),
        "predicted_per_token_ms": round(predicted_ms / predicted_n, 3),
        "predicted_per_second": round(predicted_n * 1000 / predicted_ms, 3) if predicted_ms else 0.0,
    }


_SENTINEL = "\x00sim-text\x00"
_SENTINEL_JSON = dumps(_SENTINEL)


def _sse(call: Call, payload: bytes) -> bytes:
    return b"data: " + payload + (b"\n" if call.violates("sse-framing") else b"\n\n")


def _choice(flavor: Flavor, index: int, key: str, value: Any, finish: str | None) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": index, key: value}
    if flavor.logprobs_field or (key == "text" and flavor.text_logprobs):
        choice["logprobs"] = None
    choice["finish_reason"] = finish
    return choice


def _stream(call: Call, flavor: Flavor, gen: Generation, body: dict[str, Any], kind: str) -> Streamed:
    chat = kind == "chat"
    base: dict[str, Any] = {
        "id": f"{'chatcmpl' if chat else flavor.text_id_prefix}-sim{gen.request_id:08x}",
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": gen.created,
        "model": gen.model,
    }
    if flavor.system_fingerprint:
        base["system_fingerprint"] = flavor.system_fingerprint
    if call.violates("sse-chunk-schema"):
        base["object"] = "chat.completion"
        del base["created"]
    no_finish = call.violates("sse-finish-reason")
    separator = b"\n" if call.violates("sse-framing") else b"\n\n"
    choices = range(len(gen.choices))

    def event(choice_list: list[dict[str, Any]], **extra: Any) -> bytes:
        return _sse(call, dumps({**base, "choices": choice_list, **extra}))

    def content(index: int, text: str) -> tuple[str, Any]:
        if not chat:
            return "text", text
        delta: dict[str, Any] = {"role": "assistant", "content": text} if flavor.role_in_every_delta else {"content": text}
        return "delta", delta

    preamble = b""
    if chat and flavor.role_delta is not None and not (flavor.role_with_first_token and gen.first_token_held()):
        preamble = b"".join(event([_choice(flavor, i, "delta", dict(flavor.role_delta), None)]) for i in choices)
    # Content chunks differ only by their text: render each shape once, splice the JSON-escaped text in
    # (a thousand streams make json.dumps per chunk the simulator's main cost).
    templates: dict[tuple[int, str | None], tuple[bytes, bytes]] = {}

    def content_event(index: int, text: str, finish: str | None) -> bytes:
        template = templates.get((index, finish))
        if template is None:
            key, value = content(index, _SENTINEL)
            head, tail = dumps({**base, "choices": [_choice(flavor, index, key, value, finish)]}).split(_SENTINEL_JSON)
            template = templates[(index, finish)] = (b"data: " + head, tail + separator)
        return template[0] + encode_basestring(text).encode("utf-8") + template[1]

    last = gen.chunk_count - 1
    finish_on_last = not flavor.separate_finish_chunk and not no_finish

    # A chunk of bytes that are no character yet is held back (sent with the byte that completes the
    # character, or never); llama-cpp-python sends the bytes still held when it stops, one "" each.
    texts = [gen.chunk_text(0, c) for c in range(gen.chunk_count)] if call.config.char_tokens > 1 else None
    flushed_from = gen.chunk_count
    if texts is not None and flavor.flushes_held_tokens:
        while flushed_from > 0 and texts[flushed_from - 1] == "":
            flushed_from -= 1

    def render(c: int) -> bytes:
        if c == 1 and broken_second:
            return malformed
        if texts is not None and texts[c] == "" and c < flushed_from:
            return b""
        if len(choices) == 1:
            return content_event(0, gen.chunk_text(0, c), gen.finish_reasons[0] if c == last and finish_on_last
                                 else None)
        return b"".join(content_event(i, gen.chunk_text(i, c), gen.finish_reasons[i]
                                      if c == last and finish_on_last else None) for i in choices)
    include_usage = flavor.stream_options_supported and isinstance(body.get("stream_options"), dict) and bool(
        body["stream_options"].get("include_usage"))
    if call.violates("sse-usage"):
        include_usage = not include_usage
    # llama-server: the final text-completion chunk always carries usage (include_usage or not), and
    # there is no separate usage chunk; the sse-usage mode drops it.
    usage_inline = not chat and flavor.text_stream_usage
    usage_chunk = include_usage and not usage_inline
    trailer = b""
    if not chat and flavor.eos_text_chunk and len(choices) == 1 and gen.finish_reasons[0] == "stop":
        trailer += content_event(0, "", None)  # the EOS token's own partial: no text
    if flavor.separate_finish_chunk:
        for i in choices:
            if chat:
                empty: Any = {"role": "assistant", "content": ""} if flavor.role_in_every_delta else {}
                key = "delta"
            else:
                key, empty = "text", ""
            extra: dict[str, Any] = {}
            if usage_inline and not call.violates("sse-usage"):
                extra["usage"] = _usage(call, gen, flavor)
            if flavor.timings and not usage_chunk:
                extra["timings"] = timings(gen)  # llama-server: timings ride on the LAST chunk only
            trailer += event([_choice(flavor, i, key, empty, None if no_finish else gen.finish_reasons[i])], **extra)
    if usage_chunk:
        extra = {"timings": timings(gen)} if flavor.timings else {}
        trailer += event([], usage=_usage(call, gen, flavor), **extra)
    if not call.violates("sse-done"):
        trailer += _sse(call, b"[DONE]")
    broken = dumps({**base, "choices": [_choice(flavor, 0, "delta" if chat else "text", {}, None)]})
    malformed = _sse(call, broken[: len(broken) // 2])
    broken_second = call.violates("sse-chunk-json") and gen.chunk_count > 1
    if call.violates("sse-chunk-json") and gen.chunk_count == 1:
        preamble += malformed
    content_type = "text/plain; charset=utf-8" if call.violates("sse-content-type") else "text/event-stream; charset=utf-8"
    return Streamed(gen, content_type, preamble, render, trailer, malformed, model=gen.model)


def _complete(call: Call, flavor: Flavor, gen: Generation, kind: str, *, valid_request: bool = True) -> Delayed:
    chat = kind == "chat"
    choices = []
    for i, tokens in enumerate(gen.choices):
        # Cut inside a character: llama-server's completion ends in U+FFFD, its chat answer drops the
        # bytes unless nothing else is left; llama-cpp-python decodes with errors="ignore".
        text = plain_text(tokens, replace_tail=flavor.tail_replacement and (not chat or not gen.text(i)))
        if chat:
            choices.append(_choice(flavor, i, "message", {"role": "assistant", "content": text},
                                   gen.finish_reasons[i]))
        else:
            choices.append(_choice(flavor, i, "text", text, gen.finish_reasons[i]))
    obj = "chat.completion" if chat else "text_completion"
    # The schema modes break answers to valid requests only: the answer to a request llama-server
    # serves against the contract is what its known-deviation record matches (a valid ChatCompletion
    # / TextCompletion); breaking it would break that request's rule too, not just the schema's.
    if chat and call.violates("chat-schema") and valid_request:
        obj = "chat.completion.chunk"
    if not chat and call.violates("completion-schema") and valid_request:
        obj = "completion"
    body: dict[str, Any] = {
        "id": f"{'chatcmpl' if chat else flavor.text_id_prefix}-sim{gen.request_id:08x}",
        "object": obj,
        "created": gen.created,
        "model": gen.model,
        "choices": choices,
        "usage": _usage(call, gen, flavor),
    }
    if flavor.system_fingerprint:
        body["system_fingerprint"] = flavor.system_fingerprint
    if flavor.timings:
        body["timings"] = timings(gen)
    content_type = "text/plain; charset=utf-8" if call.violates("json-content-type") else "application/json"
    return Delayed(gen, Reply(200, dumps(body), content_type), model=gen.model)


def _prompt_tokens(body: dict[str, Any], kind: str) -> tuple[int, str]:
    if kind == "chat":
        messages: list[Any] = body["messages"] if isinstance(body.get("messages"), list) else []
        return prompt_tokens_of_chat(messages), json.dumps(messages, sort_keys=True)[:4096]
    prompt = body.get("prompt", "")
    if isinstance(prompt, list):
        if prompt and all(_is_int(p) for p in prompt):
            return max(len(prompt), 1), json.dumps(prompt)[:4096]
        prompt = " ".join(p for p in prompt if isinstance(p, str))
    text = prompt if isinstance(prompt, str) else ""
    return max(count_tokens(text), 1), text[:4096]


def _handle(call: Call, flavor: Flavor, kind: str) -> Reply | Streamed | Delayed:
    body, reply, served_invalid = _validated(call, flavor, kind)
    if reply is not None:
        return reply
    assert body is not None
    model, reply = _resolve_model(call, flavor, body)
    if reply is not None:
        return reply
    assert model is not None
    call.note_model(model)
    prompt_tokens, prompt_key = _prompt_tokens(body, kind)
    window = call.config.context_window
    if window and prompt_tokens >= window:
        return _context_exceeded(call, flavor, kind, prompt_tokens, body)
    max_tokens = _max_tokens(call, body, flavor, prompt_tokens)
    exceed_by = 0
    if call.violates("max-tokens") and max_tokens is not None:
        # Beyond what a known deviation excuses: llama-cpp-python's own overrun is 1-3 tokens.
        exceed_by = OVERRUN_PAST_THE_RECORDS if flavor.finishes_characters else 1
    width = call.config.char_tokens
    if flavor.finishes_characters and width > 1 and max_tokens is not None and max_tokens > 0:
        exceed_by += llama_cpp_python_length(width, max_tokens) - max_tokens  # a known deviation
    n = body.get("n") if _is_int(body.get("n")) and not flavor.fastapi_validation and flavor.name != "llama_cpp" else 1
    n = max(1, min(int(n or 1), MAX_N))
    gen = plan_generation(
        call.config,
        request_id=call.request_id,
        model=model,
        prompt_key=prompt_key,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens,
        n=n,
        ignore_eos=body.get("ignore_eos") is True,
        min_tokens=body["min_tokens"] if _is_int(body.get("min_tokens")) and body["min_tokens"] > 0 else 0,
        exceed_by=exceed_by,
    )
    if body.get("stream") is True:
        return _stream(call, flavor, gen, body, kind)
    return _complete(call, flavor, gen, kind, valid_request=not served_invalid)


def handle_chat(call: Call, flavor: str) -> Reply | Streamed | Delayed:
    return _handle(call, FLAVORS[flavor], "chat")


def handle_completion(call: Call, flavor: str) -> Reply | Streamed | Delayed:
    return _handle(call, FLAVORS[flavor], "completion")


# A fixed creation time per model list keeps /v1/models byte-identical across calls.
_CREATED = int(time.time())


def _model_entry(flavor: str, model: str, n_ctx: int) -> dict[str, Any]:
    if flavor == "vllm":
        return {
            "id": model, "object": "model", "created": _CREATED, "owned_by": "vllm", "root": model, "parent": None,
            "max_model_len": CONTEXT_LENGTH,
            "permission": [{
                "id": f"modelperm-sim{abs(hash(model)) % 10**12:012d}", "object": "model_permission",
                "created": _CREATED, "allow_create_engine": False, "allow_sampling": True, "allow_logprobs": True,
                "allow_search_indices": False, "allow_view": True, "allow_fine_tuning": False, "organization": "*",
                "group": None, "is_blocking": False,
            }],
        }
    if flavor == "llama_cpp":
        # get_res_model_info (tools/server/server-context.cpp); the simulator's model name is its --alias.
        return {"id": model, "aliases": [model], "tags": [], "object": "model", "created": _CREATED,
                "owned_by": "llamacpp",
                "meta": {"vocab_type": 2, "n_vocab": 151936, "n_ctx": n_ctx, "n_ctx_train": 32768, "n_embd": 896,
                         "n_params": 494032768, "size": 491400032, "ftype": "Q4_K - Medium"}}
    if flavor == "llama_cpp_python":
        return {"id": model, "object": "model", "owned_by": "me", "permissions": []}
    if flavor == "ollama":
        return {"id": model, "object": "model", "created": _CREATED, "owned_by": "library"}
    return {"id": model, "object": "model", "created": _CREATED, "owned_by": "openai"}


def handle_models(call: Call, flavor: str) -> Reply:
    n_ctx = call.config.context_window or CONTEXT_LENGTH
    body: dict[str, Any] = {"object": "list", "data": [_model_entry(flavor, m, n_ctx) for m in call.config.models]}
    if flavor == "llama_cpp":
        # Recent llama-server also answers Ollama-style clients from the same endpoint.
        model = call.config.models[0]
        body = {
            "models": [{
                "name": model, "model": model, "modified_at": "", "size": "", "digest": "", "type": "model",
                "description": "", "tags": [""], "capabilities": ["completion"], "parameters": "",
                "details": {"parent_model": "", "format": "gguf", "family": "", "families": [""],
                            "parameter_size": "", "quantization_level": ""},
            }],
            **body,
        }
    if call.violates("models-schema"):
        body["object"] = "dict"
    return json_reply(200, body)
