"""Benchmark: the gateway's own cost per request, config by config, feature by feature, in one run.

One llama-cpp-python simulator (fixed TTFT and time per output token) serves two models; a small
registry (two aliases, one fallback chain, a rate limit, the repository's gateway.yaml with its Redis cache on a
redis-server of its own) is compiled by `aibackend generate`. Then, for each variant below, the
real LiteLLM proxy (pinned) is started the way users start it, `aibackend gateway start`, and the
same load is sent twice, back to back: straight to the simulator ("direct") and through the
gateway. Overhead = gateway minus direct, measured minutes apart at most, so the machine's load
drifts little between the two sides.

Variants:
  generated          the generated config behind the HAProxy front (what `gateway start` runs)
  minimal            a hand-written LiteLLM config of the same deployments (model_name, model,
                     api_base, api_key, master_key), no front: what a user would write by hand
  hand-written       the minimal config plus what this registry and gateway.yaml ask for, written by
                     hand: the rate limit (rpm, with pre-call checks, without which LiteLLM ignores
                     it), the fallback, retries, the Redis cache, prometheus, JSON logs; no front.
                     Against it, the generated config's ratio is what the generator itself adds
  no-front           generated config, `--front none`
  no-pre-call-checks   generated, router_settings.enable_pre_call_checks removed
  no-prometheus        generated, the prometheus callback removed
  no-request-logger    generated, our request logger callback removed
  no-json-logs         generated, litellm_settings.json_logs removed
  no-retries           generated, router_settings.num_retries: 0
  no-cache             generated, litellm_settings.cache and cache_params removed
  none-of-these        generated with all of the above removed at once, no front

Load: N streams (default 4), each sends streamed chat completions one after another, every prompt
unique (so the cache never answers). TTFT = until the first content chunk. Printed per variant:
median and p99 TTFT added over direct, throughput (completed requests/s) as a fraction of
direct's, LiteLLM's own x-litellm-overhead-duration-ms (median), the ratio of each variant's
median added TTFT to the minimal config's, and the gateway's CPU time per completed request (user +
system of every process in the LiteLLM replicas' and the HAProxy front's sessions, read from /proc
around each measured load; "of it front" is HAProxy's share). Latency on a shared machine is
mostly waiting for a core; CPU time per request is what the config itself costs, and it moves
less with the machine's load (±15 % between rounds on a quiet machine). Prints figures; asserts
nothing.

    .venv/bin/python benchmarks/bench_gateway_overhead.py [--seconds 15] [--streams 4]
        [--ttft-ms 100] [--tpot-ms 10] [--tokens 32] [--variants generated minimal ...]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_gateway_startup import KEY, ROOT, Tree, minimal_config, redis_server

from contracts.simulators import SimulatorConfig, start_simulator
from generator.net import free_port
from generator.stats import percentile

MODELS = ["model-0-0", "model-0-1"]
DIRECT_MODEL = MODELS[0]
GATEWAY_MODEL = "alias-0"  # model-0-0 under its alias; falls back to alias-1 (model-0-1)


def write_sources(config: Path, simulator_url: str, redis_port: int) -> int:
    """providers.yaml, model-mappings.yaml, gateway.yaml (the repository's, own ports); the public port."""
    config.mkdir(parents=True)
    providers = {"providers": {"p0": {"type": "llama_cpp_python", "base_url": simulator_url,
                                      "models": [{"name": m, "context_length": 8192} for m in MODELS]}}}
    mappings = {
        "exact_matches": {f"alias-{i}": {"provider": "p0", "backend_model": m} for i, m in enumerate(MODELS)},
        "fallback_chains": {"alias-0": {"chain": ["alias-1"]}},
        # A limit far above this load: the generator then turns LiteLLM's pre-call checks on (it
        # ignores deployments' rpm without them), as it does for any registry with rate limits.
        "rate_limits": {"alias-0": {"rpm": 1_000_000}},
    }
    gateway = yaml.safe_load((ROOT / "config" / "gateway.yaml").read_text())
    gateway["server"]["port"] = free_port()
    gateway["cache"].update({"host": "127.0.0.1", "port": redis_port, "password_env": None})
    for name, data in (("providers", providers), ("model-mappings", mappings), ("gateway", gateway)):
        (config / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return int(gateway["server"]["port"])


def _without(*path: str) -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        node = config
        for key in path[:-1]:
            node = node[key]
        node.pop(path[-1])

    return edit


def _without_callback(name: str) -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        callbacks = config["litellm_settings"]["callbacks"]
        assert name in callbacks, f"{name} is not among the generated callbacks {callbacks}"
        callbacks.remove(name)
        if not callbacks:
            del config["litellm_settings"]["callbacks"]

    return edit


def _no_retries(config: dict[str, Any]) -> None:
    config["router_settings"]["num_retries"] = 0


def _no_cache(config: dict[str, Any]) -> None:
    config["litellm_settings"].pop("cache")
    config["litellm_settings"].pop("cache_params")


def _hand_written(generated: dict[str, Any]) -> dict[str, Any]:
    """What a user who wants the same behaviour writes for LiteLLM by hand (see the docstring)."""
    keep = ("model", "api_base", "api_key", "rpm")
    settings = generated["litellm_settings"]
    return {
        "model_list": [{"model_name": e["model_name"],
                        "litellm_params": {k: v for k, v in e["litellm_params"].items() if k in keep}}
                       for e in generated["model_list"]],
        "router_settings": {key: generated["router_settings"][key]
                            for key in ("num_retries", "fallbacks", "enable_pre_call_checks")},
        "litellm_settings": {"json_logs": settings["json_logs"], "callbacks": ["prometheus"],
                             "cache": settings["cache"], "cache_params": settings["cache_params"]},
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
    }


# name -> (edit of the generated config or None, front)
VARIANTS: dict[str, tuple[Callable[[dict[str, Any]], None] | None, str]] = {
    "generated": (None, "haproxy"),
    "minimal": (None, "none"),
    "hand-written": (None, "none"),
    "no-front": (None, "none"),
    "no-pre-call-checks": (_without("router_settings", "enable_pre_call_checks"), "haproxy"),
    "no-prometheus": (_without_callback("prometheus"), "haproxy"),
    "no-request-logger": (_without_callback("generator.request_logger.handler"), "haproxy"),
    "no-json-logs": (_without("litellm_settings", "json_logs"), "haproxy"),
    "no-retries": (_no_retries, "haproxy"),
    "no-cache": (_no_cache, "haproxy"),
}
# The features the no-* variants remove, each with its edit.
_FEATURE_EDITS = {name: edit for name, (edit, _front) in VARIANTS.items() if name.startswith("no-") and edit is not None}


def _without_features(kept: str | None = None) -> Callable[[dict[str, Any]], None]:
    """Every feature above removed but ``kept`` (none kept: what is left is the rest of the generated
    config: model_info, timeouts, rpm, fallbacks, cooldowns, drop_params). One feature kept is its
    cost alone, which one feature removed from the whole (the no-* variants) can hide behind the
    others' waits."""
    def edit(config: dict[str, Any]) -> None:
        for name, remove in _FEATURE_EDITS.items():
            if name != kept:
                remove(config)

    return edit


VARIANTS["none-of-these"] = (_without_features(), "none")
for _name in _FEATURE_EDITS:
    VARIANTS["only-" + _name[3:]] = (_without_features(_name), "none")
VARIANTS["only-front"] = (_without_features(), "haproxy")


_TICK = os.sysconf("SC_CLK_TCK")


def _session_cpu_seconds(leaders: list[int]) -> float:
    """User + system CPU seconds of every live process in the sessions these pids lead."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) in leaders:  # field 6 of stat, the session id (fields here start at 3)
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICK


def gateway_leaders(config: Path) -> tuple[list[int], list[int]]:
    """The session leaders of this gateway: its LiteLLM replicas', and its HAProxy front's (if any)."""
    run = config / ".run"
    replicas = [os.getsid(int(line)) for line in (run / "gateway.pid").read_text().split()]
    front = run / "haproxy.pid"
    fronts = [os.getsid(int(line)) for line in front.read_text().split()] if front.exists() else []
    return replicas, fronts


@dataclass
class Sample:
    ttft: list[float] = field(default_factory=list)  # seconds
    cpu_seconds: float = 0.0  # the gateway's, during this sample (through the gateway only)
    front_cpu_seconds: float = 0.0  # of which the HAProxy front's
    overhead_header: list[float] = field(default_factory=list)  # ms, LiteLLM's own
    completed: int = 0
    errors: int = 0
    first_error: str | None = None
    seconds: float = 0.0

    def merge(self, other: Sample) -> Sample:
        """Two rounds' requests as one sample (percentiles over all of them)."""
        return Sample(ttft=sorted(self.ttft + other.ttft), overhead_header=self.overhead_header + other.overhead_header,
                      cpu_seconds=self.cpu_seconds + other.cpu_seconds,
                      front_cpu_seconds=self.front_cpu_seconds + other.front_cpu_seconds,
                      completed=self.completed + other.completed, errors=self.errors + other.errors,
                      first_error=self.first_error or other.first_error, seconds=self.seconds + other.seconds)


def _stream(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[float | str, float | None]:
    """One streamed completion: (TTFT s, or what went wrong; x-litellm-overhead-duration-ms)."""
    connection = http.client.HTTPConnection(host, port, timeout=60)
    try:
        begin = time.perf_counter()
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        header = response.getheader("x-litellm-overhead-duration-ms")
        if response.status != 200:
            return f"HTTP {response.status}: {response.read()[:300]!r}", None
        first: float | None = None
        for line in response:
            if not line.startswith(b"data:") or line.startswith(b"data: [DONE]"):
                continue
            if first is None:
                choices = json.loads(line[5:]).get("choices") or [{}]
                if (choices[0].get("delta") or {}).get("content"):
                    first = time.perf_counter() - begin
        if first is None:
            return "no content chunk in the stream", None
        return first, float(header) if header else None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}", None
    finally:
        connection.close()


def load(url: str, model: str, *, streams: int, seconds: float, tokens: int, key: str | None) -> Sample:
    host, port = url.removeprefix("http://").split(":")
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    sample = Sample()
    lock = threading.Lock()
    counter = iter(range(10**9))
    stop_at = time.perf_counter() + seconds

    def worker() -> None:
        while time.perf_counter() < stop_at:
            with lock:
                n = next(counter)
            body = json.dumps({"model": model, "stream": True, "max_tokens": tokens,
                               "messages": [{"role": "user", "content": f"request {n} {time.time_ns()}: say hi"}]})
            ttft, overhead = _stream(host, int(port), "/v1/chat/completions", body.encode(), headers)
            with lock:
                if isinstance(ttft, str):
                    sample.errors += 1
                    sample.first_error = sample.first_error or ttft
                    continue
                sample.ttft.append(ttft)
                sample.completed += 1
                if overhead is not None:
                    sample.overhead_header.append(overhead)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(streams)]
    begin = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sample.seconds = time.perf_counter() - begin
    sample.ttft.sort()  # percentile() takes ascending values
    return sample


def serve_file(config: Path, name: str, generated: Path) -> Path:
    """The file the variant serves: the generated one itself, or an edited copy."""
    edit, _front = VARIANTS[name]
    if name == "minimal":
        return minimal_config(generated, config / "variant-minimal.yaml")
    if name == "hand-written":
        target = config / "variant-hand-written.yaml"
        target.write_text(yaml.safe_dump(_hand_written(yaml.safe_load(generated.read_text())), sort_keys=False))
        return target
    if edit is None:
        return generated
    data = yaml.safe_load(generated.read_text())
    edit(data)
    target = config / f"variant-{name}.yaml"
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f}"


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="each side's load, per variant and round")
    parser.add_argument("--repeat", type=int, default=2, help="rounds over the variants (alternately reversed)")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured load through each gateway first")
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--ttft-ms", type=float, default=100.0)
    parser.add_argument("--tpot-ms", type=float, default=10.0)
    parser.add_argument("--tokens", type=int, default=32, help="output tokens per answer")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so every gateway, simulator and Redis started here is stopped.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    workdir = Path(tempfile.mkdtemp(prefix="bench-gateway-overhead-"))
    tree = Tree("this")
    simulator = start_simulator(SimulatorConfig(
        type="llama_cpp_python", port=0, models=MODELS, slots=64, ttft_ms=args.ttft_ms, tpot_ms=args.tpot_ms,
        output_tokens=args.tokens))
    results: dict[str, tuple[Sample, Sample]] = {}
    started: list[Path] = []
    try:
        with redis_server(workdir) as redis_port:
            base = workdir / "generated"
            write_sources(base, simulator.url, redis_port)
            tree.aibackend("generate", config=base)
            generated = base / "litellm-unified.yaml"
            print(f"simulator: llama_cpp_python, TTFT {args.ttft_ms:g} ms, {args.tpot_ms:g} ms/token, "
                  f"{args.tokens} tokens; {args.streams} streams, {args.seconds:g} s per side, "
                  f"{args.repeat} rounds", flush=True)
            # Every edit first: a variant that does not apply stops the run before any gateway starts.
            served = {name: serve_file(base, name, generated) for name in args.variants}
            # One gateway per variant, all running at once (each from its own config dir and port), so
            # the rounds below interleave the variants without paying a start-up between them.
            public: dict[str, str] = {}
            for name in args.variants:
                config = workdir / f"variant-{name}"
                port = write_sources(config, simulator.url, redis_port)
                _edit, front = VARIANTS[name]
                started.append(config)
                seconds, _ = tree.aibackend("gateway", "start", "--front", front, "--output", str(served[name]),
                                            config=config)
                public[name] = f"http://127.0.0.1:{port}"
                print(f"  started {name} ({front} front) in {seconds:.1f} s; {_load()}", flush=True)
            for name in args.variants:
                load(public[name], GATEWAY_MODEL, streams=args.streams, seconds=args.warmup, tokens=args.tokens,
                     key=KEY)
            print(_load(), flush=True)
            for round_ in range(args.repeat):
                for name in args.variants if round_ % 2 == 0 else list(reversed(args.variants)):
                    direct = load(simulator.url, DIRECT_MODEL, streams=args.streams, seconds=args.seconds,
                                  tokens=args.tokens, key=None)
                    replicas, fronts = gateway_leaders(workdir / f"variant-{name}")
                    cpu_before = _session_cpu_seconds(replicas), _session_cpu_seconds(fronts)
                    through = load(public[name], GATEWAY_MODEL, streams=args.streams, seconds=args.seconds,
                                   tokens=args.tokens, key=KEY)
                    through.front_cpu_seconds = _session_cpu_seconds(fronts) - cpu_before[1]
                    through.cpu_seconds = _session_cpu_seconds(replicas) - cpu_before[0] + through.front_cpu_seconds
                    before = results.get(name)
                    results[name] = (before[0].merge(direct), before[1].merge(through)) if before else (direct, through)
                    print(f"  round {round_ + 1} {name}: direct {direct.completed} ok / {direct.errors} errors, "
                          f"gateway {through.completed} ok / {through.errors} errors; {_load()}", flush=True)
                    for side, sample in (("direct", direct), ("gateway", through)):
                        if sample.first_error:
                            print(f"    first {side} error: {sample.first_error}", flush=True)
            print_table(results)
            print(_load(), flush=True)
            for config in started:
                tree.aibackend("gateway", "stop", config=config, check=False)
            started.clear()
    finally:
        for config in started:
            Tree("this").aibackend("gateway", "stop", config=config, check=False)
        with contextlib.suppress(Exception):
            simulator.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _added(direct: Sample, through: Sample, q: float) -> float | None:
    if not direct.ttft or not through.ttft:
        return None
    return percentile(through.ttft, q) - percentile(direct.ttft, q)


