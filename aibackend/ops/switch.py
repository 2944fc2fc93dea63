"""``aibackend switch NAME``: make NAME the active member of its exclusive group (the single-GPU
model switch), without a broken gateway in between.

    1 plan      which engine stops and which starts; refused at once when NAME is in no group, an
                engine cannot be controlled, the edited registry would not validate, or a running
                gateway's key is not in the environment
    2 engines   sequential (the default, one GPU): stop the old engine, then start the new one and
                wait for its health endpoint; --overlap (room for both): start the new one first
                and stop the old one last, after the gateway has moved
    3 gateway   providers.yaml edited surgically (backed up), the gateway config regenerated and
                a running gateway reloaded blue/green (``aibackend.gateway.reload``)
    4 check     through the gateway, a request for each of the new provider's model names must
                be answered by the new provider
    5 rollback  on any failure, or SIGINT/SIGTERM/SIGHUP: what was done is undone — the new
                engine stopped, the old one started again, then providers.yaml and the generated
                config back and the gateway reloaded onto them (its gates need the old engine) —
                and exit 1 says what failed

Every step is printed with its wall-clock time and the seconds since the start. While it runs,
``.run/switch.json`` says what it is doing; a switch killed by SIGKILL leaves it behind, and the
next switch names what was interrupted (every step is safe to run again: an engine that already
answers is not started twice, one that is gone is not stopped).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import httpx

from aibackend.ops import registry
from aibackend.ops.engines import Engine, Launch, engine_for, without_control
from aibackend.ops.interrupts import signals_handled
from generator import source_edit, store
from generator.atomicfile import write_atomic
from generator.diagnostics import errors_of
from generator.errors import AibackendError, ConfigInvalid
from generator.load import Sources, load_sources, suggest
from generator.net import port_is_open
from generator.providers import REGISTRY

__all__ = ["SwitchError", "SwitchOptions", "SwitchOutcome", "SwitchPlan", "execute", "interrupted_switch", "plan_switch"]



class SwitchError(AibackendError):
    """A switch refused before it changed anything, or failed and was rolled back."""


class _Interrupted(BaseException):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass(frozen=True)
class SwitchOptions:
    sequential: bool = True
    health_timeout: float = 300.0
    stop_timeout: float = 60.0
    check_timeout: float = 120.0
    layers: tuple[str, ...] = registry.EDIT_LAYERS


@dataclass(frozen=True)
class GatewayAccess:
    url: str
    key: str


@dataclass(frozen=True)
class SwitchPlan:
    config_dir: Path
    group: str
    new: Engine
    olds: tuple[Engine, ...]  # the group's active members now (one in a valid registry)
    leftovers: tuple[Engine, ...]  # its disabled members, stopped too: an engine left running holds the device
    shared: frozenset[str]  # members whose address another member uses too (what answers there may not be theirs)
    proposal: registry.Proposal
    gateway: GatewayAccess | None  # None: no gateway runs; files are regenerated only
    options: SwitchOptions
    check_names: tuple[str, ...]  # model groups the new provider alone serves

    def describe(self) -> str:
        stops = ", ".join(f"{e.name} ({e.provider.base_url}, {e.describe()})" for e in self.olds) or "nothing"
        if self.leftovers:
            stops += f"; make sure {', '.join(e.name for e in self.leftovers)} (disabled) is stopped"
        mode = (
            "sequential: the old engine stops before the new one starts (one GPU)"
            if self.options.sequential
            else "overlap: the new engine starts before the old one stops (room for both)"
        )
        return (
            f"group {self.group}: stop {stops}; start {self.new.name} ({self.new.provider.base_url}, "
            f"{self.new.describe()}); {mode}"
        )


# --- 1. plan -------------------------------------------------------------------------------------------


def plan_switch(config_dir: Path, name: str, options: SwitchOptions) -> SwitchPlan:
    from aibackend.gateway.process import master_key_from_env

    loaded = load_sources(config_dir)  # layers 1-2: enough to plan; the edit is validated in full below
    if loaded.sources is None or errors_of(loaded.diagnostics):
        raise ConfigInvalid(loaded.diagnostics)
    sources = loaded.sources
    providers = sources.providers.providers
    if name not in providers:
        close = suggest(name, providers)
        raise SwitchError(
            f"unknown provider `{name}` in {sources.files['providers']}" + (f", did you mean `{close}`?" if close else ""),
            hint=f"providers: {', '.join(providers)}",
        )
    target = providers[name]
    group = target.exclusive_group
    if group is None:
        line = sources.line("providers", ("providers", name))
        raise SwitchError(
            f"{sources.files['providers']}:{line}: provider `{name}` is in no exclusive_group, so there is "
            "nothing to switch it against",
            hint=f"declare the engines that share a device, e.g. `exclusive_group: gpu0` on {name} and on the "
            "others; to just turn a provider on, use `aibackend providers enable`",
        )
    if target.status == "template":
        raise SwitchError(
            f"provider `{name}` is a template (an example, not a deployed engine)",
            hint=f"make it a real member first: `aibackend providers disable {name}`, then switch",
        )
    new = _engine(name, sources)
    members = {m: p for m, p in providers.items() if p.exclusive_group == group and p.status != "template"}
    shared = frozenset(m for m, p in members.items()
                       if any(o != m and q.base_url == p.base_url for o, q in members.items()))
    olds: list[Engine] = []
    # The disabled members are stopped too (their stop must be harmless when nothing runs): one
    # left running, by hand or by a switch that was killed, holds the device as much as the active one.
    leftovers: list[Engine] = []
    with httpx.Client() as client:
        for member, provider in members.items():
            if member == name:
                continue
            engine = engine_for(member, sources)
            if provider.is_active:
                if engine is None:
                    raise SwitchError(without_control(member, sources),
                                      hint="docs/operator.md (`aibackend switch`) shows both ways")
                if not engine.can_stop() and _present(engine, client):
                    raise SwitchError(
                        f"cannot stop {member}: it has no stop_command, and aibackend did not start the engine "
                        "that runs now",
                        hint=f"add providers.{member}.stop_command, or stop it by hand and run the switch again",
                    )
                olds.append(engine)
            elif engine is not None and engine.can_stop():
                leftovers.append(engine)
    old_engines = tuple(olds)
    if not options.sequential:
        for old in old_engines:
            if old.local and new.local and old.address[1] == new.address[1]:
                raise SwitchError(
                    f"{name} and {old.name} use the same port {new.address[1]}: they cannot run side by side",
                    hint="drop --overlap (the default, --sequential, stops the old engine first)",
                )

    def change(text: str, file: str) -> str:
        if not target.is_active:  # an absent status already means active: add no line for it
            text = source_edit.set_field(text, name, "status", "active", file=file)
        for old in old_engines:
            text = source_edit.set_field(text, old.name, "status", "disabled", file=file)
        return text

    proposal = registry.propose(config_dir, change, layers=options.layers)
    gateway: GatewayAccess | None = None
    if registry.gateway_running(config_dir):
        # The reload and the check need the running gateway's key (a refusal here changes nothing).
        key = master_key_from_env(sources.gateway.server.master_key_env)
        gateway = GatewayAccess(_gateway_url(config_dir), key)
    routes = proposal.build.routes
    assert routes is not None
    check = tuple(
        group_name for group_name, g in routes.groups.items()
        if g.kind in ("model", "alias", "pattern") and g.deployments and all(d.provider == name for d in g.deployments)
    )
    return SwitchPlan(Path(config_dir), group, new, old_engines, tuple(leftovers), shared, proposal, gateway,
                      options, check)


def _engine(name: str, sources: Sources) -> Engine:
    engine = engine_for(name, sources)
    if engine is None:
        raise SwitchError(without_control(name, sources),
                          hint="docs/operator.md (`aibackend switch`) shows both ways")
    return engine


def _gateway_url(config_dir: Path) -> str:
    from aibackend.gateway.control import status
    from aibackend.gateway.runtime import RuntimeDir

    state = status(RuntimeDir(config_dir)).state
    assert state is not None
    host = "127.0.0.1" if state.host in ("0.0.0.0", "", "::") else state.host
    return f"http://{host}:{state.port}"


# --- printing ------------------------------------------------------------------------------------------


@dataclass
class _Clock:
    out: TextIO
    started: float = field(default_factory=time.monotonic)

    def say(self, step: str, text: str) -> None:
        now = datetime.now().strftime("%H:%M:%S.%f")[:-3]
        print(f"{now} (+{time.monotonic() - self.started:6.1f} s) {step:<10} {text}", file=self.out, flush=True)


# --- undo ----------------------------------------------------------------------------------------------


@dataclass
class _Undo:
    """What was done, to be undone: engines in reverse order, then files and the gateway.

    The gateway goes back last because its reload gates send a request to every provider type
    of the restored config: the old engine must answer again by then.
    """

    clock: _Clock
    engines: list[tuple[str, Callable[[], None]]] = field(default_factory=list)
    files: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def push(self, what: str, action: Callable[[], None], *, files: bool = False) -> None:
        (self.files if files else self.engines).append((what, action))

    def run(self) -> list[str]:
        """Undo everything; every action is tried. Returns what could not be undone."""
        failures: list[str] = []
        for what, action in [*reversed(self.engines), *reversed(self.files)]:
            self.clock.say("5 rollback", what)
            try:
                action()
            except Exception as exc:
                failures.append(f"{what}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
                self.clock.say("5 rollback", f"FAILED: {exc}")
        self.engines.clear()
        self.files.clear()
        return failures


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP interrupt the switch (then it rolls back), whatever dispositions
    this process inherited (a shell may have left SIGINT ignored)."""
    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise _Interrupted(signal.Signals(signum).name)

    with signals_handled(interrupt):
        yield


