"""The whole pipeline on simulators: what ``aibackend demo`` runs.

1. validate the operator's config directory (read only: it is never written);
2. copy it to a temporary directory, start a simulator for every active provider on a free port and
   rewrite the copy's URLs to them (gateway on a free port; Redis when ``redis-server`` exists);
3. generate the gateway config in the copy and start the real LiteLLM gateway on it (in the
   background, while step 4 checks the simulators);
4. run the contract suite against every simulator, then against the gateway;
5. a 20-second load test through the gateway, one Locust run per model group, all at once;
6. a summary table per model group, and the reports' paths.

Everything started is stopped at the end, on failure and on Ctrl-C/SIGTERM (``Stack.close``):
simulators and the gateway run in their own process groups, which are killed as groups. The demo
owns what it starts (``generator.lifeline``): if the demo itself is killed (SIGKILL, the OOM
killer), its warden stops all of it within seconds; and the next demo stops whatever an earlier,
killed demo (and its warden) left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aibackend.ops.interrupts import terminate_as_interrupt
from generator.errors import AibackendError, ConfigInvalid
from generator.load import Sources
from generator.net import free_port

__all__ = ["DemoOptions", "GroupFigures", "Stack", "run_demo"]

# Stand-in latencies per provider type (ms): different enough to tell the backends apart in the table.
SIM_LATENCY: dict[str, dict[str, float | int]] = {
    "vllm": {"ttft_ms": 30, "tpot_ms": 8},
    "ollama": {"ttft_ms": 60, "tpot_ms": 15},
    "llama_cpp": {"ttft_ms": 80, "tpot_ms": 20},
    "llama_cpp_python": {"ttft_ms": 100, "tpot_ms": 25},
    "openai": {"ttft_ms": 150, "tpot_ms": 10},
}
LOAD_GROUP_KINDS = ("alias", "capability")  # the names clients ask for
MAX_LOAD_GROUPS = 6


@dataclass
class DemoOptions:
    config_dir: Path
    duration: float = 20.0
    users: int = 2
    keep_running: bool = False
    workdir: Path | None = None  # default: a new temporary directory
    store: Path | None = None  # the results store its load tests are recorded in (None: not recorded)
    say: Callable[[str], None] = print


@dataclass
class GroupFigures:
    group: str
    report: Path
    completed: int = 0
    failed: int = 0
    ttft_p50: float | None = None
    ttft_p99: float | None = None
    tpot_p50: float | None = None
    tokens_per_s: float | None = None
    errors: dict[str, int] = field(default_factory=dict)
    problem: str | None = None

    @classmethod
    def from_report(cls, group: str, path: Path, data: dict[str, Any]) -> GroupFigures:
        return cls(group, path, int(data["completed"]), int(data["failed"]), data.get("median_ttft_ms"),
                   data.get("p99_ttft_ms"), data.get("median_tpot_ms"), data.get("output_throughput"),
                   {k: int(v) for k, v in (data.get("errors") or {}).items() if v})


@dataclass
class Stack:
    """What the demo started, so that ``close`` can stop all of it, whatever happened."""

    workdir: Path
    config_dir: Path
    simulators: list[Any] = field(default_factory=list)  # contracts.simulators.RunningSimulator
    redis: subprocess.Popen[bytes] | None = None
    gateway_started: bool = False
    gateway_url: str | None = None
    key: str = ""
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def close(self, say: Callable[[str], None]) -> None:
        for child in self.children:
            _kill_group(child)
        if self.gateway_started or (self.config_dir / ".run" / "gateway.json").exists():
            from aibackend.gateway import control as gateway
            from aibackend.gateway.runtime import RuntimeDir

            with contextlib.suppress(AibackendError, OSError):
                gateway.stop(RuntimeDir(self.config_dir))
            say("stopped the gateway")
        for sim in self.simulators:
            with contextlib.suppress(Exception):
                sim.stop()
        if self.simulators:
            say(f"stopped {len(self.simulators)} simulator(s)")
        if self.redis is not None:
            _kill_group(self.redis)
            say("stopped redis-server")
        # A gateway interrupted while booting has no state file yet: find it (and anything else started
        # on this demo's files) by the working directory in its command line.
        stray = _processes_mentioning(str(self.workdir))
        if stray:
            _kill_pids(stray)
            say(f"stopped {len(stray)} more process(es) started on {self.workdir}")


def _processes_mentioning(text: str) -> list[int]:
    found = []
    own_group = os.getpgid(0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            if text in cmdline and os.getpgid(int(entry.name)) != own_group:
                found.append(int(entry.name))
        except (OSError, ProcessLookupError):
            continue
    return found


def _kill_pids(pids: list[int]) -> None:
    groups = set()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            groups.add(os.getpgid(pid))
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for group in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, sig)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.1)
        if not any(_alive(pid) for pid in pids):
            return


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


class Steps:
    """Numbered progress lines with the time each step took."""

    def __init__(self, total: int, say: Callable[[str], None]) -> None:
        self.total, self.say, self.number = total, say, 0
        self.started = time.monotonic()

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.number += 1
        self.say(f"[{self.number}/{self.total}] {title} ...")
        began = time.monotonic()
        yield
        self.say(f"      done in {time.monotonic() - began:.1f} s")

    def elapsed(self) -> float:
        return time.monotonic() - self.started


# --- steps -------------------------------------------------------------------------------------


def validate(config_dir: Path) -> Sources:
    from generator.pipeline import build

    result = build(config_dir, render=False)
    if not result.ok or result.sources is None:
        raise ConfigInvalid(result.diagnostics)
    return result.sources


def start_simulators(sources: Sources, stack: Stack, say: Callable[[str], None]) -> dict[str, str]:
    """One simulator per active provider (all started at once); provider name -> its new base URL."""
    from concurrent.futures import ThreadPoolExecutor

    from contracts.simulators import PROVIDER_TYPES, SimulatorConfig, start_simulator

    wanted: dict[str, SimulatorConfig] = {}
    for name, provider in sources.providers.providers.items():
        if not provider.is_active:
            continue
        if provider.type not in PROVIDER_TYPES:
            say(f"      skipped: {name} ({provider.type}): no simulator for this provider type")
            continue
        models = provider.model_names()[:1] if provider.type == "llama_cpp" else provider.model_names()
        wanted[name] = SimulatorConfig(type=provider.type, models=models, output_tokens=32, slots=16,
                                       **SIM_LATENCY.get(provider.type, {}))  # type: ignore[arg-type]
    with ThreadPoolExecutor(max_workers=max(1, len(wanted))) as pool:
        futures = {name: pool.submit(start_simulator, config) for name, config in wanted.items()}
        urls: dict[str, str] = {}
        for name, future in futures.items():
            sim = future.result()
            stack.simulators.append(sim)
            provider = sources.providers.providers[name]
            path = provider.base_url.split("://", 1)[1].partition("/")[2]
            urls[name] = sim.url + (f"/{path}" if path else "")
            say(f"      {name:<20} {provider.type:<17} {provider.base_url} -> {urls[name]}")
    return urls


def start_redis(stack: Stack) -> int | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    port = free_port()
    directory = stack.workdir / "redis"
    directory.mkdir(exist_ok=True)
    stack.redis = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory), "--save", "",
         "--appendonly", "no", "--daemonize", "no", "--logfile", str(directory / "redis.log"),
         # Its default process title overwrites its environment, and with it the owner's token.
         "--set-proc-title", "no"],
        stdin=subprocess.DEVNULL, start_new_session=True)
    from generator.net import port_is_open

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if port_is_open("127.0.0.1", port):
            return port
        time.sleep(0.05)
    raise AibackendError(f"redis-server did not listen on port {port} within 10 s (log: {directory / 'redis.log'})")


def rewrite_copy(sources: Sources, target_dir: Path, urls: dict[str, str], *, gateway_port: int,
                 redis_port: int | None) -> None:
    """The temporary copy: provider URLs -> simulators, gateway on a free port, Redis or no cache."""
    from generator.models import CacheSettings
    from generator.source_text import gateway_yaml, providers_yaml

    target_dir.mkdir(parents=True, exist_ok=True)
    providers = sources.providers.model_copy(update={"providers": {
        name: provider.model_copy(update={"base_url": urls[name]}) if name in urls else provider
        for name, provider in sources.providers.providers.items()
    }})
    (target_dir / "providers.yaml").write_text(providers_yaml(providers), encoding="utf-8")
    shutil.copyfile(sources.config_dir / "model-mappings.yaml", target_dir / "model-mappings.yaml")
    gateway = sources.gateway
    server = gateway.server.model_copy(update={"host": "127.0.0.1", "port": gateway_port, "workers": 1,
                                               "replicas": 1})
    cache = (CacheSettings(enabled=False) if redis_port is None else gateway.cache.model_copy(update={
        "enabled": True, "type": "redis", "host": "127.0.0.1", "port": redis_port, "password_env": None}))
    gateway = gateway.model_copy(update={"server": server, "cache": cache})
    (target_dir / "gateway.yaml").write_text(gateway_yaml(gateway), encoding="utf-8")


def generate(config_dir: Path) -> tuple[Sources, Any]:
    from generator import store
    from generator.pipeline import build
    from generator.store import output_path

    result = build(config_dir, commit="demo")
    if not result.ok or result.text is None or result.sources is None:
        raise ConfigInvalid(result.diagnostics)
    store.install(output_path(config_dir), result.text)
    return result.sources, result.routes


def start_gateway(stack: Stack, sources: Sources) -> None:
    from aibackend.gateway import control as gateway
    from aibackend.gateway.runtime import RuntimeDir
    from aibackend.gateway.settings import plan_for
    from generator.store import output_path

    run_dir = RuntimeDir(stack.config_dir)
    with run_dir.lock():
        stack.gateway_started = True
        gateway.start(run_dir, plan_for(stack.config_dir), config_file=output_path(stack.config_dir), front="none")
    server = sources.gateway.server
    stack.gateway_url = f"http://127.0.0.1:{server.port}"


def contract_check(
    targets: Sequence[tuple[str, str, str, str | None]], say: Callable[[str], None], *, model: str | None = None
) -> int:
    """(label, type, url, key) per target; prints one line each; returns the number of failing targets."""
    from contracts.suite import Target, run_suite

    failing = 0
    for label, kind, url, key in targets:
        try:
            report = run_suite(Target(kind, url, model=model, api_key=key, name=label))
        except AibackendError as exc:
            say(f"      {label:<28} ERROR: {exc.message}")
            failing += 1
            continue
        checks = len(report.outcomes)
        if report.ok:
            say(f"      {label:<28} compliant ({checks} checks, model {report.model})")
        else:
            failing += 1
            rules = ", ".join(sorted(report.violated_rules))
            say(f"      {label:<28} {len(report.violations)} violation(s): {rules}")
            for violation in report.violations[:5]:
                say(f"          {violation}")
    return failing


def load_groups(routes: Any) -> list[str]:
    groups = [name for name, group in routes.groups.items() if group.kind in LOAD_GROUP_KINDS]
    if not groups:
        groups = list(routes.groups)
    return groups[:MAX_LOAD_GROUPS]


# A group with an rpm limit is loaded at this share of it. Loaded beyond it, LiteLLM (pre-call
# checks) finds the deployment rate-limited, retries it twice with back-off and then falls back:
# requests of ~5 s TTFT, all of it the gateway's (docs/reading-a-load-test-report.md).
RPM_SHARE = 0.8


def rpm_limits(config_path: Path, groups: list[str]) -> dict[str, int]:
    """Each group's requests per minute as the generated config tells LiteLLM to enforce them (the
    sum over its deployments; a group with an unlimited deployment is left out)."""
    import yaml

    entries = (yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}).get("model_list") or []
    limits: dict[str, int] = {}
    for group in groups:
        rpms = [(e.get("litellm_params") or {}).get("rpm") for e in entries if e.get("model_name") == group]
        counts = [r for r in rpms if isinstance(r, int)]
        if rpms and len(counts) == len(rpms):
            limits[group] = sum(counts)
    return limits


def load_test(stack: Stack, groups: list[str], options: DemoOptions) -> list[GroupFigures]:
    """One ``aibackend loadtest`` per group, all at once, for ``duration`` seconds; a group with an
    rpm limit at RPM_SHARE of it (open loop), so that the figures are the backends', not the limiter's."""
    from aibackend.dashboard.demo import loadtest_flags
    from generator.store import output_path

    assert stack.gateway_url is not None
    limits = rpm_limits(output_path(stack.config_dir), groups)
    reports = stack.workdir / "reports"
    reports.mkdir(exist_ok=True)
    env = {**os.environ, "LITELLM_MASTER_KEY": stack.key, "PYTHONUNBUFFERED": "1"}
    runs: list[tuple[str, Path, subprocess.Popen[bytes], Path]] = []
    for index, group in enumerate(groups, start=1):
        report = reports / f"{index:02d}-{_slug(group)}.json"
        log = report.with_suffix(".out")
        command = [sys.executable, "-m", "aibackend.cli", "loadtest", "--host", stack.gateway_url, "--model", group,
                   "--duration", f"{options.duration:g}", "--users", str(options.users), "--max-tokens", "32",
                   "--prompt-tokens", "16", "--timeout", "30", "--report", str(report),
                   *loadtest_flags(options.store, options.config_dir)]
        if group in limits:
            command += ["--rate", f"{RPM_SHARE * limits[group] / 60:.3g}"]
            options.say(f"      {group}: rpm {limits[group]} configured: loaded at {RPM_SHARE:.0%} of it "
                        f"({RPM_SHARE * limits[group] / 60:.3g} req/s, open loop)")
        with open(log, "wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=env, start_new_session=True)
        stack.children.append(process)
        runs.append((group, report, process, log))
    deadline = time.monotonic() + options.duration + 90
    figures: list[GroupFigures] = []
    for group, report, process, log in runs:
        try:
            process.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill_group(process)
        try:
            data = json.loads(report.read_text(encoding="utf-8"))
            figures.append(GroupFigures.from_report(group, report, data))
        except (OSError, ValueError, KeyError) as exc:
            tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-5:]) if log.exists() else ""
            figures.append(GroupFigures(group, report, problem=f"no report ({type(exc).__name__}); {tail}"))
    return figures


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in name)[:60]


def _cell(value: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def summary_table(figures: list[GroupFigures]) -> str:
    rows = [("MODEL GROUP", "REQUESTS", "TTFT p50 ms", "TTFT p99 ms", "TPOT p50 ms", "TOKENS/S", "ERRORS")]
    for f in figures:
        if f.problem:
            rows.append((f.group, "-", "-", "-", "-", "-", "load test failed"))
            continue
        errors = str(f.failed) + (" (" + ", ".join(f"{k} {v}" for k, v in sorted(f.errors.items())) + ")"
                                  if f.errors else "")
        rows.append((f.group, str(f.completed), _cell(f.ttft_p50), _cell(f.ttft_p99), _cell(f.tpot_p50),
                     _cell(f.tokens_per_s), errors))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) if i in (0, 6) else cell.rjust(widths[i]) for i, cell in enumerate(row)).rstrip()
        for row in rows)


def write_index(stack: Stack, figures: list[GroupFigures]) -> Path:
    """One HTML page linking every group's load-test report, beside them."""
    import html

    reports = stack.workdir / "reports"
    items = "\n".join(
        f'<li><a href="{html.escape(f.report.with_suffix(".html").name)}">{html.escape(f.group)}</a>'
        f" - {f.completed} requests, TTFT p50 {_cell(f.ttft_p50)} ms, {f.failed} errors</li>"
        for f in figures if not f.problem)
    table = html.escape(summary_table(figures))
    page = (f"<!doctype html><meta charset=utf-8><title>aibackend demo</title><h1>aibackend demo: load test "
            f"through the gateway</h1><pre>{table}</pre><ul>{items}</ul>\n")
    index = reports / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