def print_table(results: dict[str, tuple[Sample, Sample]]) -> None:
    minimal = results.get("minimal")
    minimal_added = _added(*minimal, 50) if minimal else None
    print(f"\n{'variant':<17} {'direct p50':>10} {'gw p50':>8} {'+p50 ms':>8} {'+p99 ms':>8} "
          f"{'thr ratio':>9} {'litellm hdr p50':>15} {'÷ minimal':>9} {'CPU ms/req':>10} {'÷ minimal':>9} {'of it front':>11}")
    minimal_cpu = _cpu_per_request(minimal[1]) if minimal else None
    for name, (direct, through) in results.items():
        added50, added99 = _added(direct, through, 50), _added(direct, through, 99)
        direct_rate = direct.completed / direct.seconds if direct.seconds else 0
        ratio = (through.completed / through.seconds) / direct_rate if direct_rate else None
        header = statistics.median(through.overhead_header) if through.overhead_header else None
        versus = (added50 / minimal_added) if added50 is not None and minimal_added else None
        cpu = _cpu_per_request(through)
        print(f"{name:<17} {_ms(percentile(direct.ttft, 50) if direct.ttft else None):>10} "
              f"{_ms(percentile(through.ttft, 50) if through.ttft else None):>8} {_ms(added50):>8} "
              f"{_ms(added99):>8} {'n/a' if ratio is None else f'{ratio:.3f}':>9} "
              f"{'n/a' if header is None else f'{header:.1f}':>15} {'n/a' if versus is None else f'{versus:.2f}x':>9} "
              f"{_ms(cpu):>10} {'n/a' if cpu is None or not minimal_cpu else f'{cpu / minimal_cpu:.2f}x':>9} "
              f"{_ms(through.front_cpu_seconds / through.completed if through.completed else None):>11}",
              flush=True)


def _cpu_per_request(sample: Sample) -> float | None:
    return sample.cpu_seconds / sample.completed if sample.completed else None


if __name__ == "__main__":
    main()
