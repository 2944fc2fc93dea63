"""One finding of the contract suite: which rule a server broke, where, and how."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from contracts.rules import RULES

__all__ = ["Violation"]


@dataclass(frozen=True, order=True)
class Violation:
    """``rule`` is an id from ``contracts/rules.py``; ``endpoint`` reads like ``POST /v1/chat/completions``."""

    rule: str
    endpoint: str
    expected: str
    actual: str

    def __post_init__(self) -> None:
        # A typo in a rule id would make a violation unprovable (the power test keys on ids).
        if self.rule not in RULES:
            raise ValueError(f"unknown contract rule id {self.rule!r}; see contracts/rules.py")

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.endpoint}: [{self.rule}] expected {self.expected}; got {self.actual}"
