"""Running the suite: every check of a target's contract type against it, each violation classified
as a failure or, when the type's spec records it exactly, a known deviation.

``run_suite(target)`` opens a ``Probe`` (the model: ``target.model``, else the first the server
lists), runs ``checks_for(target.type)`` and returns a ``SuiteReport``. ``CHECKS`` is the catalogue:
the OpenAI family's checks, then the Ollama family's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx

from contracts.provenance import is_advisory
from contracts.rules import OLLAMA_NATIVE
from contracts.suite.check import Check, clip, exchange_of
from contracts.suite.deviations import KnownDeviation, Observation, find_deviation
from contracts.suite.ollama_family import CHECKS as OLLAMA_FAMILY_CHECKS
from contracts.suite.openai_family import CHECKS as OPENAI_FAMILY_CHECKS
from contracts.suite.probe import Probe, Target
from contracts.violation import Exchange, Violation
from generator.errors import UsageError

__all__ = [
    "CHECKS",
    "CheckOutcome",
    "SuiteReport",
    "checks_for",
    "discover_model",
    "open_probe",
    "run_check",
    "run_suite",
]

# Per type, checks run in this order (health first); two families never share a type.
CHECKS: tuple[Check, ...] = (*OPENAI_FAMILY_CHECKS, *OLLAMA_FAMILY_CHECKS)


def checks_for(provider_type: str) -> list[Check]:
    """The checks of ``provider_type``'s contract, in the order they run."""
    return [check for check in CHECKS if provider_type in check.types]


# --- results ------------------------------------------------------------------------------------


@dataclass
class CheckOutcome:
    check: str
    violations: list[Violation]
    known: list[KnownDeviation] = field(default_factory=list)
    # Findings that never fail a run: a rule no source supports for the type (advisory,
    # contracts/provenance/<type>.yaml), or an invalid request a server accepted (fuzzing).
    warnings: list[Violation] = field(default_factory=list)


@dataclass
class SuiteReport:
    target: Target
    model: str
    outcomes: list[CheckOutcome]

    @property
    def violations(self) -> list[Violation]:
        return [v for outcome in self.outcomes for v in outcome.violations]

    @property
    def known_deviations(self) -> list[KnownDeviation]:
        return [k for outcome in self.outcomes for k in outcome.known]

    @property
    def warnings(self) -> list[Violation]:
        return [w for outcome in self.outcomes for w in outcome.warnings]

    @property
    def violated_rules(self) -> set[str]:
        return {v.rule for v in self.violations}

    @property
    def ok(self) -> bool:
        return not self.violations


# --- running -----------------------------------------------------------------------------------------


def _client(target: Target, timeout: float) -> httpx.Client:
    headers = {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}
    # A new connection per request: keep-alive is not part of any contract, and llama-server
    # closes the connection after every streamed answer without saying so, so reusing one could
    # fail a check on a request sent into a closing connection ("Connection reset by peer").
    return httpx.Client(base_url=target.base_url, headers=headers, timeout=timeout,
                        limits=httpx.Limits(max_keepalive_connections=0))


def discover_model(target: Target, client: httpx.Client) -> str:
    """The model to exercise: ``target.model``, else the first the server lists."""
    if target.model:
        return target.model
    path, key, name = ("/api/tags", "models", "name") if target.type in OLLAMA_NATIVE else ("/v1/models", "data", "id")
    try:
        response = client.get(path)
        listed = response.json()[key]
        return str(listed[0][name])
    except httpx.TransportError as exc:
        raise UsageError(f"{target.label}: cannot reach the server: {exc}", hint="is it running? check TYPE=URL") from exc
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise UsageError(
            f"{target.label}: cannot find a model to exercise: GET {path} answered {response.status_code} {clip(response.text, 120)}",
            hint="pass --model NAME",
        ) from exc


def open_probe(target: Target, *, timeout: float = 30.0) -> Probe:
    client = _client(target, timeout)
    try:
        model = discover_model(target, client)
    except BaseException:
        client.close()
        raise
    return Probe(target, model, client)


def _classify(probe: Probe, check: str, found: list[Violation]) -> CheckOutcome:
    violations: list[Violation] = []
    known: list[KnownDeviation] = []
    warnings: list[Violation] = []
    for violation in sorted(set(found)):
        answer = probe.answers.get(violation.endpoint)
        violation = violation.with_exchange(exchange_of(answer, violation.actual) if answer is not None else None)
        response = probe.observed.get(violation)
        observation = Observation.of(response) if response is not None else None
        deviation = find_deviation(probe.type, check=check, violation=violation, case=violation.expected,
                                   observation=observation)
        if deviation is not None:
            known.append(deviation)
        elif is_advisory(probe.type, violation.rule):
            warnings.append(violation)
        else:
            violations.append(violation)
    return CheckOutcome(check, violations, known, warnings)


def run_check(probe: Probe, check: Check) -> CheckOutcome:
    """One check; its violations split into failures and known deviations."""
    try:
        found = check.run(probe)
    except httpx.TransportError as exc:
        # A server that drops, hangs or breaks the HTTP exchange fails the check's first rule.
        exchange: Exchange | None
        try:
            endpoint = f"{exc.request.method} {exc.request.url.path}"
            sent = exc.request.content.decode("utf-8", "replace") if exc.request.content else ""
            exchange = Exchange(exc.request.method, exc.request.url.path, clip(sent, 300), None, "", f"{type(exc).__name__}: {exc}")
        except RuntimeError:  # an error raised before any request was built
            endpoint, exchange = check.name, None
        found = [Violation(check.transport_rule or check.rules[0], endpoint, "a complete HTTP response",
                           f"{type(exc).__name__}: {exc}", exchange)]
    outcome = _classify(probe, check.name, found)
    probe.observed.clear()
    probe.answers.clear()
    return outcome


def run_suite(target: Target, *, timeout: float = 30.0, only: Iterable[str] | None = None) -> SuiteReport:
    """Every check of ``target.type`` (or those named in ``only``) against ``target``."""
    wanted = set(only) if only is not None else None
    probe = open_probe(target, timeout=timeout)
    try:
        outcomes = [
            run_check(probe, check)
            for check in checks_for(target.type)
            if wanted is None or check.name in wanted
        ]
    finally:
        probe.client.close()
    return SuiteReport(target, probe.model, outcomes)
