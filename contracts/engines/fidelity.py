"""Simulator fidelity: one scripted scenario run against a real llama.cpp server and against the
simulator personality of the same type, reduced to comparable *shapes* and diffed point by point.

A shape keeps what a client or the gateway depends on and drops what legitimately varies between
two runs of the same server (ids, timestamps, generated text, token counts of a different
tokeniser): status, media type, JSON keys and value types, enum-like values (``object``, ``role``,
``finish_reason``, error ``type``/``code``), the number and order of stream events, the framing
of the stream, ``completion_tokens``. Every difference between the two shapes is either a defect
of the simulator (to fix) or listed in :data:`KNOWN_DIFFERENCES` with the reason it is accepted;
``tests/contract/test_engine_fidelity.py`` holds both lists to account in both directions.
"""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from contracts.engines.llama_servers import EngineKind, HttpObservation

__all__ = [
    "KNOWN_DIFFERENCES",
    "MAX_TOKENS",
    "ODD_MAX_TOKENS",
    "Difference",
    "KnownDifference",
    "compare",
    "run_scenario",
    "startup_states",
    "unexplained",
    "unused_known",
]

MAX_TOKENS = 4
# An odd limit too: with a byte-level model (2-byte characters) it ends inside a character, where
# the servers differ (held-back bytes, U+FFFD, llama-cpp-python's overrun).
ODD_MAX_TOKENS = 3
PROMPT = "Say hello in three words."
USER = [{"role": "user", "content": PROMPT}]
# Keys whose string VALUE is part of the contract (the rest are reduced to "<str>").
KEPT_VALUES = frozenset({"object", "role", "finish_reason", "type", "code", "param", "owned_by", "status",
                         "stop_type", "model", "vocab_type"})
# Integer keys whose VALUE is part of the contract in these scenarios (max_tokens is honoured).
KEPT_NUMBERS = frozenset({"completion_tokens", "predicted_n", "tokens_predicted", "index", "code"})
Shape = dict[str, Any]  # flattened: JSON path -> reduced value


@dataclass(frozen=True)
class Difference:
    step: str
    path: str
    real: Any
    simulator: Any

    def __str__(self) -> str:
        return f"{self.step} {self.path}: real {self.real!r} vs simulator {self.simulator!r}"


@dataclass(frozen=True)
class KnownDifference:
    step: str  # pattern: "*" matches anything, every other character itself ("[0]" is literal)
    path: str
    # Why the simulator may differ here: an ACCEPTED difference. A defect of the simulator has no
    # entry: it is fixed in contracts/simulators/ (the fidelity test fails until it is).
    reason: str

    def covers(self, difference: Difference) -> bool:
        return _matches(self.step, difference.step) and _matches(self.path, difference.path)


def _matches(pattern: str, text: str) -> bool:
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), text) is not None


# --- reducing responses to shapes ------------------------------------------------------------


def _reduce(value: Any, key: str = "") -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if key in KEPT_NUMBERS else "<int>"
    if isinstance(value, float):
        return "<number>"
    if isinstance(value, str):
        if key == "id":
            return re.sub(r"[-_].*$", "-*", value) if re.match(r"^[a-z]+[-_]", value) else "<str>"
        if key in KEPT_VALUES:
            return value
        return "<str>" if value else ""
    return value


def flatten(value: Any, prefix: str = "$", key: str = "") -> Shape:
    """``{"a": [{"b": 1}]}`` -> ``{"$.a[0].b": <reduced 1>}``; empty containers are kept as leaves."""
    if isinstance(value, dict):
        if not value:
            return {prefix: {}}
        out: Shape = {}
        for name, item in value.items():
            out.update(flatten(item, f"{prefix}.{name}", name))
        return out
    if isinstance(value, list):
        if not value:
            return {prefix: []}
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{index}]", key))
        return out
    return {prefix: _reduce(value, key)}


