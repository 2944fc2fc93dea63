"""``aibackend simulate`` from the outside: its URL line, SIGTERM, bad flags (exit 2), a taken port
(exit 1) — messages compared whole."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.plugins.processes import signalable

pytestmark = [pytest.mark.contract]

AIBACKEND = [str(Path(sys.executable).with_name("aibackend"))]
MODULE = [sys.executable, "-m", "contracts.simulators"]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_runs_until_sigterm_printing_its_url() -> None:
    # SIGTERM at its default whatever this run inherited (tests.plugins.processes.signalable).
    process = subprocess.Popen(signalable([*AIBACKEND, "simulate", "llama_cpp", "--port", "0", "--model", "tiny.gguf"]),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("simulating llama_cpp on http://127.0.0.1:")
        assert line.endswith(" (models: tiny.gguf; listening; stop with Ctrl-C)\n")
        url = line.split()[3]
        assert httpx.get(url + "/v1/models").json()["data"][0]["id"] == "tiny.gguf"
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        process.kill()
        process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["simulate", "tgi"], "argument TYPE: invalid choice: 'tgi' (choose from 'llama_cpp', "
                              "'llama_cpp_python', 'ollama', 'openai', 'vllm')"),
        (["simulate", "vllm", "--tpot-ms", "-3"], "argument --tpot-ms: expected a number >= 0, got '-3'"),
        (["simulate", "vllm", "--slots", "0"], "argument --slots: expected an integer >= 1, got '0'"),
        (["simulate", "vllm", "--error-rate", "2"],
         "argument --error-rate: expected a probability between 0 and 1, got '2'"),
        (["simulate", "vllm", "--error-status", "200"],
         "argument --error-status: expected an HTTP error status 400-599, got '200'"),
        (["simulate", "vllm", "--port", "70000"], "argument --port: expected a port 0-65535, got '70000'"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(argv: list[str], message: str) -> None:
    result = _run([*AIBACKEND, *argv])
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith(f"error: {message}")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["llama_cpp", "--model", "a", "--model", "b"],
         "simulate llama_cpp: models: llama_cpp serves exactly one model (got 2: ['a', 'b'])"),
        (["openai", "--violate", "ndjson-done"],
         "simulate openai: violations: 'ndjson-done' is not a violation mode of the openai simulator; available: "
         "chat-schema, completion-schema, error-schema, invalid-param, json-content-type, malformed-body, max-tokens, "
         "missing-field, models-schema, sse-chunk-json, sse-chunk-schema, sse-content-type, sse-done, "
         "sse-finish-reason, sse-framing, sse-usage, stream-options-without-stream, unknown-model, usage-arithmetic"),
    ],
)
def test_invalid_combinations_exit_2(argv: list[str], message: str) -> None:
    result = _run([*AIBACKEND, "simulate", *argv])
    assert (result.returncode, result.stderr) == (2, f"aibackend simulate: error: {message}\n")
    module = _run([*MODULE, *argv])
    assert (module.returncode, module.stderr) == (2, f"simulate: error: {message}\n")


def test_port_in_use_exits_1_with_a_hint() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run([*AIBACKEND, "simulate", "vllm", "--port", str(port)])
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (f"aibackend simulate: error: port {port} on 127.0.0.1 is already in use\n"
                             "  hint: pick another with --port N, or --port 0 for a free one\n")