# --- the whole demo ------------------------------------------------------------------------------


def stop_leftovers(workdir: Path, say: Callable[[str], None]) -> None:
    """What an earlier demo left running: its owner died with its warden, or it ran in ``workdir``."""
    from generator import lifeline

    for token, pids in lifeline.orphans("demo").items():
        lifeline.stop_pids(pids)
        say(f"      stopped {len(pids)} process(es) left by an earlier demo that was killed (owner {token})")
    stray = _processes_mentioning(str(workdir))
    if stray:
        _kill_pids(stray)
        say(f"      stopped {len(stray)} process(es) an earlier demo left running on {workdir}")


def run_demo(options: DemoOptions) -> int:
    from generator import lifeline

    say = options.say
    config_dir = Path(options.config_dir)
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="aibackend-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stop_leftovers(workdir, say)
    # Everything started from here on (simulators, Redis, LiteLLM, Locust) dies with this process.
    lifeline.own_children("demo")
    stack = Stack(workdir=workdir, config_dir=workdir / "config", key="sk-demo-" + secrets.token_hex(24))
    steps = Steps(6, say)
    problems: list[str] = []
    # The gateway (and every child) read the key from this process's environment, never from a file.
    previous_key = os.environ.get("LITELLM_MASTER_KEY")
    os.environ["LITELLM_MASTER_KEY"] = stack.key
    gateway_error: list[BaseException] = []
    try:
        with terminate_as_interrupt():
            with steps.step(f"validate {config_dir}/ (read only)"):
                sources = validate(config_dir)
                active = [n for n, p in sources.providers.providers.items() if p.is_active]
                say(f"      valid: {len(active)} active provider(s): {', '.join(active)}")
            with steps.step("start a simulator for every active provider (temporary copy of the config)"):
                urls = start_simulators(sources, stack, say)
                redis_port = start_redis(stack)
                say(f"      redis-server on 127.0.0.1:{redis_port}" if redis_port else
                    "      skipped: Redis (redis-server not installed): gateway cache off")
                gateway_port = free_port()
                rewrite_copy(sources, stack.config_dir, urls, gateway_port=gateway_port, redis_port=redis_port)
                say(f"      config copy: {stack.config_dir}")
            with steps.step("generate the gateway config in the copy and start the real LiteLLM gateway"):
                copy_sources, routes = generate(stack.config_dir)
                say(f"      {len(routes.groups)} model groups; starting LiteLLM on 127.0.0.1:{gateway_port} "
                    "(in the background)")

                def boot() -> None:
                    try:
                        start_gateway(stack, copy_sources)
                    except BaseException as exc:  # reported by the main thread
                        gateway_error.append(exc)

                boot_started = time.monotonic()
                booting = threading.Thread(target=boot, name="gateway-start", daemon=True)
                booting.start()
            with steps.step("contract suite against every simulator, then the gateway"):
                sim_targets = [(name, sources.providers.providers[name].type, url, None) for name, url in urls.items()]
                failing = contract_check(sim_targets, say)
                say("      waiting for the gateway to be ready ...")
                while booting.is_alive():
                    booting.join(0.2)
                if gateway_error:
                    raise gateway_error[0]
                assert stack.gateway_url is not None
                say(f"      gateway ready at {stack.gateway_url} ({time.monotonic() - boot_started:.0f} s after its start)")
                if failing:
                    problems.append(f"contract: {failing} simulator(s) with violations")
                # The gateway's findings are shown, not failed on: with a catch-all route (default_provider)
                # an unknown model reaches a backend (its 404, not LiteLLM's 400), and LiteLLM itself
                # deviates from the OpenAI contract in places (docs/troubleshooting.md).
                # LiteLLM validates no parameters itself: the backend behind the exercised model does.
                # A group served by vLLM (strict, like OpenAI) checks the gateway's own surface.
                # (without fallbacks: a chain would turn vLLM's 400 into another backend's 200)
                strict = next((name for name, group in routes.groups.items()
                               if group.deployments and name not in routes.fallbacks and not routes.default_fallbacks
                               and all(sources.providers.providers[d.provider].type == "vllm"
                                       for d in group.deployments)),
                              None)
                if contract_check([("gateway", "litellm", stack.gateway_url, stack.key)], say, model=strict):
                    say("      (the gateway's findings are reported, not failed on: docs/troubleshooting.md)")
            groups = load_groups(routes)
            with steps.step(f"load test through the gateway: {options.duration:g} s, {options.users} stream(s) "
                            f"per model group, {len(groups)} groups at once"):
                figures = load_test(stack, groups, options)
            with steps.step("summary"):
                say(summary_table(figures))
                index = write_index(stack, figures)
                say(f"HTML report: {index}")
                for f in figures:
                    say(f"  {f.group}: {f.report.with_suffix('.html')}" + (f"  ({f.problem})" if f.problem else ""))
                broken = [f.group for f in figures if f.problem]
                if broken:
                    problems.append(f"load test: no report for {', '.join(broken)}")
            say(f"demo finished in {steps.elapsed():.0f} s" + (f" with problems: {'; '.join(problems)}"
                                                                 if problems else ""))
            from aibackend.dashboard.demo import dashboard_hint

            dashboard_hint(options.store, config_dir, say)
            if options.keep_running:
                keep_running(stack, groups, say, store=options.store)
        return 1 if problems else 0
    finally:
        say("stopping everything the demo started ...")
        stack.close(say)
        if previous_key is None:
            os.environ.pop("LITELLM_MASTER_KEY", None)
        else:
            os.environ["LITELLM_MASTER_KEY"] = previous_key


