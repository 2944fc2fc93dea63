"""The ``routes`` stage of ``aibackend ci``: does the gateway send every name where ``validate`` says?

On a temporary copy of the config (the operator's directory is only read): a simulator for every
active provider (``aibackend.ops.demo``'s own stand-up), the generated config, and the real LiteLLM
proxy behind the front as ``gateway start`` runs it. Then, one request at a time:

* every name of the routing table (exact matches, capabilities, model names, each pattern's first
  match) and an unlisted name for the default route is requested; the backend that answered is read
  twice, from LiteLLM's ``x-litellm-model-api-base`` header and from the simulators' request counts,
  and both must be a backend ``validate`` printed for that name;
* every fallback chain (and the default chain) is exercised: the primary's simulators answer 500
  (their ``error_rate`` fault), and the answer must come from the first link not served by a failed
  backend;
* rate limits and timeouts are listed with whether they could be checked in seconds (a timeout of
  at most ``TIMEOUT_CHECK_MAX_S`` is: the primary hangs and the answer must come after the timeout).

The Redis cache is left off in the copy: a cached answer would reach no backend at all.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aibackend.ops.interrupts import terminate_as_interrupt
from generator.routing import Group, RouteTable

__all__ = ["ChainCheck", "NameCheck", "RoutesReport", "check_routes", "expected_names", "simulated_gateway"]

API_BASE_HEADER = "x-litellm-model-api-base"
UNLISTED_PREFIX = "aibackend-ci-unlisted-"
REQUEST_TIMEOUT_S = 120.0
TIMEOUT_CHECK_MAX_S = 10.0


@dataclass
class NameCheck:
    """One requested name: the backends validate printed for it and the one that answered."""

    name: str
    kind: str  # model | alias | capability | pattern <regex> | default
    expected: list[str]
    status: int | None = None
    seen_header: str | None = None  # the provider whose URL LiteLLM's header names
    seen_counts: list[str] = field(default_factory=list)  # the providers whose simulator counted it
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def describe(self) -> str:
        seen = self.seen_header or ",".join(self.seen_counts) or "none"
        return (f"{self.name!r} ({self.kind}): expected {' or '.join(self.expected)}, seen {seen}"
                + (f" - {self.problem}" if self.problem else ""))


@dataclass
class ChainCheck:
    """One fallback chain exercised: which backends were made to fail and who answered."""

    source: str
    chain: list[str]
    failed: list[str]  # providers answering 500 during the check
    expected_link: str | None
    expected: list[str]
    status: int | None = None
    seen_header: str | None = None
    seen_counts: list[str] = field(default_factory=list)
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def describe(self) -> str:
        seen = self.seen_header or ",".join(self.seen_counts) or "none"
        return (f"{self.source} -> {' -> '.join(self.chain)} with {', '.join(self.failed)} failing: expected "
                f"{self.expected_link} on {' or '.join(self.expected) or 'nothing'}, seen {seen}"
                + (f" - {self.problem}" if self.problem else ""))


@dataclass
class RoutesReport:
    names: list[NameCheck] = field(default_factory=list)
    chains: list[ChainCheck] = field(default_factory=list)
    limits: list[dict[str, Any]] = field(default_factory=list)
    gateway: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.names) and all(c.ok for c in self.chains) and all(
            lim.get("ok", True) for lim in self.limits)

    def to_json(self) -> dict[str, Any]:
        return {"gateway": self.gateway,
                "names": [{**asdict(c), "ok": c.ok} for c in self.names],
                "chains": [{**asdict(c), "ok": c.ok} for c in self.chains],
                "limits": self.limits}


# --- what validate printed ------------------------------------------------------------------------


def group_backends(group: Group, *, excluding: frozenset[str] = frozenset()) -> list[str]:
    """The providers LiteLLM may pick first for a group: with ``order`` (a fallback capability) the
    lowest order among the backends still up, otherwise any of them (load balancing)."""
    up = [d for d in group.deployments if d.provider not in excluding]
    orders = [d.order for d in up if d.order is not None]
    if orders:
        up = [d for d in up if d.order == min(orders)]
    return list(dict.fromkeys(d.provider for d in up))


def expected_names(routes: RouteTable, unlisted: str) -> list[NameCheck]:
    """Every name the table resolves, in validate's order, plus one unlisted name for the default."""
    pattern_of = {}
    for pattern in routes.patterns:
        if pattern.names and pattern.names[0] not in pattern_of:
            pattern_of[pattern.names[0]] = pattern.pattern
    checks = []
    for name, group in routes.groups.items():
        kind: str = group.kind
        if name in pattern_of:
            kind = f"{kind}; sample of pattern {pattern_of[name]!r}"
        checks.append(NameCheck(name, kind, group_backends(group)))
    if routes.catch_all:
        checks.append(NameCheck(unlisted, "default", [routes.catch_all]))
    return checks


