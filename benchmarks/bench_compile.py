"""Benchmark: `aibackend validate` and `aibackend generate` as a user runs them, at 1k-16k models.

Each figure is one command run in a fresh interpreter (subprocess, cold start: interpreter start-up,
imports and LiteLLM's import included), on a synthetic registry of N models over 8 providers,
each model aliased, with fallback chains four wide, rate limits on every 50th alias and a
default route: 2N+1 deployments. Prints the median of --repeat runs, the peak memory of the
command (the largest of its processes: the compiler, or layer 7's worker importing LiteLLM),
the ratio t(8k)/t(2k) (4 for linear time), a deep fallback cycle through every model (it must
still be found and named) and a narrow lattice of fallbacks (2 wide, 40 deep).

Layer 7 keeps LiteLLM's answers (generator.acceptance_cache). Plain `validate` and `generate` run
with an empty cache every time, as on the first run after installing LiteLLM or after an edit
that changes what the Router is built from; the "answers kept" rows run after an unmeasured run
of the same command, as when the same config (or one differing only where the Router's build
does not look) is validated again.

With --reference REV the same commands of another commit (exported with `git archive`, run
with this venv) run alternately with this tree's, so that a busy machine slows both alike.
Prints figures; asserts nothing (performance is measured, not asserted in tests). Target on a
2-core machine: 8,000 models validated (all seven layers) and generated in under 5 s each.

    .venv/bin/python benchmarks/bench_compile.py [--sizes 1000 2000 4000 8000 16000] [--repeat 3]
                                                 [--reference 51aa502] [--commands validate generate]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PROVIDER_TYPES = ("ollama", "vllm", "llama_cpp_python", "openai")
ENVIRONMENT = {"LITELLM_MASTER_KEY": "sk-" + "b" * 40, "REDIS_PASSWORD": "bench", "OPENAI_API_KEY": "bench"}
# What each measured command runs (aibackend's arguments before --config-dir), and whether layer 7
# finds its answers kept (generator.acceptance_cache: this LiteLLM already accepted exactly these
# deployments) or asks LiteLLM, with an empty cache on every run.
COMMANDS = {
    "validate": (["validate"], False),  # all seven layers
    "validate, answers kept": (["validate"], True),
    "validate --critical": (["validate", "--critical"], False),
    "generate": (["generate"], False),
    "generate, answers kept": (["generate"], True),
}
CACHE_ENV = "AIBACKEND_LITELLM_CHECK_CACHE"


def synthetic_config(directory: Path, models: int, *, providers: int = 8, width: int = 4,
                     cycle: bool = False, base_urls: list[str] | None = None) -> None:
    """``models`` models over ``providers`` providers, each aliased; alias i falls back to i+1..i+width.

    ``cycle``: the last alias falls back to the first, closing a cycle through every alias.
    ``base_urls``: provider p's URL (default: nothing listening, 127.0.0.1:10000+p).
    """
    directory.mkdir(parents=True)
    per = models // providers
    registry = {}
    for p in range(providers):
        kind = PROVIDER_TYPES[p % len(PROVIDER_TYPES)]
        registry[f"p{p}"] = {
            "type": kind,
            "base_url": base_urls[p] if base_urls else
            f"http://127.0.0.1:{10000 + p}" + ("/v1" if kind == "openai" else ""),
            **({"api_key_env": "OPENAI_API_KEY"} if kind == "openai" else {}),
            "models": [{"name": f"model-{p}-{i}", "context_length": 8192} for i in range(per)],
        }
    served = [(f"p{p}", f"model-{p}-{i}") for i in range(per) for p in range(providers)]
    aliases = {f"alias-{k}": {"provider": p, "backend_model": m} for k, (p, m) in enumerate(served)}
    names = list(aliases)
    chains = {names[k]: {"chain": names[k + 1 : k + 1 + width]} for k in range(len(names) - 1)}
    if cycle:
        chains[names[-1]] = {"chain": [names[0]]}
    mappings = {
        "exact_matches": aliases,
        "fallback_chains": chains,
        "rate_limits": {names[k]: {"rpm": 100} for k in range(0, len(names), 50)},
        "routing_rules": {"default_provider": "p0"},
    }
    (directory / "providers.yaml").write_text(yaml.safe_dump({"providers": registry}, sort_keys=False))
    (directory / "model-mappings.yaml").write_text(yaml.safe_dump(mappings, sort_keys=False))
    shutil.copyfile(ROOT / "config" / "gateway.yaml", directory / "gateway.yaml")


def lattice_config(directory: Path, width: int = 2, depth: int = 40) -> None:
    """Every model of a level falls back to every model of the next: 2^40 paths, 80 models."""
    directory.mkdir(parents=True)
    names = [f"m{level}_{side}" for level in range(depth + 1) for side in range(width)]
    registry = {"p": {"type": "ollama", "base_url": "http://127.0.0.1:11434", "models": names}}
    chains = {f"m{level}_{side}": {"chain": [f"m{level + 1}_{s}" for s in range(width)]}
              for level in range(depth) for side in range(width)}
    (directory / "providers.yaml").write_text(yaml.safe_dump({"providers": registry}))
    (directory / "model-mappings.yaml").write_text(yaml.safe_dump({"fallback_chains": chains}))


@dataclass
class Tree:
    """A source tree whose `aibackend` is measured: this one, or a reference commit's."""

    label: str
    pythonpath: Path | None  # None: this tree, as installed in the venv

    def run(self, arguments: list[str], config: Path, cache: Path) -> tuple[float, float, float, int, str]:
        """(seconds, CPU seconds, peak MB, exit status, last line of output) of one cold run.

        CPU seconds (user + system, of the command and the processes it reaped) are what a shared,
        busy machine distorts least; on an idle one wall time is below them where layer 7's worker
        imports LiteLLM in parallel with layers 1-6.
        """
        env = {**os.environ, **ENVIRONMENT, CACHE_ENV: str(cache)}
        if self.pythonpath is not None:
            env["PYTHONPATH"] = str(self.pythonpath)
        command = [str(Path(sys.executable).parent / "aibackend"), *arguments, "--config-dir", str(config)]
        with tempfile.TemporaryFile() as output:
            start = time.perf_counter()
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=config)
            # wait4: the rusage of the command and of the processes it reaped (layer 7's worker)
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - start
            process.returncode = os.waitstatus_to_exitcode(status)
            output.seek(0)
            lines = output.read().decode(errors="replace").strip().splitlines()
        cpu = usage.ru_utime + usage.ru_stime
        return seconds, cpu, usage.ru_maxrss / 1024, process.returncode, (lines[-1] if lines else "")


