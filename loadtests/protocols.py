"""The three wire protocols a load test speaks: request bodies and streamed-chunk parsing.

APIs: ``openai-chat`` (``/v1/chat/completions``), ``openai-completions`` (``/v1/completions``),
both SSE when streaming; ``ollama-chat`` (native ``/api/chat``, NDJSON). Parsing is pure (bytes
in, :class:`Chunk` out) so the users stay small and the rules are unit-tested without sockets.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

try:  # orjson parses a chunk several times faster; the stdlib is the fallback
    import orjson

    _loads: Callable[[bytes | str], Any] = orjson.loads
    _DecodeError: type[Exception] = orjson.JSONDecodeError
    dumps: Callable[[Any], bytes] = orjson.dumps
except ImportError:  # pragma: no cover
    _loads = json.loads
    _DecodeError = ValueError

    def dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()

__all__ = [
    "APIS",
    "API_ENDPOINTS",
    "API_FAMILIES",
    "Chunk",
    "ProtocolError",
    "api_name",
    "build_request",
    "dumps",
    "parse_full_body",
    "parse_stream_line",
]

# API name ("<family>-<endpoint>") -> path.
APIS: dict[str, str] = {
    "openai-chat": "/v1/chat/completions",
    "openai-completions": "/v1/completions",
    "ollama-chat": "/api/chat",
}
# `aibackend loadtest --api FAMILY --endpoint ENDPOINT` names one of them (api_name).
API_FAMILIES = tuple(dict.fromkeys(name.split("-", 1)[0] for name in APIS))
API_ENDPOINTS = tuple(dict.fromkeys(name.split("-", 1)[1] for name in APIS))


def api_name(family: str, endpoint: str) -> str:
    """The API of ``--api FAMILY --endpoint ENDPOINT``; a family with that endpoint only (ollama:
    chat) ignores ``--endpoint``."""
    name = f"{family}-{endpoint}"
    return name if name in APIS else next(n for n in APIS if n.startswith(f"{family}-"))


class ProtocolError(Exception):
    """The server sent something that is not a valid chunk of its own protocol."""


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a setattr call per field, per chunk
class Chunk:
    """One streamed event. ``text`` is content plus reasoning; a chunk with neither and no tool
    call (a role-only or empty delta) is not a token."""

    text: str = ""
    tool_call: bool = False
    usage_prompt: int | None = None
    usage_completion: int | None = None
    done: bool = False
    error: str | None = None

    @property
    def has_token(self) -> bool:
        return bool(self.text) or self.tool_call


DONE = Chunk(done=True)


def endpoint_path(api: str, base_path: str) -> str:
    """Join the server's base path and the API path without doubling a ``/v1`` the user typed."""
    path = APIS[api]
    base = base_path.rstrip("/")
    if base.endswith("/v1") and path.startswith("/v1/"):
        path = path[3:]
    return base + path


def build_request(
    api: str, model: str, prompt: str, max_tokens: int, stream: bool, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON body; streaming OpenAI requests ask for usage so output tokens are the server's."""
    body: dict[str, Any]
    if api == "openai-chat":
        body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens}
    elif api == "openai-completions":
        body = {"model": model, "prompt": prompt, "max_tokens": max_tokens}
    elif api == "ollama-chat":
        return {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "stream": stream,
            "options": {"num_predict": max_tokens},
            **(extra or {}),
        }
    else:
        raise ValueError(f"unknown api {api!r}; choose one of {', '.join(APIS)}")
    body["stream"] = stream
    if stream:
        body["stream_options"] = {"include_usage": True}
    body.update(extra or {})
    return body


def _openai_chunk(obj: dict[str, Any], api: str) -> Chunk:
    # Written for speed (it runs for every streamed event): the same rules as the plain version.
    if "error" in obj:
        return Chunk(error=_error_text(obj["error"]))
    choices = obj.get("choices")
    if type(choices) is not list:
        raise ProtocolError("chunk without a 'choices' list")
    chunk = Chunk()
    usage = obj.get("usage")
    if usage:
        chunk.usage_prompt = usage.get("prompt_tokens")
        chunk.usage_completion = usage.get("completion_tokens")
    if api == "openai-completions":
        chunk.text = "".join(choice.get("text") or "" for choice in choices)
        return chunk
    text = ""
    for choice in choices:
        delta = choice.get("delta")
        if type(delta) is not dict:
            raise ProtocolError("chat chunk choice without a 'delta' object")
        content = delta.get("content")
        if content:
            text += content
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning:
            text += reasoning
        if delta.get("tool_calls"):
            chunk.tool_call = True
    chunk.text = text
    return chunk


def _ollama_chunk(obj: dict[str, Any]) -> Chunk:
    if "error" in obj:
        return Chunk(error=_error_text(obj["error"]))
    message = obj.get("message") or {}
    done = bool(obj.get("done"))
    return Chunk(
        text=(message.get("content") or "") + (message.get("thinking") or ""),
        tool_call=bool(message.get("tool_calls")),
        usage_prompt=obj.get("prompt_eval_count") if done else None,
        usage_completion=obj.get("eval_count") if done else None,
        done=done,
    )


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)


def _load(payload: bytes | str) -> dict[str, Any]:
    try:
        obj = _loads(payload)
    except _DecodeError as exc:
        raise ProtocolError(f"invalid JSON in stream: {str(payload)[:80]!r}") from exc
    if not isinstance(obj, dict):
        raise ProtocolError(f"stream item is not a JSON object: {str(payload)[:80]!r}")
    return obj


def parse_stream_line(api: str, line: bytes) -> Chunk | None:
    """One line of the body; ``None`` for lines that carry no event (blank, SSE comments, ids)."""
    if line[:6] == b"data: " and api != "ollama-chat":  # the usual SSE line, the fast way
        payload = line[6:].rstrip()
        if payload == b"[DONE]":
            return DONE
        try:
            obj = _loads(payload)
        except _DecodeError:
            obj = None
        if type(obj) is dict:
            return _openai_chunk(obj, api)
    line = line.strip()
    if not line:
        return None
    if api == "ollama-chat":
        return _ollama_chunk(_load(line))
    if line.startswith(b":"):
        return None
    if not line.startswith(b"data:"):
        if line.split(b":", 1)[0] in (b"event", b"id", b"retry"):
            return None
        raise ProtocolError(f"not an SSE line: {line[:80]!r}")
    payload = line[5:].strip()
    if payload == b"[DONE]":
        return DONE
    return _openai_chunk(_load(payload), api)


def parse_full_body(api: str, body: bytes) -> Chunk:
    """A non-streaming response as one chunk (text, usage, done)."""
    obj = _load(body)
    if "error" in obj:
        return Chunk(error=_error_text(obj["error"]))
    if api == "ollama-chat":
        return _ollama_chunk(obj)
    usage = obj.get("usage") or {}
    choices = obj.get("choices")
    if not isinstance(choices, list):
        raise ProtocolError("response without a 'choices' list")
    text = ""
    tool_call = False
    for choice in choices:
        if api == "openai-completions":
            text += choice.get("text") or ""
        else:
            message = choice.get("message") or {}
            text += (message.get("content") or "") + (message.get("reasoning_content") or "")
            tool_call = tool_call or bool(message.get("tool_calls"))
    return Chunk(
        text=text,
        tool_call=tool_call,
        usage_prompt=usage.get("prompt_tokens"),
        usage_completion=usage.get("completion_tokens"),
        done=True,
    )