def expected_chains(routes: RouteTable) -> list[ChainCheck]:
    """Each chain with its primary failing; the answer is due from the first link still served."""
    plans: list[tuple[str, list[str]]] = list(routes.fallbacks.items())
    if routes.default_fallbacks:
        plain = next((n for n, g in routes.groups.items() if n not in routes.fallbacks and g.deployments
                      and n not in routes.default_fallbacks), None)
        if plain is not None:
            plans.append((plain, list(routes.default_fallbacks)))
    checks = []
    for source, chain in plans:
        failed = frozenset(d.provider for d in routes.groups[source].deployments)
        link, backends = None, []
        for target in chain:
            backends = group_backends(routes.groups[target], excluding=failed)
            if backends:
                link = target
                break
        checks.append(ChainCheck(source, chain, sorted(failed), link, backends))
    # A fallback capability is a chain inside one group (LiteLLM fails over by `order`): fail the
    # first order's backends, the next order must answer.
    for name, group in routes.groups.items():
        orders = sorted({d.order for d in group.deployments if d.order is not None})
        if len(orders) < 2:
            continue
        first = frozenset(group_backends(group))
        backends = group_backends(group, excluding=first)
        links = [f"order {o}: " + ",".join(d.provider for d in group.deployments if d.order == o) for o in orders]
        checks.append(ChainCheck(name, links[1:], sorted(first), links[1] if backends else None, backends))
    return checks


# --- the stack --------------------------------------------------------------------------------------


@dataclass
class SimulatedGateway:
    url: str
    key: str
    simulators: dict[str, Any]  # provider -> RunningSimulator
    routes: RouteTable
    front: str
    config_file: Path

    def provider_of(self, api_base: str | None) -> str | None:
        if not api_base:
            return None
        port = urlsplit(api_base).port
        return next((name for name, sim in self.simulators.items() if sim.port == port), f"unknown ({api_base})")


@contextmanager
def simulated_gateway(config_dir: Path, say: Callable[[str], None], *,
                      edit_generated: Callable[[Path], None] | None = None,
                      simulate: bool = True) -> Iterator[SimulatedGateway]:
    """Simulators + the real gateway on a temporary copy of ``config_dir``; all stopped on exit.

    With ``simulate=False`` the copy keeps the providers' real URLs (the live stages' gateway).

    ``edit_generated`` changes the generated file before the gateway starts on it (the failing-gateway
    proof in the tests swaps two deployments' ``api_base`` this way).
    """
    from aibackend.gateway import control as gateway
    from aibackend.gateway.runtime import RuntimeDir
    from aibackend.gateway.settings import plan_for
    from aibackend.ops import demo
    from generator.net import free_port
    from generator.store import output_path

    workdir = Path(tempfile.mkdtemp(prefix="aibackend-ci-routes-"))
    stack = demo.Stack(workdir=workdir, config_dir=workdir / "config", key="sk-ci-" + secrets.token_hex(24))
    sources = demo.validate(config_dir)
    key_env = sources.gateway.server.master_key_env
    previous = {var: os.environ.get(var) for var in {key_env, "LITELLM_MASTER_KEY"}}
    for var in previous:
        os.environ[var] = stack.key  # read by the gateway from its environment only
    try:
        with terminate_as_interrupt():
            urls = demo.start_simulators(sources, stack, say) if simulate else {}
            by_provider = dict(zip(urls, stack.simulators, strict=True))
            demo.rewrite_copy(sources, stack.config_dir, urls, gateway_port=free_port(), redis_port=None)
            _, routes = demo.generate(stack.config_dir)
            config_file = output_path(stack.config_dir)
            if edit_generated is not None:
                edit_generated(config_file)
            run_dir = RuntimeDir(stack.config_dir)
            with run_dir.lock(), warnings.catch_warnings():
                # LiteLLM and HAProxy are started detached, in their own sessions, as `gateway start` does;
                # their Popen handles are dropped while they run (ResourceWarning), and they are stopped
                # through the state file by Stack.close.
                warnings.simplefilter("ignore", ResourceWarning)
                stack.gateway_started = True
                state = gateway.start(run_dir, plan_for(stack.config_dir), config_file=config_file, front="auto")
            url = f"http://127.0.0.1:{state.port}"
            front = "haproxy" if state.front else "none"
            say(f"      gateway ready at {url} (front: {front})")
            yield SimulatedGateway(url, stack.key, by_provider, routes, front, config_file)
    finally:
        stack.close(say)
        for var, value in previous.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)


# --- requests -----------------------------------------------------------------------------------------


def _counts(stack: SimulatedGateway) -> dict[str, tuple[int, int]]:
    """provider -> (inference requests received, inference answers completed)."""
    out = {}
    for name, sim in stack.simulators.items():
        stats = sim.stats()
        posts = sum(v for k, v in stats["requests"].items() if k.startswith("POST "))
        out[name] = (posts, int(stats["completed"]))
    return out


