"""Layer 7: the generated config is accepted whole by the pinned LiteLLM (in-process)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from aibackend import cli
from generator import acceptance_cache
from generator.acceptance import Prefetch, accepted_keys, cached_check, check_acceptance, representatives
from generator.layers import ALL, CRITICAL
from generator.pipeline import build

pytestmark = [pytest.mark.integration, pytest.mark.requires_litellm, pytest.mark.slow]


@pytest.fixture(scope="module")
def example_config() -> dict[str, object]:
    root = Path(__file__).resolve().parents[2]
    result = build(root / "fixtures" / "configs" / "example", layers=CRITICAL, commit="none")
    assert result.config is not None
    return result.config


def test_every_key_the_generator_writes_is_read_by_litellm(example_config: dict[str, object]) -> None:
    assert check_acceptance(example_config, "gen.yaml") == []


def test_introspection_finds_the_keys_we_rely_on() -> None:
    known = accepted_keys()
    assert {"model_list", "router_settings", "litellm_settings", "general_settings"} <= known["top"]
    assert {"model", "api_base", "api_key", "rpm", "tpm", "order"} <= known["litellm_params"]
    assert {"num_retries", "allowed_fails", "cooldown_time", "fallbacks", "max_fallbacks", "timeout",
            "stream_timeout", "default_fallbacks", "routing_strategy"} <= known["router_settings"]
    assert {"cache", "cache_params", "callbacks", "json_logs", "request_timeout", "drop_params"} <= known["litellm_settings"]
    assert "master_key" in known["general_settings"]
    assert {"id", "mode", "max_input_tokens"} <= known["model_info"]


def test_a_key_litellm_would_drop_is_reported(example_config: dict[str, object]) -> None:
    broken = copy.deepcopy(example_config)
    broken["router_settings"]["cooldown_tme"] = 5  # type: ignore[index]
    broken["model_list"][0]["litellm_params"]["api_bse"] = "http://x"  # type: ignore[index]
    found = check_acceptance(broken, "gen.yaml")
    assert [(d.code, d.path) for d in found] == [
        ("litellm-unknown-key", "litellm_params.api_bse"),
        ("litellm-unknown-key", "router_settings.cooldown_tme"),
        ("litellm-rejected", "model_list"),  # and Router(**router_settings) refuses the unknown keyword
    ]
    assert found[1].message == ("the generator wrote `cooldown_tme` under router_settings, which the installed "
                                "LiteLLM does not read (it would be dropped silently)")


def test_a_config_the_router_refuses_is_reported(example_config: dict[str, object]) -> None:
    broken = copy.deepcopy(example_config)
    broken["router_settings"]["routing_strategy"] = "no-such-strategy"  # type: ignore[index]
    found = check_acceptance(broken, "gen.yaml")
    assert [d.code for d in found] == ["litellm-rejected"]
    assert found[0].message.startswith("litellm.Router refused the generated config: ")


def test_validate_runs_all_seven_layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    root = Path(__file__).resolve().parents[2]
    config = tmp_path / "config"
    shutil.copytree(root / "fixtures" / "configs" / "example", config)
    monkeypatch.setenv("LITELLM_MASTER_KEY", "sk-" + "a" * 40)
    monkeypatch.setenv("REDIS_PASSWORD", "pw")
    assert cli.main(["generate", "--config-dir", str(config)]) == 0
    capsys.readouterr()
    assert cli.main(["validate", "--config-dir", str(config)]) == 0
    assert capsys.readouterr().out.endswith(
        "valid: 0 error(s), 0 warning(s) [layers: syntax, schema, consistency, ports, environment, staleness, litellm]\n")


# -- the shortcut: one Router per deployment shape reports exactly what the full build reports ---------
COPIES = 12


@pytest.fixture(scope="module")
def wide_config(example_config: dict[str, Any]) -> dict[str, Any]:
    """The example config with every deployment repeated under new names: many deployments, few shapes."""
    config = copy.deepcopy(example_config)
    entries = [e for e in config["model_list"] if e["model_name"] != "*"]
    config["model_list"] = []
    for i in range(COPIES):
        for entry in entries:
            clone = copy.deepcopy(entry)
            clone["model_name"] = f"{entry['model_name']}-{i}"
            clone["litellm_params"]["model"] += f"-{i}"
            clone["model_info"]["id"] = f"{entry['model_info']['id']}#{i}"
            config["model_list"].append(clone)
    config["model_list"] += [e for e in example_config["model_list"] if e["model_name"] == "*"]
    return config


def _middle(config: dict[str, Any], having: str | None = None) -> dict[str, Any]:
    """A deployment deep in the list, of a shape many others share (with litellm_params[having])."""
    entries = [e for e in config["model_list"] if having is None or having in e["litellm_params"]]
    return entries[len(entries) // 2]  # type: ignore[no-any-return]


def _break(config: dict[str, Any], how: str) -> None:
    # Where a value is changed, it is changed on a deployment that has the key already, so that the
    # value alone (not a new key) is what the shortcut must not overlook.
    entry = _middle(config, "rpm" if how.startswith("rpm") else None)
    params, info = entry["litellm_params"], entry["model_info"]
    match how:
        case "unknown top key":
            config["model_lst"] = []
        case "unknown deployment key":
            entry["model_nam"] = "x"
        case "unknown litellm_params key":
            params["api_bse"] = "http://x"
        case "unknown model_info key":
            info["max_input_tokns"] = 5
        case "unknown router_settings key":
            config["router_settings"]["cooldown_tme"] = 5
        case "unknown litellm_settings key":
            config["litellm_settings"]["json_log"] = True
        case "unknown general_settings key":
            config["general_settings"]["master_ky"] = "x"
        case "router refuses a setting":
            config["router_settings"]["routing_strategy"] = "no-such-strategy"
        case "unsupported provider":
            params["model"] = "no-such-provider/" + params["model"].split("/", 1)[1]
        case "rpm is not a number":
            params["rpm"] = "many"
        case "rpm is negative":
            params["rpm"] = -5
        case "nothing after the provider prefix":
            params["model"] = params["model"].split("/", 1)[0] + "/"
        case "model name is a number":
            entry["model_name"] = 7
        case "id is a number":
            info["id"] = 12345
        case "empty model name":
            entry["model_name"] = ""
        case "invalid tag regex":
            params["tag_regex"] = ["("]
        case "deployment for another environment":
            info["supported_environments"] = ["production"]
        case "two deployments with one id":
            info["id"] = config["model_list"][0]["model_info"]["id"]
        case "one entry, two organizations":
            params["organization"] = ["org-a", "org-b"]
        case "entry that is not a mapping":
            config["model_list"][len(config["model_list"]) // 2] = "not a deployment"
        case _:
            raise AssertionError(how)


BREAKAGES = {
    "unknown top key": ["litellm-unknown-key"],
    "unknown deployment key": ["litellm-unknown-key"],  # the Router ignores it: why the key check exists
    "unknown litellm_params key": ["litellm-unknown-key"],
    "unknown model_info key": ["litellm-unknown-key"],
    "unknown router_settings key": ["litellm-unknown-key", "litellm-rejected"],
    "unknown litellm_settings key": ["litellm-unknown-key"],
    "unknown general_settings key": ["litellm-unknown-key"],
    "router refuses a setting": ["litellm-rejected"],
    "unsupported provider": ["litellm-rejected"],
    "rpm is not a number": ["litellm-rejected"],
    "rpm is negative": [],
    "nothing after the provider prefix": [],
    "model name is a number": ["litellm-rejected"],
    "id is a number": [],
    "empty model name": [],
    "invalid tag regex": ["litellm-rejected"],
    # supported_environments is read by the Router, but not declared in LiteLLM's ModelInfo: both findings
    "deployment for another environment": ["litellm-unknown-key", "litellm-dropped-deployment"],
    "two deployments with one id": [],
    "one entry, two organizations": ["litellm-dropped-deployment"],
    "entry that is not a mapping": ["litellm-rejected"],
}


def test_the_shortcut_builds_one_deployment_per_shape(wide_config: dict[str, Any]) -> None:
    sample = representatives(wide_config["model_list"])
    assert sample is not None
    assert len(wide_config["model_list"]) == 13 * COPIES + 1
    # ollama, ollama+limits, ollama+order, llama-cpp-python (+limits? no), llama-server with its header,
    # vllm, vllm+limits, vllm+order, and the catch-all: a few shapes whatever the number of copies
    assert len(sample) <= 12
    assert check_acceptance(wide_config, "gen.yaml") == check_acceptance(wide_config, "gen.yaml", exhaustive=True) == []


@pytest.mark.parametrize("how", list(BREAKAGES))
def test_the_shortcut_reports_exactly_what_the_full_build_reports(
    wide_config: dict[str, Any], how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # LiteLLM reads supported_environments against LITELLM_ENVIRONMENT
    monkeypatch.setenv("LITELLM_ENVIRONMENT", "development")
    broken = copy.deepcopy(wide_config)
    _break(broken, how)
    full = check_acceptance(broken, "gen.yaml", exhaustive=True)
    assert sorted({d.code for d in full}) == sorted(set(BREAKAGES[how])), [d.format() for d in full]
    assert check_acceptance(broken, "gen.yaml") == full


def test_the_worker_reports_what_the_in_process_check_reports(
    wide_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = copy.deepcopy(wide_config)
    _break(broken, "unsupported provider")
    _break(broken, "unknown router_settings key")
    for config in (wide_config, broken):
        worker = Prefetch()
        try:
            assert worker.check(config, "gen.yaml") == check_acceptance(config, "gen.yaml")
        finally:
            worker.close()
        assert worker.process.returncode == 0


def test_validate_imports_litellm_in_a_worker_and_leaves_none_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: Path
) -> None:
    # `cache`: empty, so that LiteLLM is asked (a kept answer would stop the worker unasked)
    import shutil
    import sys

    from generator import pipeline

    started: list[Prefetch] = []

    class Recorded(Prefetch):
        def __init__(self) -> None:
            super().__init__()
            started.append(self)

    monkeypatch.setattr(pipeline, "Prefetch", Recorded)
    monkeypatch.delitem(sys.modules, "litellm")  # as in a fresh `aibackend validate`
    root = Path(__file__).resolve().parents[2]
    config = tmp_path / "config"
    shutil.copytree(root / "fixtures" / "configs" / "example", config)
    env = {"LITELLM_MASTER_KEY": "sk-" + "a" * 40, "REDIS_PASSWORD": "pw"}
    result = build(config, layers=ALL, environ=env, commit="none")
    assert result.layers_run[-1] == "litellm" and result.ok, [d.format() for d in result.diagnostics]
    assert len(started) == 1 and started[0].process.returncode == 0  # it answered and exited
    # layer 3 finds an error: the build stops, and the worker importing LiteLLM is stopped with it
    mappings = config / "model-mappings.yaml"
    cycle = '  "llama-cpp-python":\n    chain: [llama-cpp-native]\n'
    assert cycle in mappings.read_text()
    mappings.write_text(mappings.read_text().replace(cycle, cycle + '  "llama-cpp-native":\n    chain: [llama-cpp-python]\n'))
    result = build(config, layers=ALL, environ=env, commit="none")
    assert [d.code for d in result.diagnostics if d.severity == "error"] == ["fallback-cycle"]
    assert len(started) == 2 and started[1].process.returncode is not None
    assert started[1].process.returncode != 0  # killed, not left to finish its import


def test_a_worker_interrupted_with_the_terminal_ends_quietly() -> None:
    import signal
    import time

    worker = Prefetch()
    time.sleep(0.5)  # inside its import of LiteLLM
    worker.process.send_signal(signal.SIGINT)
    _, err = worker.process.communicate(timeout=60)
    assert worker.process.returncode == -signal.SIGINT
    assert b"Traceback" not in err


# -- layer 7's kept answers (generator.acceptance_cache) never say what the real check would not ---------
# The cache is a pure function of its key: the installed LiteLLM, the exact deployments built and
# router_settings, the environment the config names. These tests run the real check and then ask
# the cache: it must answer exactly the same, or not at all.
@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "kept"
    monkeypatch.setenv(acceptance_cache.ENV, str(where))
    return where


def test_an_empty_cache_answers_nothing_and_a_checked_config_is_answered_alike(
    wide_config: dict[str, Any], cache: Path
) -> None:
    assert cached_check(wide_config, "gen.yaml") is None
    assert check_acceptance(wide_config, "gen.yaml") == []
    assert cached_check(wide_config, "gen.yaml") == []
    assert sorted(p.name.split("-")[0] for p in cache.iterdir()) == ["accepted", "keys"]


@pytest.mark.parametrize("how", list(BREAKAGES))
def test_after_the_real_check_the_cache_says_the_same_or_nothing(
    wide_config: dict[str, Any], cache: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LITELLM_ENVIRONMENT", "development")
    check_acceptance(wide_config, "gen.yaml")  # the correct config's answers are kept first
    broken = copy.deepcopy(wide_config)
    _break(broken, how)
    before = cached_check(broken, "gen.yaml")
    real = check_acceptance(broken, "gen.yaml")
    after = cached_check(broken, "gen.yaml")
    for answer in (before, after):
        assert answer is None or answer == real, (how, answer, real)
    refused = {"litellm-rejected", "litellm-dropped-deployment"} & {d.code for d in real}
    # A refusal is never kept; an acceptance always is, unknown keys and all.
    assert (after is None) == bool(refused), (how, [d.format() for d in real])


def test_another_litellm_installation_is_a_miss(
    wide_config: dict[str, Any], cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    check_acceptance(wide_config, "gen.yaml")
    assert cached_check(wide_config, "gen.yaml") == []
    real = acceptance_cache._installed()
    assert real is not None and real[0] == "1.106.2"
    monkeypatch.setattr(acceptance_cache, "_installed", lambda: (real[0], "another-installation"))
    assert cached_check(wide_config, "gen.yaml") is None


def test_a_changed_environment_value_the_config_names_is_a_miss(
    wide_config: dict[str, Any], cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = copy.deepcopy(wide_config)
    for entry in config["model_list"]:
        entry["litellm_params"]["api_key"] = "os.environ/CACHE_TEST_KEY"
    monkeypatch.setenv("CACHE_TEST_KEY", "sk-kept-as-hash-7f3a")
    check_acceptance(config, "gen.yaml")
    assert cached_check(config, "gen.yaml") == []
    monkeypatch.setenv("CACHE_TEST_KEY", "two")
    assert cached_check(config, "gen.yaml") is None
    monkeypatch.delenv("CACHE_TEST_KEY")
    assert cached_check(config, "gen.yaml") is None
    assert "sk-kept-as-hash-7f3a" not in "".join(p.read_text() for p in cache.iterdir())  # as a hash only


def test_unreadable_or_corrupt_answers_are_misses_and_off_keeps_nothing(
    wide_config: dict[str, Any], cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    check_acceptance(wide_config, "gen.yaml")
    for kept in cache.iterdir():
        kept.write_text("{not json")
    assert cached_check(wide_config, "gen.yaml") is None
    monkeypatch.setenv(acceptance_cache.ENV, "off")
    check_acceptance(wide_config, "gen.yaml")
    assert cached_check(wide_config, "gen.yaml") is None
    assert all(p.read_text() == "{not json" for p in cache.iterdir())


def test_a_build_with_kept_answers_does_not_ask_litellm(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from generator import acceptance

    root = Path(__file__).resolve().parents[2]
    config = tmp_path / "config"
    shutil.copytree(root / "fixtures" / "configs" / "example", config)
    env = {"LITELLM_MASTER_KEY": "sk-" + "a" * 40, "REDIS_PASSWORD": "pw"}
    first = build(config, layers=ALL, environ=env, commit="none")
    assert first.ok and first.layers_run[-1] == "litellm"

    def no_litellm(*args: object, **kwargs: object) -> None:
        raise AssertionError("LiteLLM was asked although its answer was kept")

    monkeypatch.setattr(acceptance.Prefetch, "check", no_litellm)
    monkeypatch.setattr(acceptance, "check_acceptance", no_litellm)
    again = build(config, layers=ALL, environ=env, commit="none")
    assert again.ok and again.diagnostics == first.diagnostics and again.layers_run == first.layers_run
    # An edit that changes what the Router is built from (its router_settings): asked again.
    gateway = config / "gateway.yaml"
    assert "num_retries: 2" in gateway.read_text()
    gateway.write_text(gateway.read_text().replace("num_retries: 2", "num_retries: 3"))
    with pytest.raises(AssertionError, match="was asked although"):
        build(config, layers=ALL, environ=env, commit="none")