def _media(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


def _body_shape(status: int, headers: Mapping[str, str], body: bytes) -> Shape:
    shape: Shape = {"status": status, "content-type": _media(headers)}
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        shape["body"] = body.decode("utf-8", "replace")[:200]
        return shape
    shape.update(flatten(document, "body"))
    return shape


def _stream_shape(status: int, headers: Mapping[str, str], body: bytes) -> Shape:
    shape: Shape = {"status": status, "content-type": _media(headers)}
    text = body.decode("utf-8", "replace")
    shape["framing"] = "\\r\\n\\r\\n" if "\r\n\r\n" in text else ("\\n\\n" if "\n\n" in text else "\\n")
    events = [line[len("data: "):] for line in text.replace("\r\n", "\n").split("\n") if line.startswith("data: ")]
    shape["events"] = len(events)
    for index, payload in enumerate(events):
        if payload == "[DONE]":
            shape[f"event[{index}]"] = "[DONE]"
            continue
        try:
            shape.update(flatten(json.loads(payload), f"event[{index}]"))
        except json.JSONDecodeError:
            shape[f"event[{index}]"] = "<not JSON>"
    return shape


# --- the scenario ----------------------------------------------------------------------------


def _request(url: str, method: str, path: str, body: bytes | None) -> tuple[int, dict[str, str], bytes]:
    """One request on a FRESH connection (llama-cpp-python drops the connection after some 500s)."""
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


def _json_step(url: str, path: str, body: Any) -> Shape:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return _body_shape(*_request(url, "POST", path, raw))


def _stream_step(url: str, path: str, body: dict[str, Any]) -> Shape:
    return _stream_shape(*_request(url, "POST", path, json.dumps(body).encode()))


def _steps(model: str, kind: EngineKind) -> dict[str, Callable[[str], Shape]]:
    chat = {"model": model, "messages": USER, "max_tokens": MAX_TOKENS, "temperature": 0}
    completion = {"model": model, "prompt": PROMPT, "max_tokens": MAX_TOKENS, "temperature": 0}
    steps: dict[str, Callable[[str], Shape]] = {
        "models": lambda url: _body_shape(*_request(url, "GET", "/v1/models", None)),
        "chat": lambda url: _json_step(url, "/v1/chat/completions", chat),
        "chat-stream": lambda url: _stream_step(url, "/v1/chat/completions", {**chat, "stream": True}),
        "chat-stream-usage": lambda url: _stream_step(
            url, "/v1/chat/completions", {**chat, "stream": True, "stream_options": {"include_usage": True}}),
        "completion": lambda url: _json_step(url, "/v1/completions", completion),
        "completion-stream": lambda url: _stream_step(url, "/v1/completions", {**completion, "stream": True}),
        "chat-odd": lambda url: _json_step(url, "/v1/chat/completions", {**chat, "max_tokens": ODD_MAX_TOKENS}),
        "chat-stream-odd": lambda url: _stream_step(
            url, "/v1/chat/completions", {**chat, "max_tokens": ODD_MAX_TOKENS, "stream": True}),
        "completion-odd": lambda url: _json_step(url, "/v1/completions", {**completion, "max_tokens": ODD_MAX_TOKENS}),
        "completion-stream-odd": lambda url: _stream_step(
            url, "/v1/completions", {**completion, "max_tokens": ODD_MAX_TOKENS, "stream": True}),
        "error-malformed-json": lambda url: _json_step(url, "/v1/chat/completions", b'{"model": "x", "messages": ['),
        "error-messages-not-a-list": lambda url: _json_step(url, "/v1/chat/completions", {**chat, "messages": "hello"}),
        "error-invalid-role": lambda url: _json_step(
            url, "/v1/chat/completions", {**chat, "messages": [{"role": "wizard", "content": "hi"}]}),
        "error-top-p-above-1": lambda url: _json_step(url, "/v1/chat/completions", {**chat, "top_p": 1.5}),
        "error-prompt-not-a-string": lambda url: _json_step(url, "/v1/completions", {**completion, "prompt": 42}),
        "error-context-exceeded": lambda url: _json_step(
            url, "/v1/chat/completions", {**chat, "messages": [{"role": "user", "content": "hello " * 3000}]}),
    }
    if kind == "llama_cpp":
        steps["health"] = lambda url: _body_shape(*_request(url, "GET", "/health", None))
        steps["error-missing-messages"] = lambda url: _json_step(
            url, "/v1/chat/completions", {"model": model, "max_tokens": MAX_TOKENS})
        steps["native-completion"] = lambda url: _json_step(
            url, "/completion", {"prompt": PROMPT, "n_predict": MAX_TOKENS, "temperature": 0})
    return steps


def run_scenario(url: str, kind: EngineKind, model: str) -> dict[str, Shape]:
    """Run every step against ``url`` (no trailing /v1) and return each step's shape."""
    return {name: step(url) for name, step in _steps(model, kind).items()}


def startup_states(observations: Iterable[HttpObservation], kind: EngineKind) -> list[str]:
    """The distinct states a starting server went through, in order (consecutive repeats merged).

    llama-server binds before loading, so the refusals before its socket exists are process start,
    not protocol, and are dropped; llama-cpp-python refuses until loaded, which is its protocol.
    """
    states: list[str] = []
    for observation in observations:
        if observation.status is None:
            if kind == "llama_cpp":
                continue
            state = "connection refused"
        else:
            state = f"{observation.status} {observation.content_type.split(';')[0]} {_canonical(observation.body)}"
        if not states or states[-1] != state:
            states.append(state)
    return states


def _canonical(body: bytes) -> str:
    """JSON re-encoded with sorted keys (servers order keys differently), else the text."""
    try:
        return json.dumps(json.loads(body), sort_keys=True)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return body.decode("utf-8", "replace")


def observe_startup(host: str, port: int, path: str, *, timeout: float = 30.0, interval: float = 0.002) -> list[HttpObservation]:
    """Probe ``path`` until it answers 200 (for a server whose process is already starting)."""
    started = time.monotonic()
    seen: list[HttpObservation] = []
    while time.monotonic() - started < timeout:
        conn = http.client.HTTPConnection(host, port, timeout=2.0)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            seen.append(HttpObservation(time.monotonic() - started, response.status, response.read(),
                                        response.getheader("Content-Type", "")))
            if response.status == 200:
                return seen
        except (TimeoutError, OSError):
            seen.append(HttpObservation(time.monotonic() - started, None))
        finally:
            conn.close()
        time.sleep(interval)
    return seen


# --- comparing -------------------------------------------------------------------------------


def compare(real: Mapping[str, Shape], simulator: Mapping[str, Shape]) -> list[Difference]:
    found: list[Difference] = []
    for step in sorted(set(real) | set(simulator)):
        left, right = real.get(step, {}), simulator.get(step, {})
        for path in sorted(set(left) | set(right)):
            a, b = left.get(path, "<absent>"), right.get(path, "<absent>")
            if a != b:
                found.append(Difference(step, path, a, b))
    return found


def unexplained(differences: Iterable[Difference], kind: EngineKind) -> list[Difference]:
    known = KNOWN_DIFFERENCES.get(kind, ())
    return [d for d in differences if not any(k.covers(d) for k in known)]


def unused_known(differences: Iterable[Difference], kind: EngineKind) -> list[KnownDifference]:
    """Table entries no current difference needs: stale, to delete (the simulator was fixed)."""
    seen = list(differences)
    return [k for k in KNOWN_DIFFERENCES.get(kind, ()) if not any(k.covers(d) for d in seen)]


# Differences accepted on purpose. Keep each reason checkable: what the real server does, why the
# simulator may differ. Everything else the fidelity test reports is a simulator defect: fix it in
# contracts/simulators/.
# Today the scenario finds no difference at all (docs/llama-cpp.md, "Fidelity"): both tables are empty.
KNOWN_DIFFERENCES: dict[EngineKind, tuple[KnownDifference, ...]] = {
    "llama_cpp": (),
    "llama_cpp_python": (),
}
