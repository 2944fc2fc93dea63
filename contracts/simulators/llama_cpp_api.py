"""llama-server's own endpoints: ``/health``, ``/props``, ``/slots``, ``/tokenize``, ``/metrics`` and
the native (non-OpenAI) ``POST /completion`` with its SSE stream of ``{content, stop}`` objects."""

from __future__ import annotations

import json
from typing import Any

from contracts.simulators.generation import Generation, plan_generation
from contracts.simulators.metrics import llama_cpp_metrics
from contracts.simulators.openai_api import CONTEXT_LENGTH, error_reply, timings
from contracts.simulators.replies import Call, Delayed, Reply, Streamed, dumps, json_reply, text_reply
from contracts.simulators.text import count_tokens

__all__ = ["LOADING_BODY", "handle_completion", "handle_health", "handle_metrics", "handle_props",
           "handle_slots", "handle_tokenize"]

LOADING_BODY = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
BUILD = "b6100-sim"


def handle_health(call: Call) -> Reply:
    return json_reply(200, {"status": "healthy" if call.violates("health") else "ok"})


def _generation_settings(call: Call) -> dict[str, Any]:
    return {"n_ctx": CONTEXT_LENGTH, "n_predict": -1, "model": call.config.models[0], "seed": call.config.seed,
            "temperature": 0.8, "top_k": 40, "top_p": 0.95, "min_p": 0.05, "stream": False}


def handle_props(call: Call) -> Reply:
    return json_reply(200, {
        "default_generation_settings": {"id": 0, "id_task": -1, "n_ctx": CONTEXT_LENGTH, "speculative": False,
                                        "is_processing": False, "params": _generation_settings(call)},
        "total_slots": call.config.slots,
        "model_path": call.config.models[0],
        "modalities": {"vision": False, "audio": False},
        "chat_template": "{% for message in messages %}{{ message['content'] }}{% endfor %}",
        "bos_token": "<|endoftext|>",
        "eos_token": "<|im_end|>",
        "build_info": BUILD,
    })


def handle_slots(call: Call) -> Reply:
    running = int(call.counters.get("running", 0))
    return json_reply(200, [
        {"id": slot, "id_task": -1, "n_ctx": CONTEXT_LENGTH, "speculative": False, "is_processing": slot < running,
         "params": _generation_settings(call)}
        for slot in range(call.config.slots)
    ])


def handle_metrics(call: Call) -> Reply:
    body = llama_cpp_metrics(call.counters["stats"], running=int(call.counters["running"]),
                             queued=int(call.counters["queued"]), slots=call.config.slots)
    return text_reply(200, body, content_type="text/plain; version=0.0.4")


def handle_tokenize(call: Call) -> Reply:
    try:
        body = json.loads(call.body or b"null")
    except json.JSONDecodeError as exc:
        return error_reply(call, "llama_cpp", 400, f"invalid JSON: {exc}")
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, str):
        return error_reply(call, "llama_cpp", 400, "\"content\" must be provided")
    return json_reply(200, {"tokens": [1000 + i for i in range(count_tokens(content))]})


def _final(call: Call, gen: Generation, prompt: str, content: str) -> dict[str, Any]:
    finish = gen.finish_reasons[0]
    return {
        "index": 0, "content": content, "tokens": [], "id_slot": 0, "stop": True, "model": gen.model,
        "tokens_predicted": gen.completion_tokens, "tokens_evaluated": gen.prompt_tokens,
        "generation_settings": _generation_settings(call), "prompt": prompt, "has_new_line": False,
        "truncated": False, "stop_type": "limit" if finish == "length" else "eos", "stopping_word": "",
        "tokens_cached": gen.prompt_tokens + gen.completion_tokens, "timings": timings(gen),
    }


def handle_completion(call: Call) -> Reply | Streamed | Delayed:
    try:
        body = json.loads(call.body.decode("utf-8")) if call.body.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return error_reply(call, "llama_cpp", 400, f"invalid JSON in request body: {exc}")
    if not isinstance(body, dict):
        return error_reply(call, "llama_cpp", 400, "request body must be a JSON object")
    prompt = body.get("prompt")
    if isinstance(prompt, list) and prompt and all(isinstance(p, int) and not isinstance(p, bool) for p in prompt):
        prompt_tokens, prompt_text = len(prompt), json.dumps(prompt)
    elif isinstance(prompt, str):
        prompt_tokens, prompt_text = max(count_tokens(prompt), 1), prompt
    else:
        return error_reply(call, "llama_cpp", 400, "\"prompt\" must be a string or an array of tokens")
    n_predict = body.get("n_predict", -1)
    if not isinstance(n_predict, int) or isinstance(n_predict, bool):
        return error_reply(call, "llama_cpp", 400, "\"n_predict\" must be an integer")
    model = call.config.models[0]
    call.note_model(model)
    gen = plan_generation(call.config, request_id=call.request_id, model=model, prompt_key=prompt_text[:4096],
                          prompt_tokens=prompt_tokens, max_tokens=n_predict if n_predict > 0 else None)
    if body.get("stream") is not True:
        return Delayed(gen, json_reply(200, _final(call, gen, prompt_text, gen.text(0))), model=model)
    chunks = []
    sent = 0
    for c in range(gen.chunk_count):
        sent += gen.schedule.sizes[c]
        chunk = {"index": 0, "content": gen.chunk_text(0, c), "tokens": [], "stop": False, "id_slot": -1,
                 "tokens_predicted": sent, "tokens_evaluated": prompt_tokens}
        chunks.append(b"data: " + dumps(chunk) + b"\n\n")
    trailer = b"data: " + dumps(_final(call, gen, prompt_text, "")) + b"\n\n"
    malformed = b'data: {"index":0,"content":\n\n'
    return Streamed(gen, "text/event-stream", b"", chunks.__getitem__, trailer, malformed, model=model)