def _ask(stack: SimulatedGateway, model: str) -> tuple[int | None, str | None, str | None]:
    """(status, api_base header, error text) of one chat completion through the gateway."""
    body = json.dumps({"model": model, "max_tokens": 4,
                       "messages": [{"role": "user", "content": "which backend answers?"}]}).encode()
    request = urllib.request.Request(stack.url + "/v1/chat/completions", data=body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {stack.key}"})
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            response.read()
            return response.status, response.headers.get(API_BASE_HEADER), None
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace")[:300]
        return exc.code, exc.headers.get(API_BASE_HEADER), text
    except (urllib.error.URLError, OSError) as exc:
        return None, None, f"no answer: {exc}"


def _observe(stack: SimulatedGateway, model: str) -> tuple[int | None, str | None, list[str], str | None]:
    before = _counts(stack)
    status, api_base, error = _ask(stack, model)
    after = _counts(stack)
    answered = [p for p in after if after[p][1] > before[p][1]]
    reached = [p for p in after if after[p][0] > before[p][0]]
    return status, stack.provider_of(api_base), answered or reached, error


def _judge(expected: list[str], status: int | None, header: str | None, counts: list[str], error: str | None,
           *, must_succeed: bool) -> str | None:
    if must_succeed and status != 200:
        return f"HTTP {status}: {error}"
    if not counts:
        return "no simulator received the request"
    if header is not None and header not in expected:
        return f"{API_BASE_HEADER} names {header}"
    if must_succeed and header is None:
        return f"the answer has no {API_BASE_HEADER} header"
    wrong = [p for p in counts if p not in expected]
    if wrong:
        return f"answered by {', '.join(wrong)} (simulator request counts)"
    return None


def check_names(stack: SimulatedGateway, checks: list[NameCheck]) -> None:
    for check in checks:
        status, header, counts, error = _observe(stack, check.name)
        check.status, check.seen_header, check.seen_counts = status, header, counts
        # The unlisted name reaches the default backend as is; the simulator answers 404 (no such model),
        # which still proves where it went.
        check.problem = _judge(check.expected, status, header, counts, error, must_succeed=check.kind != "default")


def check_chains(stack: SimulatedGateway, checks: list[ChainCheck]) -> None:
    for check in checks:
        failing = [stack.simulators[p] for p in check.failed if p in stack.simulators]
        for sim in failing:
            sim.control(error_rate=1.0, error_status=500)
        try:
            status, header, counts, error = _observe(stack, check.source)
        finally:
            for sim in failing:
                sim.control(error_rate=0.0)
        check.status, check.seen_header = status, header
        # Counts: who completed an answer (the failing primaries received requests, answered none).
        check.seen_counts = [p for p in counts if p not in check.failed]
        if check.expected_link is None:
            check.problem = None if status != 200 else "answered although every link's backend was failing"
            continue
        check.problem = _judge(check.expected, status, header, check.seen_counts or counts, error, must_succeed=True)


def limits_plan(routes: RouteTable, timeout_s: float | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, group in routes.groups.items():
        if group.rpm or group.tpm:
            out.append({"what": "rate_limit", "name": name, "rpm": group.rpm, "tpm": group.tpm, "checked": False,
                        "reason": "a per-minute limit cannot be reached and observed in seconds"})
    if timeout_s is not None:
        out.append({"what": "timeout", "seconds": timeout_s, "checked": False,
                    "reason": f"longer than the {TIMEOUT_CHECK_MAX_S:g} s a CI check may wait"
                    if timeout_s > TIMEOUT_CHECK_MAX_S else "not implemented for short timeouts yet"})
    return out


def check_routes(config_dir: Path, say: Callable[[str], None], *,
                 edit_generated: Callable[[Path], None] | None = None) -> RoutesReport:
    from aibackend.ops import demo

    sources = demo.validate(config_dir)
    report = RoutesReport()
    with simulated_gateway(config_dir, say, edit_generated=edit_generated) as stack:
        report.gateway = {"url": stack.url, "front": stack.front, "config": str(stack.config_file),
                          "simulators": {name: sim.url for name, sim in stack.simulators.items()}}
        report.names = expected_names(stack.routes, UNLISTED_PREFIX + secrets.token_hex(4))
        check_names(stack, report.names)
        for check in report.names:
            say(f"      {'ok  ' if check.ok else 'FAIL'} {check.describe()}")
        report.chains = expected_chains(stack.routes)
        check_chains(stack, report.chains)
        for chain in report.chains:
            say(f"      {'ok  ' if chain.ok else 'FAIL'} chain {chain.describe()}")
    report.limits = limits_plan(stack.routes, sources.gateway.reliability.timeout)
    for limit in report.limits:
        say(f"      not checked: {limit['what']} {limit.get('name', '')} ({limit['reason']})")
    return report


def elapsed(since: float) -> str:
    return f"{time.monotonic() - since:.1f} s"
