"""What the OFFICIAL clients see of a server: the pinned ``openai`` SDK (constraints.txt) and the
``ollama`` Python client, driving one scripted session each, reduced to plain data a test compares
whole (the exception class and status of each error, the parsed fields of each answer).

``openai_view(base_url, model)`` -- models list, chat and completions, plain and streamed (with
``stream_options.include_usage``), an unknown model, a request the server rejects.
``ollama_view(host, model)`` -- list, show, ps, chat and generate, plain and streamed, an unknown model.

Used against every simulator, the real llama.cpp engines and the real LiteLLM gateway: where a
real server differs from OpenAI or Ollama, its simulator must look the same through the client.
"""

from __future__ import annotations

from typing import Any

import ollama
import openai

__all__ = ["MAX_TOKENS", "PROMPT", "ollama_view", "openai_view"]

MAX_TOKENS = 4
PROMPT = "Say hello in three words."
MESSAGES: list[Any] = [{"role": "user", "content": PROMPT}]


def _error(exc: Exception) -> dict[str, Any]:
    status = getattr(exc, "status_code", None)
    return {"raises": type(exc).__name__, "status": status}


def _usage(usage: Any) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {"completion_tokens": usage.completion_tokens, "sums_up": usage.total_tokens == usage.prompt_tokens + usage.completion_tokens}


def _attempt(call: Any) -> Any:
    try:
        return call()
    except (openai.APIStatusError, ollama.ResponseError) as exc:
        return _error(exc)


def openai_view(base_url: str, model: str, *, api_key: str = "sk-no-key", bad_request: dict[str, Any] | None = None,
                timeout: float = 60) -> dict[str, Any]:
    """One session of the openai SDK against ``base_url`` (the server root; the SDK gets ``/v1``).
    No retries: the SDK would otherwise retry a 5xx twice and hide it. ``bad_request``: extra
    fields that make a chat request invalid (default ``messages`` as a string)."""
    client = openai.OpenAI(base_url=base_url.rstrip("/") + "/v1", api_key=api_key, max_retries=0, timeout=timeout)
    view: dict[str, Any] = {}
    with client:
        view["models"] = _attempt(lambda: sorted(m.id for m in client.models.list().data))

        def chat() -> dict[str, Any]:
            answer = client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=MAX_TOKENS)
            choice = answer.choices[0]
            return {"object": answer.object, "role": choice.message.role, "text": isinstance(choice.message.content, str),
                    "finish_reason": choice.finish_reason, "usage": _usage(answer.usage)}

        def completion() -> dict[str, Any]:
            answer = client.completions.create(model=model, prompt=PROMPT, max_tokens=MAX_TOKENS)
            choice = answer.choices[0]
            return {"object": answer.object, "text": isinstance(choice.text, str), "finish_reason": choice.finish_reason,
                    "usage": _usage(answer.usage)}

        def chat_stream() -> dict[str, Any]:
            chunks = list(client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=MAX_TOKENS,
                                                          stream=True, stream_options={"include_usage": True}))
            return _stream_view(chunks, lambda c: c.delta.content)

        def completion_stream() -> dict[str, Any]:
            chunks = list(client.completions.create(model=model, prompt=PROMPT, max_tokens=MAX_TOKENS, stream=True,
                                                    stream_options={"include_usage": True}))
            return _stream_view(chunks, lambda c: c.text)

        view["chat"] = _attempt(chat)
        view["completion"] = _attempt(completion)
        view["chat-stream"] = _attempt(chat_stream)
        view["completion-stream"] = _attempt(completion_stream)
        view["unknown-model"] = _attempt(lambda: {"served": client.chat.completions.create(
            model="no-such-model-for-client-check", messages=MESSAGES, max_tokens=1).object})
        invalid = bad_request or {"messages": "hello"}
        view["bad-request"] = _attempt(lambda: {"served": client.chat.completions.create(
            model=model, max_tokens=1, **{"messages": MESSAGES, **invalid}).object})
    return view


def _stream_view(chunks: list[Any], text_of: Any) -> dict[str, Any]:
    """What a streaming consumer relies on: text arrived, one finish reason, where usage was."""
    texts = [text_of(c) for chunk in chunks for c in chunk.choices]
    finishes = [c.finish_reason for chunk in chunks for c in chunk.choices if c.finish_reason is not None]
    usage_at = [i for i, chunk in enumerate(chunks) if chunk.usage is not None]
    return {
        "object": sorted({chunk.object for chunk in chunks}),
        "text": any(isinstance(t, str) and t for t in texts),
        "finish_reasons": finishes,
        # "last": usage only on the final chunk, as include_usage asks; None: no usage at all.
        "usage": None if not usage_at else ("last" if usage_at == [len(chunks) - 1] else f"chunks {usage_at}"),
        "final_usage": _usage(chunks[-1].usage) if chunks and chunks[-1].usage is not None else None,
    }


def ollama_view(host: str, model: str, *, num_predict: int = MAX_TOKENS, timeout: float = 60) -> dict[str, Any]:
    """One session of the ollama client against ``host`` (the server root)."""
    client = ollama.Client(host=host, timeout=timeout)
    try:
        return _ollama_session(client, model, num_predict)
    finally:
        client.close()  # its keep-alive connection, else a ResourceWarning fails a later test on the worker


def _ollama_session(client: Any, model: str, num_predict: int) -> dict[str, Any]:
    options = {"num_predict": num_predict}
    view: dict[str, Any] = {}
    view["list"] = _attempt(lambda: sorted(m.model or "" for m in client.list().models))
    view["show"] = _attempt(lambda: {"has_details": client.show(model).details is not None})

    def chat() -> dict[str, Any]:
        answer = client.chat(model=model, messages=MESSAGES, options=options)
        return {"role": answer.message.role, "text": isinstance(answer.message.content, str), "done": answer.done,
                "done_reason": answer.done_reason, "eval_count": answer.eval_count,
                "durations": all(isinstance(getattr(answer, k), int) for k in ("total_duration", "eval_duration"))}

    def chat_stream() -> dict[str, Any]:
        parts = list(client.chat(model=model, messages=MESSAGES, options=options, stream=True))
        return {"text": any(p.message.content for p in parts), "done": [p.done for p in parts].count(True),
                "last_done": parts[-1].done, "done_reason": parts[-1].done_reason, "eval_count": parts[-1].eval_count}

    def generate() -> dict[str, Any]:
        answer = client.generate(model=model, prompt=PROMPT, options=options)
        return {"text": isinstance(answer.response, str), "done": answer.done, "done_reason": answer.done_reason,
                "eval_count": answer.eval_count}

    def generate_stream() -> dict[str, Any]:
        parts = list(client.generate(model=model, prompt=PROMPT, options=options, stream=True))
        return {"text": any(p.response for p in parts), "done": [p.done for p in parts].count(True),
                "last_done": parts[-1].done, "done_reason": parts[-1].done_reason, "eval_count": parts[-1].eval_count}

    view["chat"] = _attempt(chat)
    view["chat-stream"] = _attempt(chat_stream)
    view["generate"] = _attempt(generate)
    view["generate-stream"] = _attempt(generate_stream)
    view["ps"] = _attempt(lambda: sorted(m.model or "" for m in client.ps().models))
    view["unknown-model"] = _attempt(lambda: client.chat(model="no-such-model-for-client-check", messages=MESSAGES,
                                                         options=options).done)
    return view
