"""``aibackend providers``, run as an operator runs it, on a copy of the example config.

Whole outputs and whole files are compared: an edit must change exactly the lines it names,
refuse (exit 1, file:line:reason, nothing written) what would not validate, and be undone by
``providers rollback``. No gateway runs here (``--apply`` then regenerates only); reloading a
running gateway is tests/rollback/test_switch.py's subject.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from contracts.simulators import SimulatorConfig, start_simulator
from tests.plugins.configs import EXAMPLE_CONFIG
from tests.plugins.gateway import aibackend

pytestmark = [pytest.mark.integration]

MISTRAL_BLOCK = (
    "\n"
    "  vllm-mistral:\n"
    "    type: vllm\n"
    "    base_url: http://127.0.0.1:8003\n"
    "    status: disabled\n"
    "    exclusive_group: gpu0\n"
    "    models:\n"
    "      - mistralai/Mistral-7B-Instruct-v0.3\n"
)


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(EXAMPLE_CONFIG, target)
    return target


def run(cfg: Path, *args: str) -> tuple[int, str, str]:
    result = aibackend("providers", *args, "--config-dir", str(cfg), timeout=120)
    return result.returncode, result.stdout, result.stderr


def files(cfg: Path) -> dict[str, bytes]:
    return {str(p.relative_to(cfg)): p.read_bytes() for p in sorted(cfg.rglob("*")) if p.is_file()
            and ".run" not in p.parts}


def test_list_shows_every_provider(cfg: Path) -> None:
    code, out, err = run(cfg, "list")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "NAME              TYPE              STATUS    GROUP  BASE URL                   MODELS",
        "ollama            ollama            active    -      http://127.0.0.1:11434     "
        "llama3.1:8b, qwen2.5-coder:7b, mythomax-l2-13b-q5_k_m",
        "llama_cpp_python  llama_cpp_python  active    -      http://127.0.0.1:8000      llama-cpp-default",
        "llama_cpp_native  llama_cpp         active    -      http://127.0.0.1:8080      llama-cpp-native",
        "vllm-qwen         vllm              active    gpu0   http://127.0.0.1:8001      "
        "Qwen/Qwen2.5-Coder-7B-Instruct-AWQ",
        "vllm-dolphin      vllm              disabled  gpu0   http://127.0.0.1:8002      "
        "cognitivecomputations/Dolphin3.0-Llama3.1-8B",
        "ollama_cloud      ollama            template  -      https://ollama.com         deepseek-v3.1:671b-cloud",
        "openai            openai            template  -      https://api.openai.com/v1  gpt-4o-mini",
    ]


def test_list_health_probes_deployed_providers_and_reports_json(cfg: Path) -> None:
    with start_simulator(SimulatorConfig(type="vllm", models=["m"])) as sim:
        text = (cfg / "providers.yaml").read_text().replace("http://127.0.0.1:8002", sim.url)
        (cfg / "providers.yaml").write_text(text)
        code, out, _ = run(cfg, "list", "--json", "--health", "--timeout", "2")
    assert code == 0
    document = json.loads(out)
    rows = {row["name"]: row for row in document["providers"]}
    assert list(rows) == ["ollama", "llama_cpp_python", "llama_cpp_native", "vllm-qwen", "vllm-dolphin",
                          "ollama_cloud", "openai"]
    dolphin = rows["vllm-dolphin"]
    assert {k: dolphin[k] for k in ("type", "status", "base_url", "models", "exclusive_group")} == {
        "type": "vllm", "status": "disabled", "base_url": sim.url,
        "models": ["cognitivecomputations/Dolphin3.0-Llama3.1-8B"], "exclusive_group": "gpu0"}
    assert dolphin["health"]["state"] == "up" and dolphin["health"]["latency_ms"] > 0
    # The example's other local ports are fixed ones: what answers there on a shared machine is not
    # this test's business, only that they were probed.
    assert rows["vllm-qwen"]["health"]["url"] == "http://127.0.0.1:8001/health"
    assert rows["openai"]["health"] is None and rows["ollama_cloud"]["health"] is None  # templates


def test_add_appends_one_block_validates_and_can_be_rolled_back(cfg: Path) -> None:
    before = files(cfg)
    original = (cfg / "providers.yaml").read_text()
    code, out, err = run(cfg, "add", "vllm-mistral", "--type", "vllm", "--base-url", "http://127.0.0.1:8003",
                         "--model", "mistralai/Mistral-7B-Instruct-v0.3", "--status", "disabled",
                         "--exclusive-group", "gpu0", "--skip-litellm-check")
    assert code == 0, out + err
    assert (cfg / "providers.yaml").read_text() == original + MISTRAL_BLOCK
    [backup] = (cfg / "backups").glob("providers.*.yaml")
    assert backup.read_text() == original
    assert f"  undo with: aibackend providers rollback --config-dir {cfg} {backup.name}" in out
    assert "the gateway config was not regenerated: pass --apply" in out
    assert "+  vllm-mistral:" in out  # the change is shown
    # Nothing but providers.yaml and its backup changed (the generated file is regenerated only with --apply).
    after = files(cfg)
    assert {k for k in after if after[k] != before.get(k)} == {"providers.yaml", f"backups/{backup.name}"}

    code, out, err = run(cfg, "rollback", backup.name)
    assert code == 0, out + err
    assert (cfg / "providers.yaml").read_text() == original
    assert f"restored {backup.name}" in out and "undo with: aibackend providers rollback" in out
    code, out, _ = run(cfg, "backups")
    assert code == 0 and len(out.splitlines()) == 3  # header, the add's backup, the rollback's safety copy



def test_the_top_level_rollback_undoes_an_edit_given_its_backup_and_leaves_the_generated_config(cfg: Path) -> None:
    original = (cfg / "providers.yaml").read_bytes()
    generated = (cfg / "litellm-unified.yaml").read_bytes() if (cfg / "litellm-unified.yaml").exists() else None
    code, out, err = run(cfg, "disable", "llama_cpp_native", "--skip-litellm-check")
    assert code == 0, out + err
    assert (cfg / "providers.yaml").read_bytes() != original
    [backup] = (cfg / "backups").glob("providers.*.yaml")

    result = aibackend("rollback", "--config-dir", str(cfg), backup.name, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (cfg / "providers.yaml").read_bytes() == original
    assert f"restored {backup.name} as {cfg / 'providers.yaml'}" in result.stdout
    # `aibackend rollback` has no --apply: it says what to run instead, and the generated config is untouched.
    assert ("the gateway config was not regenerated: run `aibackend reload` (a running gateway) or "
            "`aibackend generate`") in result.stdout
    after = (cfg / "litellm-unified.yaml").read_bytes() if (cfg / "litellm-unified.yaml").exists() else None
    assert after == generated
    assert not list((cfg / "backups").glob("litellm-unified.*.yaml"))

def test_enable_and_disable_change_one_line_and_apply_regenerates(cfg: Path) -> None:
    original = (cfg / "providers.yaml").read_text()
    code, out, err = run(cfg, "disable", "llama_cpp_native", "--apply", "--skip-litellm-check")
    assert code == 0, out + err
    assert (cfg / "providers.yaml").read_text() == original.replace(
        "    base_url: http://127.0.0.1:8080\n    status: active\n", "    base_url: http://127.0.0.1:8080\n    status: disabled\n")
    assert "wrote " in out and "litellm-unified.yaml (no gateway is running, so none was reloaded)" in out
    check = aibackend("generate", "--check", "--skip-litellm-check", "--config-dir", str(cfg))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "llama-cpp-native" not in {line.split(": ", 1)[-1] for line in (cfg / "litellm-unified.yaml").read_text()
                                      .splitlines() if "model_name:" in line}
    code, out, _ = run(cfg, "enable", "llama_cpp_native", "--skip-litellm-check")
    assert code == 0 and (cfg / "providers.yaml").read_text() == original
    code, out, _ = run(cfg, "enable", "llama_cpp_native", "--skip-litellm-check")
    assert (code, out.strip().splitlines()[-1]) == (
        0, f"providers enable llama_cpp_native: {cfg}/providers.yaml already says active; nothing changed")
    # No `status:` line means active: enabling such a provider adds no line either.
    implicit = original.replace("    base_url: http://127.0.0.1:8000\n    status: active\n", "    base_url: http://127.0.0.1:8000\n")
    (cfg / "providers.yaml").write_text(implicit)
    code, out, _ = run(cfg, "enable", "llama_cpp_python", "--skip-litellm-check")
    assert code == 0 and "already says active; nothing changed" in out
    assert (cfg / "providers.yaml").read_text() == implicit


@pytest.mark.parametrize(("args", "expected"), [
    (("enable", "vllm-dolphin"), [
        "providers.yaml:61: error[exclusive-group-conflict] providers.vllm-dolphin.status: providers `vllm-qwen` "
        "and `vllm-dolphin` of exclusive group `gpu0` are both active; only one member of a group can run at a time",
        "    hint: set status: disabled on one of them, or let `aibackend switch vllm-dolphin` do it",
    ]),
    (("disable", "ollama"), [
        "model-mappings.yaml:33: error[inactive-provider] patterns[1].provider: provider `ollama` is disabled",
        "    hint: set providers.ollama.status: active, or name an active provider",
        "model-mappings.yaml:49: error[inactive-provider] routing_rules.default_provider: provider `ollama` is "
        "disabled",
        "    hint: set providers.ollama.status: active, or name an active provider",
    ]),
    (("add", "ollama2", "--type", "olama", "--base-url", "http://127.0.0.1:11435", "--model", "m"), [
        "providers.yaml:87: error[unknown-provider-type] providers.ollama2.type: unknown provider type 'olama'",
        "    hint: did you mean 'ollama'? known types: anthropic, llama_cpp, llama_cpp_python, ollama, openai, vllm",
    ]),
    (("add", "ollama2", "--type", "ollama", "--base-url", "http://127.0.0.1:11434", "--model", "m"), [
        "providers.yaml:88: error[port-conflict] providers.ollama2.base_url: providers `ollama` and `ollama2` both "
        "use localhost:11434",
        "    hint: give each active provider its own port (one server per port)",
    ]),
])
def test_an_edit_that_would_be_invalid_is_refused_and_nothing_is_written(
    cfg: Path, args: tuple[str, ...], expected: list[str]
) -> None:
    before = files(cfg)
    code, out, err = run(cfg, *args, "--skip-litellm-check")
    assert code == 1, out + err
    lines = [line.replace(f"{cfg}/", "") for line in err.splitlines()]
    errors = len([line for line in expected if not line.startswith(" ")])
    assert lines == [*expected, f"aibackend providers: error: refused: with this change {cfg}/providers.yaml would "
                     f"be invalid ({errors} error(s) above); nothing was written".replace(f"{cfg}/", "")]
    assert files(cfg) == before


def test_remove_of_a_provider_still_routed_to_is_refused(cfg: Path) -> None:
    before = files(cfg)
    code, _, err = run(cfg, "remove", "vllm-qwen", "--skip-litellm-check")
    assert code == 1
    assert "model-mappings.yaml:10: error[unknown-provider] exact_matches.qwen-coder-vllm.provider: unknown provider " \
           "`vllm-qwen`" in err
    assert "model-mappings.yaml:31: error[unknown-provider] patterns[0].provider" in err
    assert files(cfg) == before
    code, out, err = run(cfg, "remove", "openai", "--skip-litellm-check", "--dry-run")
    assert code == 0 and "dry run: nothing was written" in out and "-  openai:" in out
    assert files(cfg) == before
    code, out, err = run(cfg, "remove", "openai", "--skip-litellm-check")
    assert code == 0, err
    assert (cfg / "providers.yaml").read_text() == before["providers.yaml"].decode().replace(
        "\n  openai:\n    type: openai\n    base_url: https://api.openai.com/v1\n    status: template\n"
        "    api_key_env: OPENAI_API_KEY\n    models:\n      - gpt-4o-mini\n", "")


def test_unknown_names_and_usage_mistakes(cfg: Path) -> None:
    code, _, err = run(cfg, "disable", "vllm-qwn")
    assert code == 1
    assert err.splitlines()[0] == (f"aibackend providers: error: unknown provider `vllm-qwn` in {cfg}/providers.yaml, "
                                   "did you mean `vllm-qwen`?")
    code, _, err = run(cfg, "add", "x", "--type", "vllm", "--base-url", "http://127.0.0.1:9")
    assert code == 2 and "give at least one --model M" in err
    code, _, err = run(cfg, "add", "x", "--model", "m")
    assert code == 2 and "the following arguments are required: --type, --base-url" in err
    code, _, err = run(cfg, "rollback")
    assert code == 1 and "there are no backups of" in err
