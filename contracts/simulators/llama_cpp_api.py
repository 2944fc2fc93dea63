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
from contracts.simulators.utf8 import plain_text

__all__ = ["LOADING_BODY", "handle_completion", "handle_health", "handle_metrics", "handle_props",
           "handle_slots", "handle_tokenize"]

LOADING_BODY = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
BUILD = "b6100-sim"


def handle_health(call: Call) -> Reply:
    return json_reply(200, {"status": "healthy" if call.violates("health") else "ok"})


def _n_ctx(call: Call) -> int:
    return call.config.context_window or CONTEXT_LENGTH


def _generation_settings(call: Call, n_predict: int = -1, temperature: float = 0.8) -> dict[str, Any]:
    """llama-server's sampler configuration (server-task.cpp, task_params::to_json), with its defaults."""
    return {
        "seed": 4294967295, "temperature": temperature, "dynatemp_range": 0.0, "dynatemp_exponent": 1.0, "top_k": 40,
        "top_p": 0.95, "min_p": 0.05, "top_n_sigma": -1.0, "xtc_probability": 0.0, "xtc_threshold": 0.1,
        "typical_p": 1.0, "repeat_last_n": 64, "repeat_penalty": 1.0, "presence_penalty": 0.0,
        "frequency_penalty": 0.0, "dry_multiplier": 0.0, "dry_base": 1.75, "dry_allowed_length": 2,
        "dry_penalty_last_n": 64, "dry_sequence_breakers": ["\n", ":", "\"", "*"], "mirostat": 0, "mirostat_tau": 5.0,
        "mirostat_eta": 0.1, "adaptive_target": -1.0, "adaptive_decay": 0.9, "stop": [], "max_tokens": n_predict,
        "n_predict": n_predict, "n_keep": 0, "n_discard": 0, "ignore_eos": False, "stream": False, "logit_bias": [],
        "n_probs": 0, "min_keep": 0, "grammar": "", "grammar_lazy": False, "grammar_triggers": [],
        "preserved_tokens": [], "chat_format": "Content-only", "reasoning_format": "deepseek",
        "reasoning_in_content": False, "generation_prompt": "",
        "samplers": ["penalties", "dry", "top_n_sigma", "top_k", "typ_p", "top_p", "min_p", "xtc", "temperature"],
        "speculative.types": "none", "timings_per_token": False, "post_sampling_probs": False,
        "backend_sampling": False, "lora": [],
    }


def handle_props(call: Call) -> Reply:
    return json_reply(200, {
        "default_generation_settings": {"id": 0, "id_task": -1, "n_ctx": _n_ctx(call), "speculative": False,
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
        {"id": slot, "id_task": -1, "n_ctx": _n_ctx(call), "speculative": False, "is_processing": slot < running,
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


def _final(call: Call, gen: Generation, prompt: str, content: str, settings: dict[str, Any]) -> dict[str, Any]:
    finish = gen.finish_reasons[0]
    return {
        "index": 0, "content": content, "tokens": [], "id_slot": 0, "stop": True, "model": gen.model,
        "tokens_predicted": gen.tokens_with_eos(), "tokens_evaluated": gen.prompt_tokens,
        "generation_settings": settings, "prompt": prompt, "has_new_line": False,
        "truncated": False, "stop_type": "limit" if finish == "length" else "eos", "stopping_word": "",
        "tokens_cached": gen.prompt_tokens + gen.tokens_with_eos(), "timings": timings(gen),
    }


def handle_completion(call: Call) -> Reply | Streamed | Delayed:
    try:
        body = json.loads(call.body.decode("utf-8")) if call.body.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        # json::parse throws outside llama-server's checks: ex_wrapper's 500 (a known deviation).
        line, column = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
        return error_reply(call, "llama_cpp", 500, f"[json.exception.parse_error.101] parse error at line {line}, "
                           f"column {column}: syntax error while parsing value - invalid literal")
    if body is None and not call.body.strip():
        return error_reply(call, "llama_cpp", 500, "[json.exception.parse_error.101] parse error at line 1, column 1: "
                           "attempting to parse an empty input; check that your input string or stream contains the "
                           "expected JSON")
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
    window = call.config.context_window
    if window and prompt_tokens >= window:  # the same slot check as for /v1 (exceed_context_size_error)
        message = f"request ({prompt_tokens} tokens) exceeds the available context size ({window} tokens), try increasing it"
        return json_reply(400, {"error": {"code": 400, "message": message, "type": "exceed_context_size_error",
                                          "n_prompt_tokens": prompt_tokens, "n_ctx": window}})
    model = call.config.models[0]
    call.note_model(model)
    gen = plan_generation(call.config, request_id=call.request_id, model=model, prompt_key=prompt_text[:4096],
                          prompt_tokens=prompt_tokens, max_tokens=n_predict if n_predict > 0 else None)
    temperature = body.get("temperature")
    settings = _generation_settings(call, n_predict, float(temperature) if isinstance(temperature, int | float) else 0.8)
    if body.get("stream") is not True:
        content = plain_text(gen.choices[0], replace_tail=True)  # cut inside a character: U+FFFD
        return Delayed(gen, json_reply(200, _final(call, gen, prompt_text, content, settings)), model=model)
    chunks = []
    sent = 0

    def partial(content: str, predicted: int) -> bytes:
        chunk = {"index": 0, "content": content, "tokens": [], "stop": False, "id_slot": -1,
                 "tokens_predicted": predicted, "tokens_evaluated": prompt_tokens}
        return b"data: " + dumps(chunk) + b"\n\n"

    for c in range(gen.chunk_count):
        sent += gen.schedule.sizes[c]
        text = gen.chunk_text(0, c)
        # Bytes of a character not complete yet are held back (the text completion's rule).
        chunks.append(partial(text, sent) if text else b"")
    trailer = partial("", sent + 1) if gen.finish_reasons[0] == "stop" else b""  # the EOS token's partial
    trailer += b"data: " + dumps(_final(call, gen, prompt_text, "", {**settings, "stream": True})) + b"\n\n"
    malformed = b'data: {"index":0,"content":\n\n'
    return Streamed(gen, "text/event-stream", b"", chunks.__getitem__, trailer, malformed, model=model)
