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
* every rpm limit of at most ``RPM_CHECK_MAX`` requests a minute is checked: in a fresh one of
  LiteLLM's counting windows (a clock minute with usage-based-routing-v2; otherwise 60 s from the
  first request, so the check first waits until the earlier checks' counters expired), requests one
  after another until one is not answered by the group's own backends; that must happen, after at
  most the limit. Larger rpm limits, tpm limits and timeouts are listed with why they were not
  checked in seconds.

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
from generator.models import ReliabilitySettings
from generator.routing import Group, RouteTable

__all__ = ["ChainCheck", "NameCheck", "RoutesReport", "check_routes", "expected_names", "simulated_gateway"]

API_BASE_HEADER = "x-litellm-model-api-base"
MODEL_GROUP_HEADER = "x-litellm-model-group"
UNLISTED_PREFIX = "aibackend-ci-unlisted-"
REQUEST_TIMEOUT_S = 120.0
TIMEOUT_CHECK_MAX_S = 10.0
# Sequential requests through the gateway to simulators take ~0.05-0.2 s: 120 fit in a minute with room.
RPM_CHECK_MAX = 120
# Past the limit, one more request than this must have been refused.
RPM_CHECK_SLACK = 3


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
    last_request: float = 0.0  # time.monotonic() of the latest request through the gateway

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
    status, headers, error = _ask_with_headers(stack, model)
    return status, headers.get(API_BASE_HEADER), error


def _ask_with_headers(stack: SimulatedGateway, model: str) -> tuple[int | None, dict[str, str], str | None]:
    body = json.dumps({"model": model, "max_tokens": 4,
                       "messages": [{"role": "user", "content": "which backend answers?"}]}).encode()
    request = urllib.request.Request(stack.url + "/v1/chat/completions", data=body, method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {stack.key}"})
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            response.read()
            return response.status, {k.lower(): v for k, v in response.headers.items()}, None
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace")[:300]
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, text
    except (urllib.error.URLError, OSError) as exc:
        return None, {}, f"no answer: {exc}"
    finally:
        stack.last_request = time.monotonic()


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


def _seconds_left_in_minute() -> float:
    return 60.0 - time.time() % 60.0


def _per_clock_minute(config_file: Path) -> bool:
    """Whether LiteLLM counts rpm per clock minute (usage-based-routing-v2, with several processes)
    or, as simple-shuffle's pre-call check does, from the first request on for 60 s (a counter with
    a 60 s TTL: ``Router._update_usage``)."""
    import yaml

    settings = (yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}).get("router_settings") or {}
    return settings.get("routing_strategy") == "usage-based-routing-v2"


def _burst(stack: SimulatedGateway, name: str, limit: int) -> tuple[int, int, dict[str, Any] | None]:
    """(admitted, sent, the first answer not from the group itself). The group's own deployment
    answered when LiteLLM's model-group header names it: a fallback may well be on the same server."""
    admitted, sent = 0, 0
    for _ in range(limit + RPM_CHECK_SLACK):
        status, headers, error = _ask_with_headers(stack, name)
        sent += 1
        group = headers.get(MODEL_GROUP_HEADER)
        if status == 200 and group == name:
            admitted += 1
            continue
        return admitted, sent, {"status": status, "seen": group or stack.provider_of(headers.get(API_BASE_HEADER)),
                                "error": error}
    return admitted, sent, None


