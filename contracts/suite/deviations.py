"""Known-deviation matching: whether a violation is one the type's spec records as its real server's
known deviation (``x-known-deviations``, built in ``contracts/specbuilder/<type>.py``).

A record excuses a violation only EXACTLY: same check, rule, endpoint and case, and the same
observed behaviour (an exact ``actual``, one of an enumerated few, or the answer's status and body).
No wildcards: the same rule broken any other way still fails. The suite and fuzzing (``contracts/fuzz.py``) both ask here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from contracts.schemas import SpecSchemas, load_spec, spec_schemas
from contracts.violation import Violation

__all__ = ["KnownDeviation", "Observation", "excuses", "find_deviation", "known_deviations", "observed_as"]


@dataclass(frozen=True)
class KnownDeviation:
    """A violation the type's spec records as a real server's known deviation (``x-known-deviations``)."""

    violation: Violation
    server: str
    why: str
    evidence: str

    def to_dict(self) -> dict[str, str]:
        return {**self.violation.to_dict(), "server": self.server, "why": self.why, "evidence": self.evidence}


def known_deviations(provider_type: str) -> list[dict[str, Any]]:
    """The spec's ``x-known-deviations`` of ``provider_type`` (see contracts/specbuilder/)."""
    return list(load_spec(provider_type).get("x-known-deviations", []))


@dataclass(frozen=True)
class Observation:
    """The answer behind a violation: what a deviation's ``match`` is compared with."""

    status: int
    content_type: str
    content: bytes

    @classmethod
    def of(cls, response: httpx.Response) -> Observation:
        return cls(response.status_code, response.headers.get("content-type", ""), response.content)


def observed_as(match: dict[str, Any], schemas: SpecSchemas, observation: Observation | None) -> bool:
    """``{status, body: SCHEMA}``: that status and a JSON body valid against the spec's SCHEMA;
    ``{status, text}``: that status and exactly that text/plain body. Nothing looser."""
    if observation is None or observation.status != match["status"]:
        return False
    if "text" in match:
        return observation.content_type.startswith("text/plain") and observation.content == match["text"].encode()
    try:
        document = json.loads(observation.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return not schemas.errors(match["body"], document)


def excuses(
    deviation: dict[str, Any],
    schemas: SpecSchemas,
    *,
    check: str,
    violation: Violation,
    case: str,
    observation: Observation | None,
    request_classes: tuple[str, ...] = (),
) -> bool:
    """Whether ``deviation`` is exactly ``violation``: same check, rule, endpoint and case (the
    violation's ``expected``, without the request a fuzzed finding names), for a fuzz record the
    same class of request (``request_class``, one of ``request_classes``: contracts/fuzz.py), and
    the same observed behaviour (``match``: an exact ``actual``; ``actual_in``, one of the listed
    exact texts, for a deviation whose size the server's source bounds; or the answer's status and
    body)."""
    where = (deviation["check"], deviation["rule"], deviation["endpoint"], deviation["case"])
    if where != (check, violation.rule, violation.endpoint, case):
        return False
    if "request_class" in deviation and deviation["request_class"] not in request_classes:
        return False
    match = deviation["match"]
    if "actual" in match:
        return bool(match["actual"] == violation.actual)
    if "actual_in" in match:
        return violation.actual in match["actual_in"]
    return observed_as(match, schemas, observation)


def find_deviation(
    provider_type: str,
    *,
    check: str,
    violation: Violation,
    case: str,
    observation: Observation | None,
    request_classes: tuple[str, ...] = (),
) -> KnownDeviation | None:
    """The type's recorded deviation that excuses ``violation``, if one does."""
    schemas = spec_schemas(provider_type)
    for deviation in known_deviations(provider_type):
        if excuses(deviation, schemas, check=check, violation=violation, case=case, observation=observation,
                   request_classes=request_classes):
            return KnownDeviation(violation, deviation["server"], deviation["why"], deviation["evidence"])
    return None