@contextlib.contextmanager
def _signals_deferred(clock: _Clock) -> Iterator[None]:
    """During the rollback a signal is noted, not obeyed: a half-undone switch is the worst state."""
    def note(signum: int, _frame: FrameType | None) -> None:
        clock.say("5 rollback", f"{signal.Signals(signum).name} received: finishing the rollback first")

    with signals_handled(note):
        yield


# --- the journal ------------------------------------------------------------------------------------------


def _journal_path(config_dir: Path) -> Path:
    return Path(config_dir) / ".run" / "switch.json"


def interrupted_switch(config_dir: Path) -> str | None:
    """What a switch killed earlier left behind (its journal), or None."""
    path = _journal_path(config_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return f"{path} is unreadable (an interrupted switch?)"
    pid = int(data.get("pid", 0))
    with contextlib.suppress(ProcessLookupError, PermissionError, OverflowError):
        if pid > 0:
            os.kill(pid, 0)
            return None  # that switch is still running (the lock says so too)
    backup = data.get("providers_backup")
    return (
        f"a switch to {data.get('new')} (from {', '.join(data.get('olds', [])) or 'nothing'}) started at "
        f"{data.get('started')} was killed during step '{data.get('phase')}'"
        + (f"; providers.yaml before it is backup {backup}" if backup else "")
    )


def _journal(plan: SwitchPlan, **changes: Any) -> None:
    path = _journal_path(plan.config_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {
            "pid": os.getpid(), "started": datetime.now().isoformat(timespec="seconds"), "group": plan.group,
            "new": plan.new.name, "olds": [e.name for e in plan.olds],
            "mode": "sequential" if plan.options.sequential else "overlap",
        }
    data.update(changes)
    write_atomic(path, json.dumps(data, indent=2) + "\n")


# --- 2-5. execute --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SwitchOutcome:
    seconds: float
    changed: bool
    message: str


def execute(plan: SwitchPlan, out: TextIO | None = None, *, started: float | None = None) -> SwitchOutcome:
    """Steps 2-5. ``started``: the monotonic time the command began, so the printed times include
    planning (validating the edited registry through every layer takes seconds)."""
    clock = _Clock(out or sys.stdout) if started is None else _Clock(out or sys.stdout, started)
    clock.say("1 plan", plan.describe())
    clock.say("1 plan", f"the edited registry validates ({', '.join(plan.proposal.build.layers_run)})")
    for warning in plan.proposal.warnings:
        clock.say("1 plan", f"note: {warning.format().splitlines()[0]}")
    if plan.gateway is None:
        clock.say("1 plan", "no gateway is running: the files are regenerated, nothing is reloaded or checked")
    previous = interrupted_switch(plan.config_dir)
    if previous:
        clock.say("1 plan", f"note: {previous}")
    _journal_path(plan.config_dir).unlink(missing_ok=True)  # this switch's journal starts afresh
    undo = _Undo(clock)
    with httpx.Client() as client:  # open until the rollback is done: it probes engines too
        _run_steps(plan, clock, undo, client)
    seconds = time.monotonic() - clock.started
    message = f"{plan.new.name} is the active member of {plan.group}"
    clock.say("done", f"{message} ({seconds:.1f} s)")
    return SwitchOutcome(seconds, plan.proposal.changed, message)


def _run_steps(plan: SwitchPlan, clock: _Clock, undo: _Undo, client: httpx.Client) -> None:
    step = "1 plan"
    _journal(plan, phase=step)
    try:
        with _signals_raise():
            step = "2 engines"
            _journal(plan, phase=step)
            for leftover in plan.leftovers:
                _stop_old(plan, leftover, client, clock, undo)
            if plan.options.sequential:
                for old in plan.olds:
                    _stop_old(plan, old, client, clock, undo)
            _start_new(plan, client, clock, undo)
            step = "3 gateway"
            _journal(plan, phase=step)
            _files_and_gateway(plan, clock, undo)
            step = "4 check"
            _journal(plan, phase=step)
            _check(plan, clock)
            if not plan.options.sequential:
                step = "2 engines"
                _journal(plan, phase="stopping old engines (overlap)")
                for old in plan.olds:
                    _stop_old(plan, old, client, clock, undo)
    except (Exception, _Interrupted) as exc:  # any failure, a bug included, is rolled back first
        detail = f"interrupted by {exc.name}" if isinstance(exc, _Interrupted) else str(exc)
        reason = detail.splitlines()[0] if detail else type(exc).__name__
        clock.say(step, f"FAILED: {detail}")
        with _signals_deferred(clock):
            failures = undo.run()
        _journal_path(plan.config_dir).unlink(missing_ok=True)
        if not isinstance(exc, (AibackendError, _Interrupted, OSError, httpx.HTTPError)):
            raise  # a bug: rolled back above, and the CLI writes its traceback to a crash log (exit 3)
        if failures:
            raise SwitchError(
                f"switch to {plan.new.name} failed at step '{step}': {reason}; ROLLBACK INCOMPLETE: "
                + "; ".join(failures),
                hint="see the lines above; `aibackend providers list --health` shows where each engine stands",
            ) from exc
        raise SwitchError(
            f"switch to {plan.new.name} failed at step '{step}': {reason}; rolled back: "
            + ("everything is as it was" if plan.olds or plan.proposal.changed else "nothing had changed"),
            hint=_hint_for(exc),
        ) from exc
    _journal_path(plan.config_dir).unlink(missing_ok=True)


def _hint_for(exc: BaseException) -> str | None:
    if isinstance(exc, AibackendError):
        return exc.hint
    return None


def _present(engine: Engine, client: httpx.Client) -> bool:
    """Whether there is anything of the engine to stop."""
    if engine.how == "systemd" or engine.answering(client):
        return True
    if engine.local and port_is_open(*engine.address):
        return True  # listening but not healthy yet (loading a model): it holds the device all the same
    return engine.started_by_us()


def _stop_old(plan: SwitchPlan, old: Engine, client: httpx.Client, clock: _Clock, undo: _Undo) -> None:
    shared = old.name in plan.shared
    active = old in plan.olds
    if not old.can_stop():
        clock.say("2 engines", f"{old.name} is not running: nothing to stop")
        return
    # Only an engine that was serving is brought back by a rollback (on a shared address, what
    # answers may be the other member: then only the active one counts).
    if (active or not shared) and old.answering(client):
        undo.push(f"start {old.name} again", lambda: _bring_back(plan, old, client, clock))
    clock.say("2 engines", f"stopping {old.name} ({old.describe()})")
    # On an address another member shares, a disabled member's stop cannot be seen from outside.
    old.stop(plan.options.stop_timeout, client, verify=active or not shared)
    clock.say("2 engines", f"{old.name} stopped")


def _bring_back(plan: SwitchPlan, engine: Engine, client: httpx.Client, clock: _Clock) -> None:
    _start_and_wait(plan, engine, client, clock)
    if plan.gateway is not None and plan.options.sequential:
        assert plan.proposal.build.sources is not None
        cooldown = plan.proposal.build.sources.gateway.reliability.cooldown_time
        clock.say("5 rollback", f"note: requests to {engine.name} failed while it was stopped, so the gateway may "
                  f"keep it cooled down for up to {cooldown:g} s (reliability.cooldown_time); its names are "
                  "answered by their fallback chains meanwhile")


def _start_and_wait(plan: SwitchPlan, engine: Engine, client: httpx.Client, clock: _Clock) -> None:
    if engine.answering(client):
        clock.say("5 rollback", f"{engine.name} already answers")
        return
    launch = engine.start()
    result = engine.wait_healthy(launch, plan.options.health_timeout, client)
    clock.say("5 rollback", f"{engine.name} answers {engine.target.url} ({result.detail})")


def _start_new(plan: SwitchPlan, client: httpx.Client, clock: _Clock, undo: _Undo) -> None:
    new = plan.new
    if new.answering(client):
        clock.say("2 engines", f"{new.name} already answers {new.target.url}: not started again")
        return
    clock.say("2 engines", f"starting {new.name} ({new.describe()}); waiting up to {plan.options.health_timeout:g} s "
              f"for {new.target.url}")
    undo.push(f"stop {new.name}", lambda: new.stop(plan.options.stop_timeout, client))
    launch: Launch = new.start()
    result = new.wait_healthy(launch, plan.options.health_timeout, client)
    clock.say("2 engines", f"{new.name} answers ({result.detail}, {result.latency_ms or 0:.0f} ms)")


def _files_and_gateway(plan: SwitchPlan, clock: _Clock, undo: _Undo) -> None:
    proposal = plan.proposal
    config_file = store.output_path(plan.config_dir)
    before: bytes | None = config_file.read_bytes() if config_file.exists() else None
    # "not started", "started" (cut short: by a signal), "done", "rolled back" (by itself, gated)
    reload = "not started"

    def put_back() -> None:
        registry.restore(proposal)
        if reload in ("started", "done") and registry.gateway_running(plan.config_dir):
            # Regenerated from the restored sources, and the gateway moved onto them; a reload cut
            # short is first finished or undone by its own journal (``recover``).
            applied = registry.apply(plan.config_dir, config_text=None, keep=proposal.keep)
            clock.say("5 rollback", f"providers.yaml restored; {applied.message}")
        elif plan.gateway is not None:
            clock.say("5 rollback", "providers.yaml restored" + (
                " (the reload had rolled itself back)" if reload == "rolled back" else ""))
        elif before is not None:
            store.install(config_file, before.decode("utf-8"), keep=proposal.keep)
            clock.say("5 rollback", f"providers.yaml and {config_file.name} restored")
        else:
            config_file.unlink(missing_ok=True)
            clock.say("5 rollback", f"providers.yaml restored; {config_file.name} removed (it did not exist)")

    if not proposal.changed:
        clock.say("3 gateway", f"{proposal.display} already says {plan.new.name} is the active member")
        return
    undo.push("providers.yaml and the gateway config back", put_back, files=True)
    backup = registry.write(proposal)
    _journal(plan, providers_backup=backup.name if backup else None)
    clock.say("3 gateway", f"wrote {proposal.display}" + (f" (previous: backups/{backup.name})" if backup else ""))
    assert proposal.build.text is not None
    if plan.gateway is None:
        generated = store.install(config_file, proposal.build.text, keep=proposal.keep)
        clock.say("3 gateway", f"wrote {config_file}" + (f" (previous: backups/{generated.name})" if generated else ""))
        return
    clock.say("3 gateway", "reloading the gateway (blue/green behind its front)")
    reload = "started"
    try:
        applied = registry.apply(plan.config_dir, config_text=proposal.build.text, keep=proposal.keep)
    except AibackendError:
        reload = "rolled back"  # reload's own rule: the old config and the old gateway kept
        raise
    reload = "done"
    clock.say("3 gateway", applied.message)


def _check(plan: SwitchPlan, clock: _Clock) -> None:
    if plan.gateway is None:
        clock.say("4 check", "skipped: no gateway is running")
        return
    if not plan.check_names:
        clock.say("4 check", f"skipped: no model name is served by {plan.new.name} alone")
        return
    expected = REGISTRY[plan.new.provider.type].api_base(plan.new.provider).rstrip("/")
    headers = {"Authorization": f"Bearer {plan.gateway.key}"}
    deadline = time.monotonic() + plan.options.check_timeout
    with httpx.Client(base_url=plan.gateway.url, headers=headers) as client:
        for name in plan.check_names:
            last = ""
            while True:
                started = time.monotonic()
                try:
                    response = client.post("/v1/chat/completions", timeout=max(5.0, deadline - started), json={
                        "model": name, "max_tokens": 4,
                        "messages": [{"role": "user", "content": "aibackend switch check"}],
                    })
                    answered_by = response.headers.get("x-litellm-model-api-base", "").rstrip("/")
                    if response.status_code == 200 and answered_by == expected:
                        clock.say("4 check", f"{name}: 200 from {answered_by} in "
                                  f"{(time.monotonic() - started) * 1000:.0f} ms")
                        break
                    last = (f"HTTP {response.status_code} answered by {answered_by or 'unknown'}: "
                            f"{response.text[:200]}")
                except httpx.HTTPError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                if time.monotonic() + 1.0 > deadline:
                    raise SwitchError(
                        f"the gateway did not serve {name} from {plan.new.name} ({expected}) within "
                        f"{plan.options.check_timeout:g} s; last: {last}"
                    )
                time.sleep(1.0)