def check_rate_limit(stack: SimulatedGateway, name: str, limit: int, say: Callable[[str], None], *,
                     clock_minute: bool) -> dict[str, Any]:
    """Requests to ``name`` one after another until one is not served by its own backends; all in one
    of LiteLLM's counting windows (``check_limits`` waits for a fresh one first)."""
    own = {d.provider for d in stack.routes.groups[name].deployments}
    entry: dict[str, Any] = {"what": "rate_limit", "name": name, "rpm": limit, "checked": True,
                             "window": "clock minute" if clock_minute else "60 s from the first request"}
    needed_s = 10.0 + limit * 0.2  # a first guess of the burst's length; measured after one burst
    for attempt in range(2):
        if clock_minute and _seconds_left_in_minute() < needed_s:
            time.sleep(_seconds_left_in_minute() + 0.5)
        minute, started = int(time.time() // 60), time.monotonic()
        admitted, sent, refused = _burst(stack, name, limit)
        burst_s = time.monotonic() - started
        entry.update(admitted=admitted, refused=refused, burst_s=round(burst_s, 1))
        fitted = int(time.time() // 60) == minute if clock_minute else burst_s < 59
        if fitted:
            break
        needed_s = (limit + RPM_CHECK_SLACK) * burst_s / sent * 1.2 + 2
        if attempt == 1 or needed_s > 58 or not clock_minute:
            entry.update(checked=False, ok=True, reason=(
                f"{sent} requests took {burst_s:.0f} s: the gateway answered too slowly for {limit + RPM_CHECK_SLACK} "
                "to fit in one of LiteLLM's one-minute windows"))
            return entry
        say(f"      rate limit {name}: the burst crossed a clock minute; once more from the next one")
    problem = None
    if refused is None:
        problem = (f"{admitted} requests in a row were served by {', '.join(sorted(own))}: "
                   f"the rpm limit {limit} was not enforced")
    elif admitted > limit:
        problem = f"{admitted} requests admitted in one minute for rpm {limit}"
    return _judged(entry, problem)


def _judged(entry: dict[str, Any], problem: str | None) -> dict[str, Any]:
    """A checked limit's entry with its verdict: the problem found, or None and ok."""
    entry.update(problem=problem, ok=problem is None)
    return entry


def check_limits(stack: SimulatedGateway, reliability: ReliabilitySettings, chains: list[ChainCheck],
                 say: Callable[[str], None], *, rate_limits: bool = True) -> list[dict[str, Any]]:
    # The limits as validate reads them from model-mappings.yaml, not from the generated file: a
    # generated file that lost a limit must fail here.
    out: list[dict[str, Any]] = []
    # First the timeout (its requests end before the rate limits wait for fresh counting windows).
    timeout_s = float(reliability.timeout)
    chain = next((c for c in chains if c.expected_link is not None and not c.expected_link.startswith("order ")), None)
    if timeout_s > TIMEOUT_CHECK_MAX_S:
        out.append({"what": "timeout", "seconds": timeout_s, "checked": False,
                    "reason": f"longer than the {TIMEOUT_CHECK_MAX_S:g} s a CI check may wait"})
    elif chain is None:
        out.append({"what": "timeout", "seconds": timeout_s, "checked": False,
                    "reason": "no fallback chain to answer once the primary timed out"})
    else:
        out.append(check_timeout(stack, timeout_s, reliability.num_retries, chain))
    clock_minute = _per_clock_minute(stack.config_file)
    if not rate_limits:
        return out
    checked = [name for name, group in stack.routes.groups.items()
               if group.rpm is not None and group.rpm <= RPM_CHECK_MAX]
    if checked and not clock_minute:
        # The earlier checks' requests opened windows; each counter expires 60 s after it was set.
        quiet_s = stack.last_request + 61 - time.monotonic()
        if quiet_s > 0:
            say(f"      rate limits: waiting {quiet_s:.0f} s for LiteLLM's one-minute counters to expire")
            time.sleep(quiet_s)
    for name, group in stack.routes.groups.items():
        if name in checked and group.rpm is not None:
            out.append(check_rate_limit(stack, name, group.rpm, say, clock_minute=clock_minute))
        elif group.rpm is not None:
            out.append({"what": "rate_limit", "name": name, "rpm": group.rpm, "checked": False,
                        "reason": f"more than the {RPM_CHECK_MAX} requests a minute a CI check sends"})
        if group.tpm:
            out.append({"what": "token_limit", "name": name, "tpm": group.tpm, "checked": False,
                        "reason": "a per-minute token limit cannot be reached with short answers in seconds"})
    return out


def check_timeout(stack: SimulatedGateway, timeout_s: float, retries: int, chain: ChainCheck) -> dict[str, Any]:
    """The chain's primary answers only after ``timeout_s`` + 5 s: LiteLLM must give up on it after
    the timeout (each retry too) and answer from the chain's next link."""
    slow = [stack.simulators[p] for p in chain.failed if p in stack.simulators]
    previous = [sim.control()["config"]["ttft_ms"] for sim in slow]
    for sim in slow:
        sim.control(ttft_ms=(timeout_s + 5) * 1000)
    started = time.monotonic()
    try:
        status, headers, error = _ask_with_headers(stack, chain.source)
    finally:
        for sim, ttft_ms in zip(slow, previous, strict=True):
            sim.control(ttft_ms=ttft_ms)
    took = time.monotonic() - started
    group = headers.get(MODEL_GROUP_HEADER)
    entry: dict[str, Any] = {"what": "timeout", "seconds": timeout_s, "checked": True, "name": chain.source,
                             "slow": chain.failed, "expected": chain.expected_link, "status": status,
                             "seen": group, "took_s": round(took, 1)}
    # Every attempt on every link served by the slow backend times out (with LiteLLM's back-off of up
    # to a few seconds between retries), then the expected link answers.
    slow_links = 1 + (chain.chain.index(chain.expected_link) if chain.expected_link in chain.chain else 0)
    latest = slow_links * (timeout_s * (retries + 1) + 5 * retries) + 10
    problem = None
    if status != 200:
        problem = f"HTTP {status}: {error}"
    elif group == chain.source:
        problem = (f"answered by {chain.source} itself after {took:.1f} s: the {timeout_s:g} s timeout "
                   "was not applied")
    elif took < timeout_s * 0.9:
        problem = f"answered after {took:.1f} s, before the {timeout_s:g} s timeout could have passed"
    elif took > latest:
        problem = f"answered after {took:.1f} s, later than {latest:g} s"
    return _judged(entry, problem)


def check_routes(config_dir: Path, say: Callable[[str], None], *,
                 edit_generated: Callable[[Path], None] | None = None, rate_limits: bool = True) -> RoutesReport:
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
        report.limits = check_limits(stack, sources.gateway.reliability, report.chains, say, rate_limits=rate_limits)
    for limit in report.limits:
        if not limit["checked"]:
            say(f"      not checked: {limit['what']} {limit.get('name', '')} ({limit['reason']})")
        elif limit["what"] == "timeout":
            say(f"      {'ok  ' if limit['ok'] else 'FAIL'} timeout {limit['seconds']:g} s: {limit['name']} with "
                f"{', '.join(limit['slow'])} slow, answered by {limit['seen']} after {limit['took_s']} s"
                + (f" - {limit['problem']}" if limit["problem"] else ""))
        else:
            verdict = "ok  " if limit["ok"] else "FAIL"
            refused = limit["refused"]
            then = (f"then HTTP {refused['status']} from {refused['seen']}" if refused else "none refused")
            say(f"      {verdict} rate limit {limit['name']}: rpm {limit['rpm']}, {limit['admitted']} admitted in a row, "
                f"{then}" + (f" - {limit['problem']}" if limit["problem"] else ""))
    return report


def elapsed(since: float) -> str:
    return f"{time.monotonic() - since:.1f} s"
