"""One route table per provider type: which endpoints the real server has and who answers them.

Also the per-type answers that do not belong to a surface module: vLLM's ``/health`` (empty body),
``/ping``, ``/version``, ``/metrics``, ``/tokenize``; the 404 of unknown paths; what a request gets
while the model is loading; the body of an injected error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from contracts.simulators import llama_cpp_api, ollama_api, openai_api
from contracts.simulators.metrics import vllm_metrics
from contracts.simulators.replies import Call, Delayed, Reply, Streamed, json_reply, text_reply
from contracts.simulators.text import count_tokens

__all__ = ["Personality", "Route", "fault_reply", "loading_reply", "not_found_reply", "personality"]

Handler = Callable[[Call], Reply | Streamed | Delayed]

VLLM_VERSION = "0.34.0"  # the pin of contracts/upstream/pins.yaml
LCP_VERSION = "0.3.16"


@dataclass(frozen=True)
class Route:
    handler: Handler
    inference: bool = False  # subject to faults, slots and the latency model


@dataclass(frozen=True)
class Personality:
    type: str
    routes: dict[tuple[str, str], Route]
    # How the real server behaves while loading its model: "refuse" (port not listening yet),
    # "503" (answers 503 with a body), "wait" (answers, requests wait for the load).
    loading: str
    health_paths: tuple[str, ...]
    # How the real server speaks HTTP: its `server` header ("" = none), the `keep-alive` header
    # it announces ("" = none), and whether it closes the connection after every streamed answer
    # without saying so (llama-server does: tests/contract/test_engine_keepalive.py). Pooling
    # clients such as LiteLLM's aiohttp must not count on reusing such a connection.
    server_header: str = ""
    keep_alive_header: str = ""
    closes_after_stream: bool = False


def _openai_routes(flavor: str) -> dict[tuple[str, str], Route]:
    return {
        ("GET", "/v1/models"): Route(lambda call: openai_api.handle_models(call, flavor)),
        ("POST", "/v1/chat/completions"): Route(lambda call: openai_api.handle_chat(call, flavor), inference=True),
        ("POST", "/v1/completions"): Route(lambda call: openai_api.handle_completion(call, flavor), inference=True),
    }


def _vllm_health(call: Call) -> Reply:
    if call.violates("health"):
        return Reply(200, b'{"status":"ok"}', "")
    return Reply(200, b"", "")  # FastAPI's bare Response(): no content-type at all


def _vllm_metrics(call: Call) -> Reply:
    body = vllm_metrics(call.counters["stats"], model=call.config.models[0], running=int(call.counters["running"]),
                        queued=int(call.counters["queued"]), slots=call.config.slots)
    return text_reply(200, body, content_type="text/plain; version=0.0.4; charset=utf-8")


def _vllm_tokenize(call: Call) -> Reply:
    try:
        body = json.loads(call.body or b"null")
    except json.JSONDecodeError as exc:
        return openai_api.error_reply(call, "vllm", 400, f"invalid JSON: {exc}")
    if not isinstance(body, dict):
        return openai_api.error_reply(call, "vllm", 400, "request body must be a JSON object")
    if isinstance(body.get("prompt"), str):
        count = count_tokens(body["prompt"])
    elif isinstance(body.get("messages"), list):
        count = sum(count_tokens(str(m.get("content", ""))) for m in body["messages"] if isinstance(m, dict))
    else:
        return openai_api.error_reply(call, "vllm", 400, "either 'prompt' or 'messages' is required")
    return json_reply(200, {"count": count, "max_model_len": openai_api.CONTEXT_LENGTH,
                            "tokens": [1000 + i for i in range(count)], "token_strs": None})


def _fastapi_not_found(call: Call) -> Reply:
    return json_reply(404, {"detail": "Not Found"})


def _lcp_openapi(call: Call) -> Reply:
    paths = {path: {method.lower(): {"summary": path}} for (method, path) in _LCP_ROUTES if path != "/openapi.json"}
    return json_reply(200, {"openapi": "3.1.0", "info": {"title": "🦙 llama.cpp Python API", "version": LCP_VERSION},
                            "paths": paths})


_LCP_ROUTES: dict[tuple[str, str], Route] = {
    **_openai_routes("llama_cpp_python"),
    ("GET", "/openapi.json"): Route(_lcp_openapi),
}

_PERSONALITIES: dict[str, Personality] = {
    "openai": Personality("openai", _openai_routes("openai"), loading="503", health_paths=(), server_header="sim-openai"),
    "vllm": Personality(
        "vllm",
        {
            **_openai_routes("vllm"),
            ("GET", "/health"): Route(_vllm_health),
            ("GET", "/ping"): Route(_vllm_health),
            ("POST", "/ping"): Route(_vllm_health),
            ("GET", "/version"): Route(lambda call: json_reply(200, {"version": VLLM_VERSION})),
            ("GET", "/metrics"): Route(_vllm_metrics),
            ("POST", "/tokenize"): Route(_vllm_tokenize),
        },
        loading="refuse",
        health_paths=("/health", "/ping"),
        server_header="uvicorn",
    ),
    "llama_cpp": Personality(
        "llama_cpp",
        {
            **_openai_routes("llama_cpp"),
            ("GET", "/models"): Route(lambda call: openai_api.handle_models(call, "llama_cpp")),
            ("POST", "/chat/completions"): Route(lambda call: openai_api.handle_chat(call, "llama_cpp"), inference=True),
            ("POST", "/completion"): Route(llama_cpp_api.handle_completion, inference=True),
            ("POST", "/completions"): Route(llama_cpp_api.handle_completion, inference=True),
            ("GET", "/health"): Route(llama_cpp_api.handle_health),
            ("GET", "/v1/health"): Route(llama_cpp_api.handle_health),
            ("GET", "/props"): Route(llama_cpp_api.handle_props),
            ("GET", "/slots"): Route(llama_cpp_api.handle_slots),
            ("GET", "/metrics"): Route(llama_cpp_api.handle_metrics),
            ("POST", "/tokenize"): Route(llama_cpp_api.handle_tokenize),
        },
        loading="503",
        health_paths=("/health", "/v1/health"),
        server_header="llama.cpp",
        keep_alive_header="timeout=5, max=100",  # cpp-httplib's limits
        closes_after_stream=True,
    ),
    "llama_cpp_python": Personality("llama_cpp_python", _LCP_ROUTES, loading="refuse", health_paths=(),
                                    server_header="uvicorn"),
    "ollama": Personality(
        "ollama",
        {
            **_openai_routes("ollama"),
            ("GET", "/"): Route(ollama_api.handle_root),
            ("HEAD", "/"): Route(ollama_api.handle_root),
            ("GET", "/api/version"): Route(ollama_api.handle_version),
            ("GET", "/api/tags"): Route(ollama_api.handle_tags),
            ("GET", "/api/ps"): Route(ollama_api.handle_ps),
            ("POST", "/api/show"): Route(ollama_api.handle_show),
            ("POST", "/api/chat"): Route(ollama_api.handle_chat, inference=True),
            ("POST", "/api/generate"): Route(ollama_api.handle_generate, inference=True),
        },
        loading="wait",
        health_paths=("/",),
    ),
}


def personality(provider_type: str) -> Personality:
    return _PERSONALITIES[provider_type]


def not_found_reply(call: Call, provider_type: str, method_known: bool) -> Reply:
    """Unknown path (or known path, wrong method) as the real server's framework answers it."""
    if provider_type in ("vllm", "llama_cpp_python"):
        if method_known:
            return json_reply(405, {"detail": "Method Not Allowed"})
        return _fastapi_not_found(call)
    if provider_type == "llama_cpp":
        return json_reply(404, {"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}})
    if provider_type == "ollama":
        return ollama_api.not_found(call) if not method_known else text_reply(405, "405 method not allowed")
    return openai_api.error_reply(call, "openai", 404, f"Invalid URL ({call.method} {call.path})")


def loading_reply(call: Call, provider_type: str) -> Reply:
    if provider_type == "llama_cpp":
        return json_reply(503, llama_cpp_api.LOADING_BODY)
    return openai_api.error_reply(call, "openai", 503, "The server is loading the model; retry shortly.")


_FAULT_MESSAGES = {429: "Too Many Requests (simulated)", 500: "Internal Server Error (simulated)",
                   503: "Service Unavailable (simulated)"}


def fault_reply(call: Call, provider_type: str, status: int) -> Reply:
    """The body an injected error carries: the config's raw ``error_body``, else the type's own shape."""
    if call.config.error_body is not None:
        return Reply(status, call.config.error_body.encode("utf-8"), "application/json")
    message = _FAULT_MESSAGES.get(status, f"Error {status} (simulated)")
    if provider_type == "ollama" and call.path.startswith("/api/"):
        return json_reply(status, {"error": message})
    flavor = provider_type
    body: Any = openai_api.error_body(flavor, status, message)
    return json_reply(status, body)
