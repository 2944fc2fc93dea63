"""Ollama's native ``/api`` surface: NDJSON streams, ``{"error": str}`` bodies, nanosecond durations.

Model names carry a tag (``llama3.2`` is ``llama3.2:latest``). A model counts as loaded (``/api/ps``)
from its first inference request on.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.simulators.generation import Generation, plan_generation
from contracts.simulators.replies import Call, Delayed, Reply, Streamed, dumps, json_reply, text_reply
from contracts.simulators.text import count_tokens, prompt_tokens_of_chat

__all__ = ["OLLAMA_VERSION", "canonical", "handle_chat", "handle_generate", "handle_ps", "handle_root",
           "handle_show", "handle_tags", "handle_version"]

OLLAMA_VERSION = "0.12.6"
_MODIFIED_AT = "2025-06-01T12:00:00.000000000Z"
_MODEL_SIZE = 2019393189


def canonical(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


def _timestamp() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond * 1000:09d}Z"


_JSON = "application/json; charset=utf-8"  # Gin's c.JSON


def _json(status: int, body: Any) -> Reply:
    return json_reply(status, body, content_type=_JSON)


def _error(call: Call, status: int, message: str) -> Reply:
    if call.violates("ollama-error"):
        return _json(status, {"error": {"message": message}})
    return _json(status, {"error": message})


def _details() -> dict[str, Any]:
    return {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
            "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


def _entry(call: Call, name: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "model": name, "modified_at": _MODIFIED_AT, "size": _MODEL_SIZE,
                             "digest": _digest(name), "details": _details()}
    if call.violates("ollama-tags-schema"):
        del entry["digest"]
    return entry


def _models(call: Call) -> list[str]:
    return [canonical(m) for m in call.config.models]


def handle_root(call: Call) -> Reply:
    return text_reply(200, "Ollama is up" if call.violates("health") else "Ollama is running")


def handle_version(call: Call) -> Reply:
    return _json(200, {"version": OLLAMA_VERSION})


def handle_tags(call: Call) -> Reply:
    return _json(200, {"models": [_entry(call, m) for m in _models(call)]})


def handle_ps(call: Call) -> Reply:
    loaded = call.counters.get("loaded_models", {})
    models = []
    for name in _models(call):
        if name in loaded:
            expires = datetime.fromtimestamp(loaded[name], UTC) + timedelta(minutes=5)
            models.append({"name": name, "model": name, "size": _MODEL_SIZE, "digest": _digest(name),
                           "details": _details(), "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                           "size_vram": 0, "context_length": 4096})
    return _json(200, {"models": models})


def _parse(call: Call) -> tuple[dict[str, Any] | None, Reply | None]:
    if not call.body.strip():
        return None, _error(call, 400, "missing request body")
    try:
        body = json.loads(call.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, _error(call, 400, f"invalid character at offset {getattr(exc, 'pos', 0)}: {exc}")
    if not isinstance(body, dict):
        return None, _error(call, 400, f"json: cannot unmarshal {_go_type(body)} into Go value of type api.Request")
    return body, None


def _go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _typed(call: Call, body: dict[str, Any], request_type: str, fields: dict[str, tuple[type, ...]]) -> Reply | None:
    for name, types in fields.items():
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            return _error(call, 400, f"json: cannot unmarshal {_go_type(value)} into Go struct field "
                                     f"{request_type}.{name} of type {_GO_TYPES[name]}")
    return None


_GO_TYPES = {"model": "string", "messages": "[]api.Message", "prompt": "string", "stream": "bool",
             "options": "map[string]interface {}", "system": "string", "format": "json.RawMessage",
             "keep_alive": "*api.Duration"}


def _resolve(call: Call, body: dict[str, Any]) -> tuple[str | None, Reply | None]:
    model = body.get("model")
    if not model:
        return None, _error(call, 400, "model is required")
    name = canonical(model)
    if name not in _models(call):
        if call.violates("ollama-error"):
            return None, _json(404, {"error": {"message": "model not found"}})
        return None, _error(call, 404, f"model '{model}' not found")
    return name, None


def _num_predict(body: dict[str, Any]) -> int | None:
    options = body.get("options") or {}
    value = options.get("num_predict") if isinstance(options, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None  # absent, -1 (infinite) or -2 (fill context): generate until EOS


def _durations(gen: Generation, seconds: bool) -> dict[str, Any]:
    prompt_ns = int(gen.schedule.prefill_s * 1e9)
    eval_ns = max(int(sum(gen.schedule.gaps_s) * 1e9), 1)
    load_ns = 1_000_000
    values: dict[str, Any] = {
        "total_duration": load_ns + prompt_ns + eval_ns,
        "load_duration": load_ns,
        "prompt_eval_count": gen.prompt_tokens,
        "prompt_eval_duration": prompt_ns,
        "eval_count": gen.completion_tokens,
        "eval_duration": eval_ns,
    }
    if seconds:
        for key in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
            values[key] = values[key] / 1e9
    return values


def _load_only(call: Call, model: str, chat: bool) -> Reply:
    # An empty chat / prompt only loads the model: Ollama answers done_reason "load" at once.
    body: dict[str, Any] = {"model": model, "created_at": _timestamp()}
    body.update({"message": {"role": "assistant", "content": ""}} if chat else {"response": ""})
    body.update({"done_reason": "load", "done": True})
    return _json(200, body)


def _answer(call: Call, body: dict[str, Any], model: str, chat: bool, prompt_tokens: int,
            prompt_key: str) -> Streamed | Delayed:
    max_tokens = _num_predict(body)
    gen = plan_generation(call.config, request_id=call.request_id, model=model, prompt_key=prompt_key,
                          prompt_tokens=prompt_tokens, max_tokens=max_tokens,
                          exceed_by=1 if call.violates("ollama-max-tokens") and max_tokens is not None else 0)

    def line(text: str, done: bool) -> dict[str, Any]:
        obj: dict[str, Any] = {"model": model, "created_at": _timestamp()}
        obj.update({"message": {"role": "assistant", "content": text}} if chat else {"response": text})
        obj["done"] = done
        return obj

    def final(text: str, seconds: bool) -> dict[str, Any]:
        obj = line(text, True)
        if not call.violates("ndjson-done"):
            obj["done_reason"] = gen.finish_reasons[0]
        if not chat:
            obj["context"] = list(range(1, prompt_tokens + gen.completion_tokens + 1))[:64]
        obj.update(_durations(gen, seconds))
        return obj

    if body.get("stream") is False:
        reply = Reply(200, dumps(final(gen.text(0), call.violates("ollama-chat-schema"))), _JSON)
        return Delayed(gen, reply, model=model)
    sep = b"\n"
    chunks = [dumps(line(gen.chunk_text(0, c), False)) + sep for c in range(gen.chunk_count)]
    if call.violates("ndjson-framing") and len(chunks) > 1:
        chunks[0] = chunks[0].rstrip(b"\n")  # the first two objects now share a line
    trailer = dumps(final("", False)) + sep
    malformed = dumps(line("", False))[:20] + sep
    content_type = "application/json; charset=utf-8" if call.violates("ndjson-content-type") else "application/x-ndjson"
    return Streamed(gen, content_type, b"", chunks.__getitem__, trailer, malformed, model=model)


def handle_chat(call: Call) -> Reply | Streamed | Delayed:
    body, reply = _parse(call)
    if reply is not None:
        return reply
    assert body is not None
    reply = _typed(call, body, "ChatRequest", {"model": (str,), "messages": (list,), "stream": (bool,),
                                                 "options": (dict,), "keep_alive": (str, int, float)})
    if reply is not None:
        return reply
    model, reply = _resolve(call, body)
    if reply is not None:
        return reply
    assert model is not None
    messages = body.get("messages") or []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            return _error(call, 400, f"json: cannot unmarshal {_go_type(message)} into Go struct field "
                                     f"ChatRequest.messages of type api.Message")
        if not isinstance(message.get("content", ""), str) or not isinstance(message.get("role", ""), str):
            return _error(call, 400, f"json: cannot unmarshal into Go struct field ChatRequest.messages[{index}]")
    call.note_model(model)
    if not messages:
        return _load_only(call, model, chat=True)
    return _answer(call, body, model, True, prompt_tokens_of_chat(messages), json.dumps(messages, sort_keys=True)[:4096])


def handle_generate(call: Call) -> Reply | Streamed | Delayed:
    body, reply = _parse(call)
    if reply is not None:
        return reply
    assert body is not None
    reply = _typed(call, body, "GenerateRequest", {"model": (str,), "prompt": (str,), "system": (str,),
                                                     "stream": (bool,), "options": (dict,),
                                                     "keep_alive": (str, int, float)})
    if reply is not None:
        return reply
    model, reply = _resolve(call, body)
    if reply is not None:
        return reply
    assert model is not None
    call.note_model(model)
    prompt = body.get("prompt") or ""
    if not prompt:
        return _load_only(call, model, chat=False)
    return _answer(call, body, model, False, max(count_tokens(prompt), 1), prompt[:4096])


def handle_show(call: Call) -> Reply:
    body, reply = _parse(call)
    if reply is not None:
        return reply
    assert body is not None
    name = body.get("model") or body.get("name")
    if not isinstance(name, str) or not name:
        return _error(call, 400, "model is required")
    if canonical(name) not in _models(call):
        # ShowHandler names the model by its shortest display form, tag included
        # (server/routes.go, types/model/name.go DisplayShortest; Ollama v0.32.15).
        return _error(call, 404, f"model '{canonical(name)}' not found")
    return _json(200, {
        "license": "simulated model: no license",
        "modelfile": f"FROM {canonical(name)}\n",
        "parameters": "stop                           \"<|eot_id|>\"",
        "template": "{{ .Prompt }}",
        "details": _details(),
        "model_info": {"general.architecture": "llama", "general.parameter_count": 3212749888,
                       "llama.context_length": 131072},
        "capabilities": ["completion"],
        "modified_at": _MODIFIED_AT,
    })


def not_found(call: Call) -> Reply:
    return text_reply(404, "404 page not found")