def keep_running(stack: Stack, groups: list[str], say: Callable[[str], None], *, store: Path | None = None) -> None:
    """Leave the stack up until Ctrl-C; print how to reach it (the key goes to the terminal only)."""
    model = groups[0] if groups else "MODEL"
    from loadtests.launcher import LOCUSTFILE as locustfile
    say("")
    say(f"the stack is up. Gateway: {stack.gateway_url}")
    say("in another terminal:")
    say(f"  export LITELLM_MASTER_KEY={stack.key}")
    say(f"  curl -s {stack.gateway_url}/v1/chat/completions -H \"Authorization: Bearer $LITELLM_MASTER_KEY\" "
        f"-H 'Content-Type: application/json' -d '{{\"model\": \"{model}\", \"messages\": "
        "[{\"role\": \"user\", \"content\": \"hello\"}]}'")
    say(f"  aibackend request --url {stack.gateway_url} --model {model} --prompt hello --stream")
    say(f"  {sys.executable} -m locust -f {locustfile} --host {stack.gateway_url} --llm-model {model} "
        "--web-host 127.0.0.1   # Locust web UI on http://127.0.0.1:8089")
    say(f"  aibackend health --config-dir {stack.config_dir}")
    from aibackend.dashboard.demo import serve_for_demo

    dashboard = serve_for_demo(store, stack.config_dir, say)
    say("press Ctrl-C to stop everything")
    try:
        while True:
            time.sleep(1)
    finally:
        if dashboard is not None:
            dashboard.stop()