def export_reference(revision: str, into: Path) -> Path:
    """The tree of ``revision`` (git archive), importable with PYTHONPATH."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def measure(trees: list[Tree], arguments: list[str], config: Path, repeat: int,
            kept: bool = False) -> list[tuple[float, float, float, int, str]]:
    """Median seconds, median CPU seconds, peak MB, exit status and output's last line per tree; runs
    alternate tree by tree. ``kept``: layer 7's answers kept by an unmeasured first run; else none."""
    runs: dict[str, list[tuple[float, float, float, int, str]]] = {tree.label: [] for tree in trees}
    caches = {tree.label: Path(tempfile.mkdtemp(prefix="kept-", dir=config.parent)) for tree in trees}
    if kept:
        for tree in trees:
            tree.run(arguments, config, caches[tree.label])
    for _ in range(repeat):
        for tree in trees:
            if not kept:
                shutil.rmtree(caches[tree.label], ignore_errors=True)
            runs[tree.label].append(tree.run(arguments, config, caches[tree.label]))
    result = []
    for tree in trees:
        done = runs[tree.label]
        result.append((statistics.median(r[0] for r in done), statistics.median(r[1] for r in done),
                       max(r[2] for r in done), done[-1][3], done[-1][4]))
    return result


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000, 8000, 16000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--commands", nargs="+", choices=list(COMMANDS), default=list(COMMANDS),
                        metavar="COMMAND", help=f"of: {'; '.join(COMMANDS)} (default: all)")
    parser.add_argument("--reference", metavar="REV", help="also run this commit's commands, alternately")
    parser.add_argument("--cycle-size", type=int, default=8000, help="models in the deep-cycle case (0: skip)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-compile-"))
    trees = [Tree("this", None)]
    if args.reference:
        trees.append(Tree(args.reference, export_reference(args.reference, root / "reference")))
    try:
        print(_load(), flush=True)
        header = f"{'config':<22} {'command':<20} " + " ".join(
            f"{tree.label[:10] + ' s':>12} {'CPU s':>6} {'MB':>6}" for tree in trees)
        print(header, flush=True)
        medians: dict[tuple[str, str, int], tuple[float, float]] = {}
        for size in args.sizes:
            config = root / f"n{size}"
            synthetic_config(config, size)
            for name in sorted(args.commands, key=lambda n: not n.startswith("generate")):  # validate's layer 6
                figures = measure(trees, COMMANDS[name][0], config, args.repeat, kept=COMMANDS[name][1])
                for tree, (seconds, cpu, _, status, last) in zip(trees, figures, strict=True):
                    medians[(tree.label, name, size)] = (seconds, cpu)
                    if status != 0:
                        print(f"  {tree.label} {name} exited {status}: {last}", flush=True)
                print(f"{f'{size} models':<22} {name:<20} " + " ".join(
                    f"{seconds:>12.2f} {cpu:>6.2f} {mb:>6.0f}" for seconds, cpu, mb, _, _ in figures), flush=True)
        for name in args.commands:
            for tree in trees:
                small, large = medians.get((tree.label, name, 2000)), medians.get((tree.label, name, 8000))
                if small and large:
                    print(f"t(8k)/t(2k) {name:<20} {tree.label:<12} {large[0] / small[0]:.2f} wall, "
                          f"{large[1] / small[1]:.2f} CPU (linear: 4)", flush=True)
        if args.cycle_size:
            config = root / "cycle"
            synthetic_config(config, args.cycle_size, cycle=True)
            figures = measure(trees, ["validate", "--critical"], config, args.repeat)
            for tree, (seconds, cpu, mb, status, last) in zip(trees, figures, strict=True):
                print(f"deep cycle through {args.cycle_size} aliases, validate --critical, {tree.label}: "
                      f"{seconds:.2f} s ({cpu:.2f} CPU s) {mb:.0f} MB, exit {status}: {last[:100]}", flush=True)
            probe = subprocess.run([str(Path(sys.executable).parent / "aibackend"), "validate", "--critical",
                                    "--config-dir", str(config)], capture_output=True, text=True, env={
                                        **os.environ, **ENVIRONMENT})
            cycle_lines = [line for line in (probe.stdout + probe.stderr).splitlines()
                           if "error[fallback-cycle]" in line]
            print(f"  found: {len(cycle_lines)} fallback-cycle error(s); "
                  f"{cycle_lines[0][:150] + ' ...' if cycle_lines else 'NONE'}", flush=True)
        lattice = root / "lattice"
        lattice_config(lattice)
        figures = measure(trees, ["validate"], lattice, args.repeat)
        for tree, (seconds, cpu, mb, status, last) in zip(trees, figures, strict=True):
            print(f"lattice 2 wide, 40 deep, validate, {tree.label}: {seconds:.2f} s ({cpu:.2f} CPU s) {mb:.0f} MB, exit {status}: "
                  f"{last[:90]}", flush=True)
        print(_load(), flush=True)
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
