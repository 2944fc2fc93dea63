"""Benchmark: validate + generate at 1k, 4k, 16k models and on a narrow lattice of fallbacks.

Prints figures; asserts nothing (performance is measured, not asserted in tests).
Target on a 2-core machine: 8,000 models validated and generated in under 5 s, growing linearly.

    .venv/bin/python benchmarks/bench_compile.py [--sizes 1000 4000 16000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from generator.pipeline import build


def synthetic_config(directory: Path, models: int, providers: int = 8) -> None:
    """``models`` model names over ``providers`` providers, with aliases, capabilities and chains."""
    directory.mkdir(parents=True)
    per = models // providers
    registry = {
        f"p{p}": {
            "type": ["ollama", "vllm", "llama_cpp_python", "openai"][p % 4],
            "base_url": f"http://127.0.0.1:{10000 + p}" + ("/v1" if p % 4 == 3 else ""),
            "models": [{"name": f"model-{p}-{i}", "context_length": 8192} for i in range(per)],
        }
        for p in range(providers)
    }
    names = [m["name"] for p in registry.values() for m in p["models"]]  # type: ignore[index]
    aliases = {f"alias-{i}": {"provider": f"p{i % providers}", "backend_model": f"model-{i % providers}-{i // providers}"}
               for i in range(models // 10)}
    capabilities = {f"cap-{i}": {"preferred_models": names[i * 3 : i * 3 + 3], "routing_strategy": "fallback"}
                    for i in range(models // 100)}
    # chains: each name falls back to the next two (a DAG, the common shape)
    chains = {names[i]: {"chain": [names[i + 1], names[i + 2]]} for i in range(0, len(names) - 2, 2)}
    mappings = {
        "exact_matches": aliases,
        "capabilities": capabilities,
        "patterns": [{"pattern": "^model-0-1.*", "provider": "p0"}],
        "fallback_chains": chains,
        "rate_limits": {names[i]: {"rpm": 100} for i in range(0, len(names), 50)},
        "routing_rules": {"default_provider": "p0"},
    }
    (directory / "providers.yaml").write_text(yaml.safe_dump({"providers": registry}, sort_keys=False))
    (directory / "model-mappings.yaml").write_text(yaml.safe_dump(mappings, sort_keys=False))


def lattice_config(directory: Path, width: int = 2, depth: int = 40) -> None:
    directory.mkdir(parents=True)
    names = [f"m{level}_{side}" for level in range(depth + 1) for side in range(width)]
    registry = {"p": {"type": "ollama", "base_url": "http://127.0.0.1:11434", "models": names}}
    chains = {f"m{level}_{side}": {"chain": [f"m{level + 1}_{s}" for s in range(width)]}
              for level in range(depth) for side in range(width)}
    (directory / "providers.yaml").write_text(yaml.safe_dump({"providers": registry}))
    (directory / "model-mappings.yaml").write_text(yaml.safe_dump({"fallback_chains": chains}))


def measure(directory: Path, repeat: int) -> tuple[float, int]:
    times = []
    deployments = 0
    for _ in range(repeat):
        start = time.perf_counter()
        result = build(directory, environ={"LITELLM_MASTER_KEY": "x", "REDIS_PASSWORD": "x"}, commit="none")
        times.append(time.perf_counter() - start)
        assert result.ok, [d.format() for d in result.diagnostics[:5]]
        deployments = len(result.config["model_list"]) if result.config else 0
    return statistics.median(times), deployments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 8000, 16000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-compile-"))
    try:
        print(f"{'config':<24} {'deployments':>11} {'median s':>9} {'us/model':>9}")
        for size in args.sizes:
            directory = root / f"n{size}"
            synthetic_config(directory, size)
            seconds, deployments = measure(directory, args.repeat)
            print(f"{f'{size} models':<24} {deployments:>11} {seconds:>9.3f} {seconds / size * 1e6:>9.1f}")
        lattice = root / "lattice"
        lattice_config(lattice)
        seconds, deployments = measure(lattice, args.repeat)
        print(f"{'lattice 2 wide, 40 deep':<24} {deployments:>11} {seconds:>9.3f} {'':>9}")
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
