"""One finding of the contract suite: which rule a server broke, where, and how, with the exchange
that shows it (the request as sent, the status and the relevant part of the answer)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from contracts.rules import RULES

__all__ = ["Exchange", "Violation"]


@dataclass(frozen=True)
class Exchange:
    """What a person needs to judge a finding: the request (body clipped), the status (None: no
    answer, the connection broke) and an excerpt of the answer, the part the finding is about."""

    method: str
    path: str
    request: str
    status: int | None
    content_type: str
    response: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def lines(self) -> list[str]:
        status = "no answer" if self.status is None else f"{self.status} {self.content_type}".rstrip()
        return [f"request:  {self.method} {self.path} {self.request}".rstrip(), f"response: {status}: {self.response}"]


@dataclass(frozen=True, order=True)
class Violation:
    """``rule`` is an id from ``contracts/rules.py``; ``endpoint`` reads like ``POST /v1/chat/completions``.
    ``exchange`` is not part of a finding's identity: the same break seen twice is one violation."""

    rule: str
    endpoint: str
    expected: str
    actual: str
    exchange: Exchange | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # A typo in a rule id would make a violation unprovable (the power test keys on ids).
        if self.rule not in RULES:
            raise ValueError(f"unknown contract rule id {self.rule!r}; see contracts/rules.py")

    def with_exchange(self, exchange: Exchange | None) -> Violation:
        return self if self.exchange is not None or exchange is None else dataclasses.replace(self, exchange=exchange)

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"rule": self.rule, "endpoint": self.endpoint, "expected": self.expected, "actual": self.actual}
        if self.exchange is not None:
            found["exchange"] = self.exchange.to_dict()
        return found

    def __str__(self) -> str:
        return f"{self.endpoint}: [{self.rule}] expected {self.expected}; got {self.actual}"
