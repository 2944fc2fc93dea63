"""``aibackend request``: one chat completion through the gateway, showing who answered and how fast.

Which backend answered comes from LiteLLM's response headers (``x-litellm-model-group``,
``x-litellm-model-id``, ``x-litellm-model-api-base``, ``x-litellm-attempted-fallbacks``...).
Timings: TTFB (response headers), TTFT (first content token; for a non-streamed answer, the whole
body), total. The key is read from the environment variable ``--api-key-env`` names.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

HELP = "send one request through the gateway: which backend answered, TTFB/TTFT/total, headers with --debug"

BACKEND_HEADERS = (
    ("model group", "x-litellm-model-group"),
    ("deployment", "x-litellm-model-id"),
    ("backend model", "x-litellm-model-name"),
    ("backend URL", "x-litellm-model-api-base"),
    ("retries", "x-litellm-attempted-retries"),
    ("fallbacks", "x-litellm-attempted-fallbacks"),
    ("cache key", "x-litellm-cache-key"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="NAME", help="the model (group) name to request")
    parser.add_argument("--prompt", required=True, metavar="TEXT", help="the user message")
    parser.add_argument("--stream", action="store_true", help="stream the answer (SSE); TTFT is then the first token")
    parser.add_argument("--debug", action="store_true", help="also print the request body and every response header")
    parser.add_argument("--max-tokens", type=int, default=64, metavar="N", help="max_tokens (default 64)")
    parser.add_argument("--url", metavar="URL", help="gateway root URL (default: host and port of gateway.yaml)")
    parser.add_argument("--api-key-env", metavar="VAR",
                        help="variable holding the gateway key (default: server.master_key_env of gateway.yaml)")
    parser.add_argument("--timeout", type=float, default=120.0, metavar="S", help="request timeout (default 120 s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


@dataclass
class Outcome:
    status: int
    headers: dict[str, str]
    text: str = ""
    usage: dict[str, Any] | None = None
    error: str | None = None
    ttfb_ms: float = 0.0
    ttft_ms: float | None = None
    total_ms: float = 0.0
    chunks: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None

    def backend(self) -> dict[str, str]:
        return {label: self.headers[name] for label, name in BACKEND_HEADERS if name in self.headers}

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "status": self.status, "error": self.error, "text": self.text, "usage": self.usage,
            "backend": {name: self.headers.get(name) for _, name in BACKEND_HEADERS},
            "timings_ms": {"ttfb": round(self.ttfb_ms, 2),
                           "ttft": None if self.ttft_ms is None else round(self.ttft_ms, 2),
                           "total": round(self.total_ms, 2)},
            "chunks": self.chunks,
        }


def _error_text(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")[:300]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", error))[:500]
    return str(data)[:300]


def send(client: httpx.Client, url: str, body: dict[str, Any], *, key: str | None, timeout: float) -> Outcome:
    """POST ``body`` to ``url``/v1/chat/completions and time it (raises httpx.TransportError)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    started = time.perf_counter()

    def since() -> float:
        return (time.perf_counter() - started) * 1000

    with client.stream("POST", url.rstrip("/") + "/v1/chat/completions", json=body, headers=headers,
                       timeout=timeout) as response:
        outcome = Outcome(response.status_code, {k.lower(): v for k, v in response.headers.items()}, ttfb_ms=since())
        if response.status_code != 200:
            outcome.error = f"HTTP {response.status_code}: {_error_text(response.read())}"
            outcome.total_ms = since()
            return outcome
        if not body.get("stream"):
            raw = response.read()
            outcome.total_ms = outcome.ttft_ms = since()
            try:
                data = json.loads(raw)
                outcome.text = str(data["choices"][0]["message"].get("content") or "")
                outcome.usage = data.get("usage")
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                outcome.error = f"unreadable answer ({type(exc).__name__}): {raw[:200]!r}"
            return outcome
        parts: list[str] = []
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                break
            try:
                chunk = json.loads(payload)
            except ValueError:
                outcome.error = f"malformed stream chunk: {payload[:120]!r}"
                break
            if chunk.get("usage"):
                outcome.usage = chunk["usage"]
            for choice in chunk.get("choices") or []:
                content = (choice.get("delta") or {}).get("content")
                if content:
                    if outcome.ttft_ms is None:
                        outcome.ttft_ms = since()
                    outcome.chunks += 1
                    parts.append(content)
        outcome.text = "".join(parts)
        outcome.total_ms = since()
        return outcome


def print_outcome(outcome: Outcome, *, debug: bool) -> None:
    width = max(len(label) for label, _ in BACKEND_HEADERS)
    print(f"status: {outcome.status}")
    for label, value in outcome.backend().items():
        print(f"{label:<{width}}  {value}")
    ttft = "-" if outcome.ttft_ms is None else f"{outcome.ttft_ms:.1f} ms"
    print(f"timings: TTFB {outcome.ttfb_ms:.1f} ms  TTFT {ttft}  total {outcome.total_ms:.1f} ms"
          + (f"  ({outcome.chunks} content chunks)" if outcome.chunks else ""))
    if outcome.usage:
        print(f"usage: {outcome.usage.get('prompt_tokens')} prompt + {outcome.usage.get('completion_tokens')} "
              "completion tokens")
    if debug:
        print("response headers:")
        for name, value in sorted(outcome.headers.items()):
            print(f"  {name}: {value}")
    if outcome.error:
        print(f"error: {outcome.error}", file=sys.stderr)
    else:
        print("answer:")
        print(outcome.text)


def run(args: argparse.Namespace) -> int:
    import httpx

    from aibackend.commands._operator import api_key_from_env, read_sources
    from aibackend.ops.health import transport_reason
    from generator.errors import AibackendError, UsageError

    if args.max_tokens < 1:
        raise UsageError(f"--max-tokens must be at least 1, got {args.max_tokens}")
    if args.url:
        url, key_env = args.url, args.api_key_env or "LITELLM_MASTER_KEY"
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--url {url!r}: expected an http(s) URL, e.g. http://127.0.0.1:4000")
    else:
        server = read_sources(args.config_dir).gateway.server
        host = "127.0.0.1" if server.host in ("0.0.0.0", "", "::") else server.host
        url, key_env = f"http://{host}:{server.port}", args.api_key_env or server.master_key_env
    key = api_key_from_env(key_env, required=True)
    body: dict[str, Any] = {"model": args.model, "messages": [{"role": "user", "content": args.prompt}],
                            "max_tokens": args.max_tokens}
    if args.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if args.debug and not args.json:
        print(f"POST {url}/v1/chat/completions  (Authorization: Bearer ${key_env})")
        print(json.dumps(body, indent=2))
    try:
        with httpx.Client() as client:
            outcome = send(client, url, body, key=key, timeout=args.timeout)
    except httpx.TransportError as exc:
        raise AibackendError(f"cannot reach the gateway at {url}: {transport_reason(exc, args.timeout)}",
                             hint="is it running? `aibackend gateway status`; start it with `aibackend gateway start`"
                             ) from None
    if args.json:
        print(json.dumps(outcome.to_json(), indent=2))
    else:
        print_outcome(outcome, debug=args.debug)
    return 0 if outcome.ok else 1
