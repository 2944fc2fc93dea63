"""Benchmark: `aibackend gateway start` and `aibackend reload` at 100, 1,000 and 8,000 deployments.

Each size is bench_compile's synthetic registry (each model aliased, fallback chains four wide,
rate limits, a default route) over four providers, one per type (Ollama, vLLM,
llama-cpp-python, OpenAI-compatible), each served by its simulator so that reload's smoke gates
pass; Redis (the gateway.yaml cache) is a redis-server of its own. For each size and tree:

  start   `aibackend gateway start` from the command to "ready" (it returns once /health/readiness
          answers through the HAProxy front), split by LiteLLM's log into: our command before
          LiteLLM is spawned (compile, snapshot), LiteLLM's import and first read of the config
          (until uvicorn's "Started server process"), its start-up event (second read of the
          config, the Router: until "Application startup complete"), and the rest (readiness, front);
  reload  `aibackend reload` after a change to gateway.yaml: compile, start beside, gates, switch.

Trees: this one; --reference REV (another commit, exported with git archive, run alternately
with this one); --minimal (this tree's gateway serving a hand-written config of the same
deployments with nothing but model_name, model, api_base and api_key: what LiteLLM costs
whatever the generator writes; start only). Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_gateway_startup.py [--sizes 100 1000 8000] [--repeat 1]
                                                         [--reference 51aa502] [--minimal]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_compile import PROVIDER_TYPES, export_reference, synthetic_config

from contracts.simulators import RunningSimulator, SimulatorConfig, start_simulator
from generator.net import free_port, port_is_open

ROOT = Path(__file__).resolve().parents[1]
AIBACKEND = str(Path(sys.executable).parent / "aibackend")
KEY = "sk-" + secrets.token_hex(24)
ENVIRONMENT = {"LITELLM_MASTER_KEY": KEY, "OPENAI_API_KEY": "sk-bench-" + "c" * 24}
MARKERS = (("spawned", "starting: "), ("started", "Started server process"), ("startup", "Application startup complete"))


@dataclass
class Tree:
    label: str
    pythonpath: Path | None = None  # None: this tree
    minimal: bool = False  # serve a hand-written minimal config of the same deployments

    def env(self) -> dict[str, str]:
        env = {**os.environ, **ENVIRONMENT}
        if self.pythonpath is not None:
            env["PYTHONPATH"] = str(self.pythonpath)
        return env

    def aibackend(self, *arguments: str, config: Path, check: bool = True) -> tuple[float, str]:
        start = time.perf_counter()
        done = subprocess.run([AIBACKEND, *arguments, "--config-dir", str(config)], capture_output=True, text=True,
                              env=self.env(), stdin=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        if check and done.returncode != 0:
            raise RuntimeError(f"{self.label}: aibackend {' '.join(arguments)} exited {done.returncode}:\n"
                               f"{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        return seconds, done.stdout + done.stderr


@dataclass
class LogWatch:
    """When each start-up marker first appears in a LiteLLM log (polled every 20 ms)."""

    path: Path
    seen: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _offset: int = 0

    def __post_init__(self) -> None:
        self._offset = self.path.stat().st_size if self.path.exists() else 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        text = ""
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                with open(self.path, "rb") as handle:
                    handle.seek(self._offset)
                    chunk = handle.read()
                self._offset += len(chunk)
                text = (text + chunk.decode(errors="replace"))[-200_000:]
                for name, marker in MARKERS:
                    if name not in self.seen and marker in text:
                        self.seen[name] = time.perf_counter()
            time.sleep(0.02)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return self.seen


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[int]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed: run the set-up (make setup)")
    port = free_port()
    directory = workdir / "redis"
    directory.mkdir()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
                                "--save", "", "--appendonly", "no", "--daemonize", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not port_is_open("127.0.0.1", port):
            if time.monotonic() > deadline:
                raise SystemExit(f"redis-server did not listen on {port}")
            time.sleep(0.05)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)


def write_sources(directory: Path, models: int, urls: list[str], redis_port: int) -> None:
    synthetic_config(directory, models, providers=len(urls), base_urls=urls)
    gateway = yaml.safe_load((ROOT / "config" / "gateway.yaml").read_text())
    gateway["server"]["port"] = free_port()
    gateway["cache"].update({"host": "127.0.0.1", "port": redis_port, "password_env": None})
    (directory / "gateway.yaml").write_text(yaml.safe_dump(gateway, sort_keys=False))


def minimal_config(generated: Path, into: Path) -> Path:
    """The same deployments, nothing else: what a user would write by hand for LiteLLM."""
    config = yaml.safe_load(generated.read_text())
    keep = ("model", "api_base", "api_key")
    minimal = {
        "model_list": [{"model_name": e["model_name"],
                        "litellm_params": {k: v for k, v in e["litellm_params"].items() if k in keep}}
                       for e in config["model_list"]],
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
    }
    into.write_text(yaml.safe_dump(minimal, sort_keys=False))
    return into


def one_start(tree: Tree, config: Path, output: Path | None) -> dict[str, float]:
    log = config / ".run" / "gateway-blue.log"
    watch = LogWatch(log)
    begin = time.perf_counter()
    arguments = ["gateway", "start", *(["--output", str(output)] if output else [])]
    seconds, _ = tree.aibackend(*arguments, config=config)
    seen = watch.stop()
    figures = {"start": seconds}
    previous = begin
    for name, _marker in MARKERS:
        if name in seen:
            figures[name] = seen[name] - previous
            previous = seen[name]
    figures["ready"] = begin + seconds - previous
    return figures


def measure_tree(tree: Tree, directory: Path, models: int, urls: list[str], redis_port: int) -> dict[str, Any]:
    config = directory / tree.label.replace("/", "-")
    if config.exists():
        shutil.rmtree(config)
    write_sources(config, models, urls, redis_port)
    generate_s, _ = tree.aibackend("generate", config=config)
    output = minimal_config(config / "litellm-unified.yaml", config / "minimal.yaml") if tree.minimal else None
    deployments = len(yaml.safe_load((output or config / "litellm-unified.yaml").read_text())["model_list"])
    result: dict[str, Any] = {"deployments": deployments, "generate": generate_s,
                              "bytes": (output or config / "litellm-unified.yaml").stat().st_size}
    try:
        result.update(one_start(tree, config, output))
        if not tree.minimal:
            gateway = config / "gateway.yaml"
            gateway.write_text(gateway.read_text().replace("num_retries: 2", "num_retries: 3"))
            result["reload"], _ = tree.aibackend("reload", config=config)
    finally:
        tree.aibackend("gateway", "stop", config=config, check=False)
    return result


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 8000], help="deployments (about)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--reference", metavar="REV", help="also measure this commit's commands, alternately")
    parser.add_argument("--minimal", action="store_true", help="also a hand-written minimal config (start only)")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so every gateway, simulator and Redis started here is stopped.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    workdir = Path(tempfile.mkdtemp(prefix="bench-gateway-startup-"))
    trees = [Tree("this")]
    if args.reference:
        trees.append(Tree(args.reference, export_reference(args.reference, workdir / "reference")))
    if args.minimal:
        trees.append(Tree("minimal", minimal=True))
    simulators: list[RunningSimulator] = []
    try:
        with redis_server(workdir) as redis_port:
            print(_load(), flush=True)
            header = (f"{'deployments':>11} {'tree':<10} {'MB file':>7} {'generate':>8} {'start':>7} | {'ours':>6} "
                      f"{'import+read':>11} {'startup':>8} {'ready':>6} | {'reload':>7}")
            print(header, flush=True)
            for size in args.sizes:
                models = max(len(PROVIDER_TYPES), (size // 2) // len(PROVIDER_TYPES) * len(PROVIDER_TYPES))
                per = models // len(PROVIDER_TYPES)
                for sim in simulators:
                    sim.stop()
                simulators = [start_simulator(SimulatorConfig(type=kind, port=0, slots=16, output_tokens=4, models=[
                    f"model-{p}-{i}" for i in range(per)] if kind != "llama_cpp" else [f"model-{p}-0"]))
                              for p, kind in enumerate(PROVIDER_TYPES)]
                urls = [sim.url + ("/v1" if kind == "openai" else "") for sim, kind in zip(simulators, PROVIDER_TYPES,
                                                                                          strict=True)]
                runs: dict[str, list[dict[str, Any]]] = {tree.label: [] for tree in trees}
                for _ in range(args.repeat):
                    for tree in trees:
                        runs[tree.label].append(measure_tree(tree, workdir / f"n{size}", models, urls, redis_port))
                for tree in trees:
                    done = runs[tree.label]

                    def med(key: str, done: list[dict[str, Any]] = done) -> str:
                        values = [r[key] for r in done if key in r]
                        return f"{statistics.median(values):.1f}" if values else "n/a"

                    print(f"{done[0]['deployments']:>11} {tree.label[:10]:<10} {done[0]['bytes'] / 1e6:>7.2f} "
                          f"{med('generate'):>8} {med('start'):>7} | {med('spawned'):>6} {med('started'):>11} "
                          f"{med('startup'):>8} {med('ready'):>6} | {med('reload'):>7}", flush=True)
            print(_load(), flush=True)
    finally:
        for sim in simulators:
            sim.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
