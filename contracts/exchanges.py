"""Recorded exchanges with real servers: the evidence behind what a contract says a real server does.

One file per exchange, ``fixtures/exchanges/<type>/<name>.json``: the request exactly as sent
(method, path, body text), the response exactly as received (status, content type, body text),
which server answered, and when and how it was recorded. A citation (``contracts/upstream/
citations.yaml``) names one with ``exchange: <type>/<name>.json``; a known deviation names the
exchange that shows it.

``python -m contracts.exchanges record [TYPE ...]`` starts the real llama.cpp engines with the
tiny model (``contracts/engines/``), sends every recorded request of their types again and
rewrites the responses: what a new engine version needs. The engine tests replay them too, one by
one, so a record the server no longer matches fails (``tests/contract/test_engine_exchanges.py``).
"""

from __future__ import annotations

import datetime
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = ["EXCHANGE_DIR", "Exchange", "load_exchange", "load_exchanges", "replay"]

EXCHANGE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "exchanges"
# The engines' servers as the contracts name them (contracts/specbuilder/llama_cpp*.py).
ENGINE_SERVERS = {
    "llama_cpp": "llama.cpp as vendored by llama-cpp-python 0.3.36 (llama-server)",
    "llama_cpp_python": "llama-cpp-python 0.3.36",
}


@dataclass(frozen=True)
class Exchange:
    """One request and the answer a real server gave it."""

    name: str  # <type>/<name>.json
    server: str
    recorded: str
    method: str
    path: str
    request_body: str | None
    status: int
    content_type: str
    response_body: str

    @classmethod
    def from_json(cls, name: str, document: dict[str, Any]) -> Exchange:
        request, response = document["request"], document["response"]
        return cls(
            name, document["server"], document["recorded"], request["method"], request["path"], request.get("body"),
            response["status"], response["content_type"], response["body"],
        )

    def to_json(self) -> dict[str, Any]:
        request: dict[str, Any] = {"method": self.method, "path": self.path}
        if self.request_body is not None:
            request["body"] = self.request_body
        return {
            "server": self.server,
            "recorded": self.recorded,
            "request": request,
            "response": {"status": self.status, "content_type": self.content_type, "body": self.response_body},
        }

    @property
    def endpoint(self) -> str:
        return f"{self.method} {self.path}"

    def json_body(self) -> Any:
        return json.loads(self.response_body)


def load_exchange(name: str) -> Exchange:
    return Exchange.from_json(name, json.loads((EXCHANGE_DIR / name).read_text(encoding="utf-8")))


def load_exchanges(provider_type: str) -> list[Exchange]:
    folder = EXCHANGE_DIR / provider_type
    return [load_exchange(f"{provider_type}/{path.name}") for path in sorted(folder.glob("*.json"))]


def replay(exchange: Exchange, base_url: str, *, timeout: float = 60.0) -> Exchange:
    """Send ``exchange``'s request again to ``base_url``: the exchange with today's answer."""
    headers = {"Content-Type": "application/json", "Connection": "close"}
    content = exchange.request_body.encode("utf-8") if exchange.request_body is not None else None
    with httpx.Client(base_url=base_url, timeout=timeout) as client:
        response = client.request(exchange.method, exchange.path, content=content, headers=headers)
    return Exchange(
        exchange.name, exchange.server, exchange.recorded, exchange.method, exchange.path, exchange.request_body,
        response.status_code, response.headers.get("content-type", ""), response.text,
    )


def _record(provider_type: str) -> None:
    from contracts.engines.llama_servers import running_engine
    from contracts.engines.tiny_model import write_tiny_model

    exchanges = load_exchanges(provider_type)
    today = datetime.date.today().isoformat()
    with tempfile.TemporaryDirectory() as folder:
        model = write_tiny_model(Path(folder) / "tiny-llama.gguf")
        with running_engine(provider_type, model, log_dir=Path(folder)) as engine:  # type: ignore[arg-type]
            for exchange in exchanges:
                fresh = replay(exchange, engine.base_url)
                recorded = f"{today}, python -m contracts.exchanges record, the tiny model (contracts/engines/tiny_model.py)"
                fresh = Exchange(fresh.name, ENGINE_SERVERS[provider_type], recorded, fresh.method, fresh.path,
                                 fresh.request_body, fresh.status, fresh.content_type, fresh.response_body)
                path = EXCHANGE_DIR / exchange.name
                path.write_text(json.dumps(fresh.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
                print(f"{exchange.name}: {fresh.status} {fresh.content_type}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "record":
        print("usage: python -m contracts.exchanges record [TYPE ...]", file=sys.stderr)
        return 2
    for provider_type in args[1:] or sorted(ENGINE_SERVERS):
        _record(provider_type)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
