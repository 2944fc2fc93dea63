"""The server under test: ``Target`` (what to check: contract type, URL, key) and ``Probe`` (one
target, one model, one HTTP client: what every check is given)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from contracts.schemas import SpecSchemas, load_spec, spec_schemas
from contracts.violation import Violation
from generator.errors import UsageError
from generator.providers import contract_types

__all__ = ["Probe", "Target"]


@dataclass(frozen=True)
class Target:
    type: str  # a contract type (contracts/specs/<type>.yaml)
    url: str
    model: str | None = None
    api_key: str | None = None
    name: str = ""

    def __post_init__(self) -> None:
        known = contract_types()
        if self.type not in known:
            raise UsageError(f"unknown provider type {self.type!r}", hint=f"use one of: {', '.join(known)}")

    @property
    def base_url(self) -> str:
        # providers.yaml writes OpenAI-style base URLs with /v1; the specs' paths include it.
        url = self.url.rstrip("/")
        return url[: -len("/v1")] if url.endswith("/v1") else url

    @property
    def label(self) -> str:
        return self.name or f"{self.type}={self.url}"


@dataclass
class Probe:
    """One target, one model, one HTTP client; what every check is given."""

    target: Target
    model: str
    client: httpx.Client
    schemas: SpecSchemas = field(init=False)
    # The response behind each violation a check reported: what known deviations are matched on.
    observed: dict[Violation, httpx.Response] = field(init=False, default_factory=dict)
    # The last answer from each endpoint ("POST /v1/chat/completions") during the current check:
    # the exchange a finding about that endpoint is shown with.
    answers: dict[str, httpx.Response] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.schemas = spec_schemas(self.target.type)

    @property
    def type(self) -> str:
        return self.target.type

    def request(self, method: str, path: str, *, body: Any = None, raw: bytes | None = None) -> httpx.Response:
        if raw is not None:
            # Some servers (llama-cpp-python 0.3) answer a broken body and then silently drop the
            # keep-alive connection: never let that surface as the NEXT check's failure.
            headers = {"Content-Type": "application/json", "Connection": "close"}
            response = self.client.request(method, path, content=raw, headers=headers)
        elif body is not None:
            response = self.client.request(method, path, json=body)
        else:
            response = self.client.request(method, path)
        self.answers[f"{method} {path}"] = response
        return response

    def error_schema(self, method: str, path: str, status: int) -> str | None:
        """The schema the spec gives this operation's ``status`` response, or its ``default``
        response for an error status (None: undocumented)."""
        operation = load_spec(self.type)["paths"].get(path, {}).get(method.lower(), {})
        responses = operation.get("responses", {})
        documented = responses.get(str(status)) or (responses.get("default", {}) if status >= 400 else {})
        schema = documented.get("content", {}).get("application/json", {}).get("schema", {})
        ref = schema.get("$ref", "")
        return ref.rsplit("/", 1)[-1] if ref else None
