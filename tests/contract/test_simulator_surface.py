"""Each simulator personality answers as its real server does: whole bodies, headers, quirks.

Seeded text makes answers exact: with seed 0 the prompt "a b c" always gets "bru brenroumfaim stal".
Timestamps are blanked by ``normalize`` (they change every second), nothing else is.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest

from contracts.simulators import RunningSimulator
from contracts.simulators.client import TIMESTAMP, chat_request, ndjson_lines, normalize, sse_payloads
from contracts.simulators.config import ConfigError, SimulatorConfig

pytestmark = [pytest.mark.contract]

FAST = dict(ttft_ms=0.0, tpot_ms=0.0, output_tokens=3, tokens_per_chunk=2)
MODELS = {"vllm": ["m", "m2"], "llama_cpp": ["m.gguf"], "llama_cpp_python": ["m.gguf"], "openai": ["m", "m2"],
          "ollama": ["m:1", "m2"]}
USAGE = {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}
# llama-server counts the end-of-generation token of an answer that ended by itself (3 words + EOS;
# seen with the eos tiny model) and adds the prompt-cache hits (the simulator keeps no cache).
LS_USAGE = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7, "prompt_tokens_details": {"cached_tokens": 0}}


@pytest.fixture
def sim(request: pytest.FixtureRequest, session_simulator_factory: Any) -> RunningSimulator:
    provider_type = request.param
    simulator: RunningSimulator = session_simulator_factory(provider_type, models=MODELS[provider_type], **FAST)
    return simulator


def _client(sim: RunningSimulator) -> httpx.Client:
    return httpx.Client(base_url=sim.url, timeout=10)


def _chunks(response: httpx.Response) -> list[Any]:
    payloads = sse_payloads(response.text)
    assert payloads[-1] == "[DONE]"
    return [normalize(json.loads(p)) for p in payloads[:-1]]


# --- /v1/models ----------------------------------------------------------------------------------
MODEL_LISTS = {
    "openai": {"object": "list", "data": [
        {"id": "m", "object": "model", "created": TIMESTAMP, "owned_by": "openai"},
        {"id": "m2", "object": "model", "created": TIMESTAMP, "owned_by": "openai"}]},
    "ollama": {"object": "list", "data": [
        {"id": "m:1", "object": "model", "created": TIMESTAMP, "owned_by": "library"},
        {"id": "m2", "object": "model", "created": TIMESTAMP, "owned_by": "library"}]},
    "llama_cpp_python": {"object": "list", "data": [
        {"id": "m.gguf", "object": "model", "owned_by": "me", "permissions": []}]},
}


@pytest.mark.parametrize("sim", ["openai", "ollama", "llama_cpp_python"], indirect=True)
def test_model_lists(sim: RunningSimulator) -> None:
    with _client(sim) as client:
        response = client.get("/v1/models")
    assert (response.status_code, response.headers["content-type"]) == (200, "application/json")
    assert normalize(response.json()) == MODEL_LISTS[sim.type]


@pytest.mark.parametrize("sim", ["vllm"], indirect=True)
def test_vllm_model_list_has_root_parent_max_model_len_and_permissions(sim: RunningSimulator) -> None:
    with _client(sim) as client:
        body = client.get("/v1/models").json()
    assert [entry["id"] for entry in body["data"]] == ["m", "m2"]
    entry = normalize(body["data"][0])
    permission = entry.pop("permission")
    assert entry == {"id": "m", "object": "model", "created": TIMESTAMP, "owned_by": "vllm", "root": "m",
                     "parent": None, "max_model_len": 4096}
    assert len(permission) == 1 and permission[0]["object"] == "model_permission"
    assert permission[0]["id"].startswith("modelperm-")


@pytest.mark.parametrize("sim", ["llama_cpp"], indirect=True)
def test_llama_cpp_lists_exactly_one_model_with_meta(sim: RunningSimulator) -> None:
    with _client(sim) as client:
        body = normalize(client.get("/v1/models").json())
        assert normalize(client.get("/models").json()) == body
    assert body["object"] == "list"
    assert body["data"] == [{"id": "m.gguf", "aliases": ["m.gguf"], "tags": [], "object": "model",
                             "created": TIMESTAMP, "owned_by": "llamacpp",
                             "meta": {"vocab_type": 2, "n_vocab": 151936, "n_ctx": 2048, "n_ctx_train": 32768,
                                      "n_embd": 896, "n_params": 494032768, "size": 491400032,
                                      "ftype": "Q4_K - Medium"}}]
    assert [m["name"] for m in body["models"]] == ["m.gguf"]


# --- streaming chat: role-only first chunk, finish_reason placement, usage ------------------------
def _chunk(sim_type: str, choices: list[Any], **extra: Any) -> dict[str, Any]:
    chunk: dict[str, Any] = {"id": "chatcmpl-sim", "object": "chat.completion.chunk", "created": TIMESTAMP,
                             "model": MODELS[sim_type][0]}
    fingerprint = {"openai": "fp_sim", "llama_cpp": "b6100-sim", "ollama": "fp_ollama"}.get(sim_type)
    if fingerprint:
        chunk["system_fingerprint"] = fingerprint
    return {**chunk, "choices": choices, **extra}


def _choice(delta: Any, finish: str | None, logprobs: bool = True) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "delta": delta}
    if logprobs:
        choice["logprobs"] = None
    choice["finish_reason"] = finish
    return choice


ZERO_TIMINGS = {"cache_n": 0, "prompt_n": 3, "prompt_ms": 0.0, "prompt_per_token_ms": 0.0, "prompt_per_second": 0.0,
                "predicted_n": 4, "predicted_ms": 0.0, "predicted_per_token_ms": 0.0, "predicted_per_second": 0.0}

STREAMS = {
    # vLLM: role chunk with content "", finish_reason on the last content chunk, usage chunk with no choices.
    "vllm": [
        _chunk("vllm", [_choice({"role": "assistant", "content": ""}, None)]),
        _chunk("vllm", [_choice({"content": "bru brenroumfaim"}, None)]),
        _chunk("vllm", [_choice({"content": " stal"}, "stop")]),
        _chunk("vllm", [], usage=USAGE),
    ],
    # OpenAI: role chunk with refusal null, a separate empty-delta finish chunk.
    "openai": [
        _chunk("openai", [_choice({"role": "assistant", "content": "", "refusal": None}, None)]),
        _chunk("openai", [_choice({"content": "bru brenroumfaim"}, None)]),
        _chunk("openai", [_choice({"content": " stal"}, None)]),
        _chunk("openai", [_choice({}, "stop")]),
        _chunk("openai", [], usage=USAGE),
    ],
    # llama-server: content null in the role chunk, no logprobs key, timings on the LAST chunk only.
    "llama_cpp": [
        _chunk("llama_cpp", [_choice({"role": "assistant", "content": None}, None, logprobs=False)]),
        _chunk("llama_cpp", [_choice({"content": "bru brenroumfaim"}, None, logprobs=False)]),
        _chunk("llama_cpp", [_choice({"content": " stal"}, None, logprobs=False)]),
        _chunk("llama_cpp", [_choice({}, "stop", logprobs=False)]),
        _chunk("llama_cpp", [], usage=LS_USAGE, timings=ZERO_TIMINGS),
    ],
    # llama-cpp-python: role-only delta, no usage at all (stream_options is not supported).
    "llama_cpp_python": [
        _chunk("llama_cpp_python", [_choice({"role": "assistant"}, None)]),
        _chunk("llama_cpp_python", [_choice({"content": "bru brenroumfaim"}, None)]),
        _chunk("llama_cpp_python", [_choice({"content": " stal"}, None)]),
        _chunk("llama_cpp_python", [_choice({}, "stop")]),
    ],
    # Ollama /v1: no role-only chunk, role repeated in every delta.
    "ollama": [
        _chunk("ollama", [_choice({"role": "assistant", "content": "bru brenroumfaim"}, None, logprobs=False)]),
        _chunk("ollama", [_choice({"role": "assistant", "content": " stal"}, None, logprobs=False)]),
        _chunk("ollama", [_choice({"role": "assistant", "content": ""}, "stop", logprobs=False)]),
        _chunk("ollama", [], usage=USAGE),
    ],
}


@pytest.mark.parametrize("sim", list(STREAMS), indirect=True)
def test_streamed_chat_with_usage(sim: RunningSimulator) -> None:
    with _client(sim) as client:
        response = client.post("/v1/chat/completions", json=chat_request(
            MODELS[sim.type][0], stream=True, stream_options={"include_usage": True}))
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == "text/event-stream"
    assert response.headers["x-sim-completion-tokens"] == "3"
    chunks = _chunks(response)
    ids = {c.pop("id") for c in chunks}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-sim")
    expected = [{k: v for k, v in c.items() if k != "id"} for c in STREAMS[sim.type]]
    assert chunks == expected


@pytest.mark.parametrize("sim", ["vllm", "openai", "llama_cpp", "ollama"], indirect=True)
def test_streamed_chat_without_include_usage_has_no_usage(sim: RunningSimulator) -> None:
    with _client(sim) as client:
        response = client.post("/v1/chat/completions", json=chat_request(MODELS[sim.type][0], stream=True))
    chunks = _chunks(response)
    assert [c for c in chunks if "usage" in c] == []
    assert len(chunks) == len(STREAMS[sim.type]) - 1
    # llama-server's timings move to the finish chunk, then the last one.
    assert [c.get("timings") for c in chunks] == [None] * (len(chunks) - 1) + [
        ZERO_TIMINGS if sim.type == "llama_cpp" else None]


@pytest.mark.parametrize("sim", ["vllm"], indirect=True)
def test_several_tokens_per_chunk_and_n_choices(sim: RunningSimulator) -> None:
    with _client(sim) as client:
        response = client.post("/v1/chat/completions", json=chat_request("m", stream=True, n=2, max_tokens=3))
    chunks = _chunks(response)
    by_choice: dict[int, list[Any]] = {0: [], 1: []}
    for chunk in chunks:
        (choice,) = chunk["choices"]
        by_choice[choice["index"]].append(choice)
    for choices in by_choice.values():
        assert [c["delta"] for c in choices][1:] == [{"content": choices[1]["delta"]["content"]},
                                                     {"content": choices[2]["delta"]["content"]}]
        assert [c["finish_reason"] for c in choices] == [None, None, "stop"]  # EOS after 3 = max_tokens
        text = choices[1]["delta"]["content"] + choices[2]["delta"]["content"]
        assert len(text.split()) == 3 and len(choices[1]["delta"]["content"].split()) == 2


# --- non-streaming -------------------------------------------------------------------------------
@pytest.mark.parametrize("sim", ["vllm", "openai", "llama_cpp", "llama_cpp_python", "ollama"], indirect=True)
def test_chat_completion(sim: RunningSimulator) -> None:
    model = MODELS[sim.type][0]
    with _client(sim) as client:
        response = client.post("/v1/chat/completions", json=chat_request(model))
    assert (response.status_code, response.headers["content-type"]) == (200, "application/json")
    body = normalize(response.json())
    assert body.pop("id").startswith("chatcmpl-sim")
    choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": "bru brenroumfaim stal"}}
    if sim.type in ("vllm", "openai", "llama_cpp_python"):
        choice["logprobs"] = None
    choice["finish_reason"] = "stop"
    expected: dict[str, Any] = {"object": "chat.completion", "created": TIMESTAMP, "model": model,
                                "choices": [choice], "usage": LS_USAGE if sim.type == "llama_cpp" else USAGE}
    fingerprint = {"openai": "fp_sim", "llama_cpp": "b6100-sim", "ollama": "fp_ollama"}.get(sim.type)
    if fingerprint:
        expected["system_fingerprint"] = fingerprint
    if sim.type == "llama_cpp":
        expected["timings"] = ZERO_TIMINGS
    assert body == expected
    assert float(response.headers["x-sim-e2e-ms"]) >= 0


@pytest.mark.parametrize("sim", ["vllm", "openai"], indirect=True)
def test_text_completion_cut_by_max_tokens(sim: RunningSimulator) -> None:
    with _client(sim) as client:
        response = client.post("/v1/completions", json={"model": "m", "prompt": "a b", "max_tokens": 2})
    body = normalize(response.json())
    assert body.pop("id").startswith("cmpl-sim")
    text = body["choices"][0].pop("text")
    assert len(text.split()) == 2
    assert {k: v for k, v in body.items() if k != "system_fingerprint"} == {
        "object": "text_completion", "created": TIMESTAMP, "model": "m",
        "choices": [{"index": 0, "logprobs": None, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}}


@pytest.mark.parametrize("sim", ["vllm"], indirect=True)
def test_ignore_eos_generates_exactly_max_tokens(sim: RunningSimulator) -> None:
    with _client(sim) as client:
        body = client.post("/v1/chat/completions", json=chat_request("m", max_tokens=40, ignore_eos=True)).json()
    assert body["usage"]["completion_tokens"] == 40
    assert len(body["choices"][0]["message"]["content"].split()) == 40
    assert body["choices"][0]["finish_reason"] == "length"


# --- errors --------------------------------------------------------------------------------------
ERRORS: dict[str, dict[str, tuple[int, Any]]] = {
    "vllm": {
        "unknown": (404, {"error": {"message": "The model `nope` does not exist.", "type": "NotFoundError",
                                    "param": None, "code": 404}}),
        # vLLM 0.34.0 SamplingParams._verify_args: "top_p must be in (0, 1]"
        "top_p": (400, {"error": {"message": "top_p must be in (0, 1], got 3.", "type": "BadRequestError",
                                  "param": "top_p", "code": 400}}),
        "stream_options": (400, {"error": {"message": "Stream options can only be defined when `stream=True`.",
                                           "type": "BadRequestError", "param": "stream_options", "code": 400}}),
    },
    "openai": {
        "unknown": (404, {"error": {"message": "The model `nope` does not exist or you do not have access to it.",
                                    "type": "invalid_request_error", "param": "model", "code": "model_not_found"}}),
        "top_p": (400, {"error": {"message": "'top_p' must be between 0 and 1, got 3",
                                  "type": "invalid_request_error", "param": "top_p", "code": None}}),
        "stream_options": (400, {"error": {"message": "Stream options can only be defined when `stream=True`.",
                                           "type": "invalid_request_error", "param": "stream_options",
                                           "code": None}}),
    },
    "ollama": {
        "unknown": (404, {"error": {"message": 'model "nope" not found, try pulling it first',
                                    "type": "not_found_error", "param": None, "code": None}}),
        "top_p": (400, {"error": {"message": "'top_p' must be between 0 and 1, got 3",
                                  "type": "invalid_request_error", "param": None, "code": None}}),
        "stream_options": (400, {"error": {"message": "Stream options can only be defined when `stream=True`.",
                                           "type": "invalid_request_error", "param": None, "code": None}}),
    },
    # llama-server serves top_p 3 and stream_options without stream (test_llama_cpp_serves_...);
    # its hard limits are 400s (tools/server/server-schema.cpp).
    "llama_cpp": {
        "n_zero": (400, {"error": {"code": 400, "message": "Field 'n': Value must be between 1 <= value <= 4, but got 0",
                                   "type": "invalid_request_error"}}),
        "max_tokens_minus_2": (400, {"error": {
            "code": 400, "message": "Field 'max_tokens': Value must be between -1 <= value <= 2147483647, but got -2",
            "type": "invalid_request_error"}}),
        "role_without_content": (400, {"error": {"code": 400, "message": "All non-assistant messages must contain "
                                                 "'content'", "type": "invalid_request_error"}}),
    },
    "llama_cpp_python": {
        # llama-cpp-python 0.3.36: validation errors wrapped as 500 internal_server_error (docs/llama-cpp.md).
        "top_p": (500, {"error": {"message": "1 validation error:\n  {'type': 'less_than_equal', 'loc': ('body', "
                                             "'top_p'), 'msg': 'Input should be less than or equal to 1', 'input': 3, "
                                             "'ctx': {'le': 1}}\n\n  File \".../llama_cpp/server/app.py\", in "
                                             "create_chat_completion\n    POST /v1/chat/completions",
                                  "type": "internal_server_error", "param": None, "code": None}}),
    },
}
REQUESTS = {
    "n_zero": chat_request("{model}", n=0),
    "max_tokens_minus_2": chat_request("{model}", max_tokens=-2),
    "role_without_content": {"model": "{model}", "messages": [{"role": "wizard"}]},
    "unknown": chat_request("nope"),
    "top_p": chat_request("{model}", top_p=3),
    "stream_options": chat_request("{model}", stream_options={"include_usage": True}),
}


@pytest.mark.parametrize(
    ("sim", "case"),
    [(t, case) for t, cases in ERRORS.items() for case in cases],
    indirect=["sim"],
)
def test_error_bodies(sim: RunningSimulator, case: str) -> None:
    body = json.loads(json.dumps(REQUESTS[case]).replace("{model}", MODELS[sim.type][0]))
    with _client(sim) as client:
        response = client.post("/v1/chat/completions", json=body)
    assert (response.status_code, response.json()) == ERRORS[sim.type][case]
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("sim", ["llama_cpp"], indirect=True)
@pytest.mark.parametrize(
    ("fields", "completion_tokens"),
    [
        ({"messages": [{"role": "wizard", "content": "a b c"}]}, 4),
        ({"top_p": 3}, 4),
        ({"temperature": -0.5}, 4),
        ({"temperature": 2.5}, 4),
        ({"max_tokens": 0}, 1),  # n_predict 0 still samples one token, as llama-server does
        ({"max_tokens": -1}, 4),  # -1: unlimited, until EOS (counted)
        ({"stream_options": {"include_usage": True}}, 4),
        ({"stream": False, "stream_options": {"include_usage": True}}, 4),
    ],
    ids=["wizard-role", "top-p-3", "temperature-below-0", "temperature-above-2", "max-tokens-0", "max-tokens-minus-1",
         "stream-options-without-stream", "stream-options-with-stream-false"],
)
def test_llama_cpp_serves_what_llama_server_serves(sim: RunningSimulator, fields: dict[str, Any],
                                                   completion_tokens: int) -> None:
    # Contract-invalid requests the real llama-server answers with a normal completion (the known
    # deviations of the llama_cpp spec); the simulator's natural answer here is 3 tokens and EOS.
    with _client(sim) as client:
        response = client.post("/v1/chat/completions", json={**chat_request("m.gguf"), **fields})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["object"], body["usage"]["completion_tokens"]) == ("chat.completion", completion_tokens)


@pytest.mark.parametrize(("sim", "kind"), [("llama_cpp", "chat"), ("llama_cpp", "completion"),
                                          ("llama_cpp_python", "chat"), ("llama_cpp_python", "completion")],
                         indirect=["sim"])
def test_a_prompt_filling_the_context_window_is_rejected(sim: RunningSimulator, kind: str) -> None:
    # Both real servers reject prompt_tokens >= n_ctx (2048, as the engines run); 2047 still fits.
    words = ["w"] * 2048
    path = "/v1/chat/completions" if kind == "chat" else "/v1/completions"

    def body(n: int) -> dict[str, Any]:
        text = " ".join(words[:n])
        if kind == "chat":
            return {"model": "m.gguf", "messages": [{"role": "user", "content": text}], "max_tokens": 1}
        return {"model": "m.gguf", "prompt": text, "max_tokens": 1}

    with _client(sim) as client:
        fits = client.post(path, json=body(2047))
        too_long = client.post(path, json=body(2048))
    assert (fits.status_code, fits.json()["usage"]["completion_tokens"]) == (200, 1)
    assert too_long.headers["content-type"] == "application/json"
    if sim.type == "llama_cpp":
        expected: Any = {"error": {"code": 400, "message": "request (2048 tokens) exceeds the available context size "
                                   "(2048 tokens), try increasing it", "type": "exceed_context_size_error",
                                   "n_prompt_tokens": 2048, "n_ctx": 2048}}
    elif kind == "chat":
        expected = {"error": {"message": "This model's maximum context length is 2048 tokens. However, you requested "
                              "2049 tokens (2048 in the messages, 1 in the completion). Please reduce the length of "
                              "the messages or completion.", "type": "invalid_request_error", "param": "messages",
                              "code": "context_length_exceeded"}}
    else:
        expected = {"error": {"message": "This model's maximum context length is 2048 tokens, however you requested "
                              "2049 tokens (2048 in your prompt; 1 for the completion). Please reduce your prompt; or "
                              "completion length.", "type": "invalid_request_error", "param": "messages",
                              "code": "context_length_exceeded"}}
    assert (too_long.status_code, too_long.json()) == (400, expected)


@pytest.mark.parametrize(("ctx_size", "statuses"), [(5, (200, 400)), (0, (200, 200))], ids=["5", "none"])
def test_the_context_window_is_configurable(simulator_factory: Any, ctx_size: int, statuses: tuple[int, int]) -> None:
    sim = simulator_factory("llama_cpp", models=["m.gguf"], ctx_size=ctx_size, **FAST)
    with _client(sim) as client:
        answers = tuple(client.post("/v1/completions", json={"prompt": " ".join(["w"] * n), "max_tokens": 1})
                        for n in (4, 5))
    assert tuple(a.status_code for a in answers) == statuses
    with _client(sim) as client:
        assert client.get("/v1/models").json()["data"][0]["meta"]["n_ctx"] == (ctx_size or 4096)


def test_only_the_llama_types_have_a_context_window() -> None:
    assert {t: SimulatorConfig(type=t).context_window for t in ("llama_cpp", "llama_cpp_python", "vllm", "ollama")} == {
        "llama_cpp": 2048, "llama_cpp_python": 2048, "vllm": 0, "ollama": 0}
    with pytest.raises(ConfigError, match=r"^ctx_size: the vllm simulator has no context window"):
        SimulatorConfig(type="vllm", ctx_size=100)
    with pytest.raises(ConfigError, match=r"^ctx_size: must be an integer >= 0 or null \(got -1\)$"):
        SimulatorConfig(type="llama_cpp", ctx_size=-1)


def test_only_the_llama_types_spread_characters_over_tokens() -> None:
    assert SimulatorConfig(type="llama_cpp", char_tokens=4).char_tokens == 4
    with pytest.raises(ConfigError, match=r"^char_tokens: only the llama_cpp and llama_cpp_python simulators"):
        SimulatorConfig(type="vllm", char_tokens=2)
    with pytest.raises(ConfigError, match=r"^char_tokens: must be an integer from 1 to 4 \(got 5\)$"):
        SimulatorConfig(type="llama_cpp", char_tokens=5)


# The real servers' answers to max_tokens 3 with the bytes tiny model (2-byte characters, one token
# per byte; tests/contract/test_engine_fidelity.py and test_engine_overrun.py compare them live).
CUT_CHARACTER = {
    # llama-server stops inside the character: no role chunk (token 1 was held), one content chunk,
    # U+FFFD for the cut bytes in a plain completion, nothing in a plain chat answer.
    "llama_cpp": {"completion": ("X\ufffd", 3), "chat": ("X", 3),
                  "chat-stream": [{"content": "X"}, {}], "completion-stream": ["X", ""]},
    # llama-cpp-python finishes the character (4 tokens, its known deviation) and streams both.
    "llama_cpp_python": {"completion": ("XX", 4), "chat": ("XX", 4),
                         "chat-stream": [{"role": "assistant"}, {"content": "X"}, {"content": "X"}, {}],
                         "completion-stream": ["X", "X", ""]},
}


@pytest.mark.parametrize("sim_type", list(CUT_CHARACTER))
def test_a_character_cut_by_max_tokens(simulator_factory: Any, sim_type: str) -> None:
    sim = simulator_factory(sim_type, models=["m.gguf"], char_tokens=2, **{**FAST, "tokens_per_chunk": 1})
    seen: dict[str, Any] = {}
    with _client(sim) as client:
        for kind, path, body in (("chat", "/v1/chat/completions", chat_request("m.gguf", max_tokens=3)),
                                 ("completion", "/v1/completions", {"model": "m.gguf", "prompt": "a b", "max_tokens": 3})):
            answer = client.post(path, json=body).json()
            text = answer["choices"][0]["message"]["content"] if kind == "chat" else answer["choices"][0]["text"]
            seen[kind] = ("".join("X" if len(c.encode()) == 2 else c for c in text), answer["usage"]["completion_tokens"])
            streamed = client.post(path, json={**body, "stream": True}, headers={"Connection": "close"})
            chunks = [json.loads(p) for p in sse_payloads(streamed.text) if p != "[DONE]"]
            parts = [c["choices"][0]["delta"] if kind == "chat" else c["choices"][0]["text"] for c in chunks if c["choices"]]
            seen[f"{kind}-stream"] = [
                {k: ("X" if k == "content" and v else v) for k, v in p.items()} if isinstance(p, dict) else ("X" if p else p)
                for p in parts
            ]
    assert seen == CUT_CHARACTER[sim_type]


@pytest.mark.parametrize("sim", ["llama_cpp", "llama_cpp_python"], indirect=True)
def test_one_model_servers_ignore_the_requested_model(sim: RunningSimulator) -> None:
    with _client(sim) as client:
        response = client.post("/v1/chat/completions", json=chat_request("whatever-name"))
    assert response.status_code == 200
    assert response.json()["model"] == "whatever-name"


@pytest.mark.parametrize(
    ("sim", "status", "body"),
    [
        ("vllm", 400, {"error": {"message": "request body is not valid JSON: Expecting value: line 1 column 1 (char 0)",
                                 "type": "BadRequestError", "param": None, "code": 400}}),
        # llama-server: json::parse throws outside its checks, ex_wrapper answers 500 server_error.
        ("llama_cpp", 500, {"error": {"code": 500, "message": "[json.exception.parse_error.101] parse error at line 1, "
                                      "column 1: syntax error while parsing value - unexpected end of input; "
                                      "expected '[', '{', or a literal", "type": "server_error"}}),
    ],
    indirect=["sim"],
)
def test_malformed_body(sim: RunningSimulator, status: int, body: Any) -> None:
    with _client(sim) as client:
        response = client.post("/v1/chat/completions", content=b"not json",
                               headers={"content-type": "application/json"})
    assert (response.status_code, response.json()) == (status, body)


@pytest.mark.parametrize("sim", ["llama_cpp_python"], indirect=True)
def test_llama_cpp_python_malformed_body_is_a_plain_500_then_a_dropped_connection(sim: RunningSimulator) -> None:
    # As llama-cpp-python 0.3.36 does (docs/llama-cpp.md, deviation 2): the second request on the
    # same keep-alive connection finds it closed.
    host, port = sim.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"content-length: 8\r\n\r\nnot json")
        answer = b""
        while b"Internal Server Error" not in answer.partition(b"\r\n\r\n")[2]:
            piece = conn.recv(4096)
            assert piece, answer
            answer += piece
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.split(b"\r\n")[0] == b"HTTP/1.1 500 Internal Server Error"
        assert b"content-type: text/plain; charset=utf-8" in head.split(b"\r\n")
        assert b"connection: close" not in head.lower()
        assert body == b"Internal Server Error"
        # Closed: the next request gets EOF, or a reset when the server's RST (its answer to
        # data sent into a closed socket) arrives before we read.
        try:
            conn.sendall(b"GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n")
            after = conn.recv(4096)
        except (ConnectionResetError, BrokenPipeError) as exc:
            after = type(exc).__name__.encode()
        assert after in (b"", b"ConnectionResetError", b"BrokenPipeError")


@pytest.mark.parametrize(
    ("sim", "request_body", "status", "detail"),
    [
        ("openai", {"messages": [{"role": "user", "content": "x"}]}, 400, "the 'model' field is required"),
        ("openai", {"model": "m"}, 400, "the 'messages' field is required"),
        ("openai", {"model": "m", "messages": []}, 400, "'messages' must contain at least one message"),
        ("openai", {"model": "m", "messages": [{"role": "wizard", "content": "x"}]}, 400,
         "messages[0] must be an object with a 'role' in ['assistant', 'developer', 'function', 'system', 'tool', "
         "'user']"),
        ("openai", {"model": "m", "messages": [{"role": "user"}], "max_tokens": 0}, 400,
         "'max_tokens' must be at least 1, got 0"),
        ("openai", {"model": "m", "messages": [{"role": "user"}], "n": 0}, 400, "'n' must be at least 1, got 0"),
        ("openai", {"model": "m", "messages": [{"role": "user"}], "temperature": 2.5}, 400,
         "'temperature' must be between 0 and 2, got 2.5"),
        ("openai", {"model": "m", "messages": [{"role": "user"}], "max_tokens": "5"}, 400,
         "'max_tokens' must be an integer, got \"5\""),
        # llama-server does not need a model; llama-cpp-python defaults messages to [].
        ("llama_cpp", {"messages": [{"role": "user", "content": "x"}]}, 200, None),
        ("llama_cpp_python", {"model": "m"}, 200, None),
        ("llama_cpp_python", {"messages": "x"}, 500, "Input should be a valid list"),
        ("llama_cpp_python", {"messages": [{"role": "user"}], "temperature": 9, "max_tokens": 0}, 200, None),
    ],
    indirect=["sim"],
)
def test_request_validation(sim: RunningSimulator, request_body: Any, status: int, detail: str | None) -> None:
    with _client(sim) as client:
        response = client.post("/v1/chat/completions", json=request_body)
    assert response.status_code == status
    if status == 400:
        assert response.json()["error"]["message"] == detail
    elif status == 500:  # llama-cpp-python's wrapped validation error
        assert response.json() == {"error": {
            "message": f"1 validation error:\n  {{'type': 'list_type', 'loc': ('body', 'messages'), 'msg': '{detail}', "
                       "'input': 'x'}\n\n  File \".../llama_cpp/server/app.py\", in create_chat_completion\n    "
                       "POST /v1/chat/completions",
            "type": "internal_server_error", "param": None, "code": None}}


@pytest.mark.parametrize("sim", ["vllm", "openai"], indirect=True)
def test_unknown_fields_are_accepted(sim: RunningSimulator) -> None:
    with _client(sim) as client:
        response = client.post("/v1/chat/completions", json=chat_request("m", some_future_field={"x": 1}))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("sim", "status", "content_type", "body"),
    [
        ("vllm", 404, "application/json", '{"detail":"Not Found"}'),
        ("llama_cpp_python", 404, "application/json", '{"detail":"Not Found"}'),
        ("llama_cpp", 404, "application/json",
         '{"error":{"code":404,"message":"File Not Found","type":"not_found_error"}}'),
        ("ollama", 404, "text/plain; charset=utf-8", "404 page not found"),
    ],
    indirect=["sim"],
)
def test_unknown_paths(sim: RunningSimulator, status: int, content_type: str, body: str) -> None:
    with _client(sim) as client:
        response = client.get("/no/such/path")
    assert (response.status_code, response.headers["content-type"], response.text) == (status, content_type, body)


# --- health and provider-specific endpoints ------------------------------------------------------
@pytest.mark.parametrize(
    ("sim", "path", "content_type", "body"),
    [
        ("vllm", "/health", None, ""),
        ("vllm", "/version", "application/json", '{"version":"0.34.0"}'),
        ("llama_cpp", "/health", "application/json", '{"status":"ok"}'),
        ("ollama", "/", "text/plain; charset=utf-8", "Ollama is running"),
        ("ollama", "/api/version", "application/json; charset=utf-8", '{"version":"0.12.6"}'),
    ],
    indirect=["sim"],
)
def test_health_and_version(sim: RunningSimulator, path: str, content_type: str | None, body: str) -> None:
    with _client(sim) as client:
        response = client.get(path)
    assert (response.status_code, response.headers.get("content-type"), response.text) == (200, content_type, body)


@pytest.mark.parametrize("sim", ["vllm"], indirect=True)
def test_vllm_metrics_have_the_real_names_and_count_tokens(sim: RunningSimulator) -> None:
    with _client(sim) as client:
        before = client.get("/metrics").text
        client.post("/v1/chat/completions", json=chat_request("m"))
        after = client.get("/metrics").text
    names = {line.split()[2] for line in after.splitlines() if line.startswith("# TYPE")}
    assert names == {
        "vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
        "vllm:prompt_tokens_total", "vllm:generation_tokens_total", "vllm:request_success_total",
        "vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds",
        "vllm:e2e_request_latency_seconds", "vllm:request_queue_time_seconds",
    }

    def value(text: str, name: str) -> float:
        (line,) = [ln for ln in text.splitlines() if ln.startswith(name + "{")]
        return float(line.rsplit(" ", 1)[1])

    assert value(after, "vllm:prompt_tokens_total") - value(before, "vllm:prompt_tokens_total") == 3
    assert value(after, "vllm:generation_tokens_total") - value(before, "vllm:generation_tokens_total") == 3
    assert 'vllm:num_requests_running{engine="0",model_name="m"} 0.0' in after.splitlines()


@pytest.mark.parametrize("sim", ["llama_cpp"], indirect=True)
def test_llama_cpp_native_endpoints(sim: RunningSimulator) -> None:
    with _client(sim) as client:
        metrics = client.get("/metrics").text
        props = client.get("/props").json()
        slots = client.get("/slots").json()
        native = client.post("/completion", json={"prompt": "a b c", "n_predict": 2}).json()
        openai_style = client.post("/v1/completions", json={"prompt": "a b c", "max_tokens": 2}).json()
        streamed = client.post("/completion", json={"prompt": "a b c", "n_predict": 2, "stream": True})
    assert {line.split()[2] for line in metrics.splitlines() if line.startswith("# TYPE")} == {
        f"llamacpp:{n}" for n in ("prompt_tokens_total", "prompt_seconds_total", "tokens_predicted_total",
                                  "tokens_predicted_seconds_total", "n_decode_total", "n_busy_slots_per_decode",
                                  "prompt_tokens_seconds", "predicted_tokens_seconds", "requests_processing",
                                  "requests_deferred")}
    assert (props["total_slots"], props["model_path"]) == (64, "m.gguf")
    assert [s["id"] for s in slots] == list(range(64)) and not any(s["is_processing"] for s in slots)
    assert (native["content"], native["stop"], native["stop_type"], native["tokens_predicted"],
            native["tokens_evaluated"]) == (openai_style["choices"][0]["text"], True, "limit", 2, 3)
    assert streamed.headers["content-type"] == "text/event-stream"
    events = [json.loads(p) for p in sse_payloads(streamed.text)]  # no [DONE] on the native endpoint
    assert [(e["content"], e["stop"]) for e in events] == [(native["content"], False), ("", True)]
    assert events[-1]["timings"]["predicted_n"] == 2


# --- Ollama native ---------------------------------------------------------------------------------
def test_ollama_tags_show_and_ps(simulator_factory: Any) -> None:
    sim = simulator_factory("ollama", models=MODELS["ollama"], **FAST)  # its own: /api/ps depends on history
    with _client(sim) as client:
        tags = client.get("/api/tags").json()
        show = client.post("/api/show", json={"model": "m2"})
        missing = client.post("/api/show", json={"model": "zzz"})
        client.post("/api/chat", json={"model": "m2", "messages": []})  # loads m2
        ps = client.get("/api/ps").json()
    details = {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
               "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}
    assert [(m["name"], m["model"], m["size"], len(m["digest"]), m["details"]) for m in tags["models"]] == [
        ("m:1", "m:1", 2019393189, 64, details), ("m2:latest", "m2:latest", 2019393189, 64, details)]
    assert (show.status_code, sorted(show.json())) == (200, ["capabilities", "details", "license", "model_info",
                                                             "modelfile", "modified_at", "parameters", "template"])
    # Ollama's ShowHandler names the model by its shortest display form, tag included
    assert (missing.status_code, missing.json()) == (404, {"error": "model 'zzz:latest' not found"})
    assert [m["name"] for m in ps["models"]] == ["m2:latest"]
    assert sorted(ps["models"][0]) == ["context_length", "details", "digest", "expires_at", "model", "name", "size",
                                       "size_vram"]


@pytest.mark.parametrize("sim", ["ollama"], indirect=True)
def test_ollama_chat_stream_is_ndjson_ending_with_done(sim: RunningSimulator) -> None:
    with _client(sim) as client:
        response = client.post("/api/chat", json=chat_request("m:1"))
    assert (response.status_code, response.headers["content-type"]) == (200, "application/x-ndjson")
    lines = [normalize(line) for line in ndjson_lines(response.text)]
    assert lines == [
        {"model": "m:1", "created_at": TIMESTAMP, "message": {"role": "assistant", "content": "bru brenroumfaim"},
         "done": False},
        {"model": "m:1", "created_at": TIMESTAMP, "message": {"role": "assistant", "content": " stal"},
         "done": False},
        {"model": "m:1", "created_at": TIMESTAMP, "message": {"role": "assistant", "content": ""}, "done": True,
         "done_reason": "stop", "total_duration": 1000001, "load_duration": 1000000, "prompt_eval_count": 3,
         "prompt_eval_duration": 0, "eval_count": 3, "eval_duration": 1},
    ]


@pytest.mark.parametrize("sim", ["ollama"], indirect=True)
def test_ollama_generate_non_streaming_and_num_predict(sim: RunningSimulator) -> None:
    with _client(sim) as client:
        response = client.post("/api/generate", json={"model": "m2", "prompt": "a b c", "stream": False,
                                                      "options": {"num_predict": 2}})
    body = normalize(response.json())
    assert body == {"model": "m2:latest", "created_at": TIMESTAMP, "response": body["response"], "done": True,
                    "done_reason": "length", "context": [1, 2, 3, 4, 5], "total_duration": 1000001,
                    "load_duration": 1000000, "prompt_eval_count": 3, "prompt_eval_duration": 0, "eval_count": 2,
                    "eval_duration": 1}
    assert len(body["response"].split()) == 2


@pytest.mark.parametrize(
    ("sim", "path", "request_body", "status", "body"),
    [
        ("ollama", "/api/chat", {"model": "nope", "messages": []}, 404, {"error": "model 'nope' not found"}),
        ("ollama", "/api/chat", {"messages": []}, 400, {"error": "model is required"}),
        ("ollama", "/api/chat", {"model": "m:1", "messages": "hi"}, 400,
         {"error": "json: cannot unmarshal string into Go struct field ChatRequest.messages of type []api.Message"}),
        ("ollama", "/api/generate", {"model": "m:1", "prompt": 5}, 400,
         {"error": "json: cannot unmarshal number into Go struct field GenerateRequest.prompt of type string"}),
        ("ollama", "/api/chat", {"model": "m:1", "messages": [], "stream": "yes"}, 400,
         {"error": "json: cannot unmarshal string into Go struct field ChatRequest.stream of type bool"}),
        ("ollama", "/api/chat", {"model": "m:1", "messages": [], "options": []}, 400,
         {"error": "json: cannot unmarshal array into Go struct field ChatRequest.options of type "
                   "map[string]interface {}"}),
    ],
    indirect=["sim"],
)
def test_ollama_errors(sim: RunningSimulator, path: str, request_body: Any, status: int, body: Any) -> None:
    with _client(sim) as client:
        response = client.post(path, json=request_body)
    assert (response.status_code, response.json()) == (status, body)


@pytest.mark.parametrize("sim", ["ollama"], indirect=True)
def test_ollama_empty_chat_only_loads_the_model(sim: RunningSimulator) -> None:
    with _client(sim) as client:
        response = client.post("/api/chat", json={"model": "m:1", "messages": []})
    assert normalize(response.json()) == {"model": "m:1", "created_at": TIMESTAMP,
                                          "message": {"role": "assistant", "content": ""},
                                          "done_reason": "load", "done": True}
