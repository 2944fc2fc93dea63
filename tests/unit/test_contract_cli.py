"""``aibackend contract`` without sockets: bad usage (exit 2, clear message) and where the key
comes from (respx stands in for the server)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import respx

from aibackend.cli import main

pytestmark = [pytest.mark.unit]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            [],
            "aibackend contract: error: no target given\n  hint: pass --target TYPE=URL (repeatable) or --providers-file PATH\n",
        ),
        (
            ["--providers-file", "/nonexistent/providers.yaml"],
            "aibackend contract: error: --providers-file /nonexistent/providers.yaml: cannot read it: No such file or directory\n",
        ),
        (
            ["--target", "vllm"],
            "aibackend contract: error: --target 'vllm': expected TYPE=URL\n  hint: e.g. --target vllm=http://127.0.0.1:8000\n",
        ),
        (
            ["--target", "=http://127.0.0.1:8000"],
            "aibackend contract: error: --target '=http://127.0.0.1:8000': expected TYPE=URL\n"
            "  hint: e.g. --target vllm=http://127.0.0.1:8000\n",
        ),
        (
            ["--target", "tgi=http://127.0.0.1:8000"],
            "aibackend contract: error: --target 'tgi=http://127.0.0.1:8000': unknown provider type 'tgi'\n"
            "  hint: use one of: llama_cpp, llama_cpp_python, ollama, openai, vllm, litellm\n",
        ),
        (
            ["--target", "vllm=127.0.0.1:8000"],
            "aibackend contract: error: --target 'vllm=127.0.0.1:8000': '127.0.0.1:8000' is not an http(s) URL with a host\n"
            "  hint: e.g. http://127.0.0.1:8000\n",
        ),
        (
            ["--target", "vllm=http://127.0.0.1:8000", "--fuzz-examples", "-1"],
            "aibackend contract: error: --fuzz-examples must be >= 0 (got -1)\n",
        ),
    ],
    ids=["no-target", "no-registry", "no-url", "no-type", "unknown-type", "no-scheme", "negative-fuzz"],
)
def test_bad_usage_exits_2_with_a_clear_message(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contract", *argv]) == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", message)


def test_an_invalid_providers_file_is_reported_as_validate_reports_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = tmp_path / "providers.yaml"
    registry.write_text("providers:\n  a:\n    type: vllm\n    base_ulr: http://127.0.0.1:8000\n    models: [m]\n", encoding="utf-8")
    assert main(["contract", "--providers-file", str(registry)]) == 1
    assert capsys.readouterr().err == (
        f"{registry}:4: error[unknown-key] providers.a.base_ulr: unknown key `base_ulr`, did you mean `base_url`?\n"
        "    hint: rename it to `base_url`\n"
        "aibackend contract: error: configuration is invalid: 1 error(s)\n"
    )


def test_a_bad_second_target_fails_before_anything_is_sent(capsys: pytest.CaptureFixture[str]) -> None:
    with respx.mock(assert_all_called=False) as mock:
        assert main(["contract", "--target", "vllm=http://a.test", "--target", "x=http://b.test"]) == 2
        assert mock.calls.call_count == 0
    assert "unknown provider type 'x'" in capsys.readouterr().err


def test_litellm_without_its_key_variable(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("LITELLM_MASTER_KEY", raising=False)
    assert main(["contract", "--target", "litellm=http://127.0.0.1:4000"]) == 2
    assert capsys.readouterr().err == (
        "aibackend contract: error: environment variable LITELLM_MASTER_KEY is not set (the litellm target needs its bearer key)\n"
        "  hint: export LITELLM_MASTER_KEY=... or name another variable with --api-key-env VAR\n"
    )


def test_the_key_is_read_from_the_named_variable_and_sent_on_every_request(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MY_GATEWAY_KEY", "sk-from-env-0123456789")
    with respx.mock(base_url="http://gw.test") as mock:
        mock.get("/v1/models").respond(200, json={"object": "list", "data": [{"id": "m", "object": "model", "created": 1, "owned_by": "o"}]})
        mock.route().respond(503, json={"error": {"message": "down", "type": "x", "param": None, "code": None}})
        assert main(["contract", "--target", "openai=http://gw.test", "--api-key-env", "MY_GATEWAY_KEY"]) == 1
        assert mock.calls.call_count > 10
        assert {call.request.headers.get("authorization") for call in mock.calls} == {"Bearer sk-from-env-0123456789"}
    assert "sk-from-env" not in capsys.readouterr().out


def test_no_key_is_sent_without_one(capsys: pytest.CaptureFixture[str]) -> None:
    with respx.mock(base_url="http://v.test") as mock:
        mock.get("/v1/models").respond(200, json={"object": "list", "data": [{"id": "m", "object": "model", "created": 1, "owned_by": "o"}]})
        mock.route().mock(side_effect=httpx.ConnectError("refused"))
        assert main(["contract", "--target", "openai=http://v.test"]) == 1
        assert {call.request.headers.get("authorization") for call in mock.calls} == {None}
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("openai=http://v.test (model m): 12 checks, ")
    assert "    got:      ConnectError: refused" in out
