"""``--dataset``, ``--tokenizer``, ``--ignore-eos`` and ``--extra-body`` end to end, against a
simulator that honours ``ignore_eos`` and ``max_tokens`` and counts what it generated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aibackend.cli import main
from loadtests.report import load_records, records_path

pytestmark = [pytest.mark.load, pytest.mark.slow]


def word_tokenizer(directory: Path) -> Path:
    """A Hugging Face tokenizer.json in which a word is a token (as the simulator counts them)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["[UNK]", "ask", "say", "tok"] + [f"w{i}" for i in range(100)]
    tok = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    directory.mkdir(parents=True, exist_ok=True)
    tok.save(str(directory / "tokenizer.json"))
    return directory


def dataset(path: Path) -> dict[str, tuple[int, int]]:
    entries, lengths = [], {}
    for i in range(6):
        prompt, answer = " ".join(["ask"] * (6 + i)), " ".join(["say"] * (10 + 3 * i))
        entries.append({"id": f"c{i}", "conversations": [{"from": "human", "value": prompt},
                                                          {"from": "gpt", "value": answer}]})
        lengths[f"c{i}"] = (6 + i, 10 + 3 * i)
    path.write_text(json.dumps(entries), encoding="utf-8")
    return lengths


@pytest.mark.parametrize("ignore_eos", [True, False])
def test_a_dataset_replays_with_real_token_counts(simulator_factory: Any, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str], ignore_eos: bool) -> None:
    sim = simulator_factory("vllm", ttft_ms=5, tpot_ms=1, output_tokens=4, slots=64)
    lengths = dataset(tmp_path / "sg.json")
    report = tmp_path / "r.json"
    code = main(["loadtest", "--host", sim.url, "--model", sim.stats()["models"][0], "--users", "2", "--requests", "12",
                 "--dataset", str(tmp_path / "sg.json"), "--tokenizer", str(word_tokenizer(tmp_path / "tok")),
                 "--extra-body", '{"temperature": 0.5}', *(["--ignore-eos"] if ignore_eos else []),
                 "--report", str(report)])
    assert code == 0, capsys.readouterr().out
    records = load_records(records_path(report))
    assert len(records) == 12 and {r.prompt_id for r in records} == set(lengths)
    for r in records:
        prompt_len, answer_len = lengths[r.prompt_id]
        assert r.prompt_tokens_requested == prompt_len and r.prompt_tokens_unit == "tokenizer"
        assert r.max_tokens_requested == answer_len  # the output length comes from the data
        # ignore_eos reached the server: it generated max_tokens; without it, its natural 4
        assert r.output_tokens == (answer_len if ignore_eos else 4)
        assert r.tokenizer_output_tokens == r.output_tokens  # the tokenizer counts the text the server sent
    data = json.loads(report.read_text())
    assert data["output_tokens_source"] == "server_usage" and data["tokenizer_id"] == str(tmp_path / "tok")
    assert data["run"]["prompt_tokens_unit"] == "tokens" and data["run"]["ignore_eos"] is ignore_eos
    assert data["run"]["extra_body"] == {"temperature": 0.5}
    assert data["token_counts"]["tokenizer_output_tokens"] == data["total_output_tokens"]


def test_bad_workload_input_is_a_usage_error_before_anything_is_sent(simulator_factory: Any, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    sim = simulator_factory("vllm", ttft_ms=5, tpot_ms=1, output_tokens=4)
    (tmp_path / "bad.json").write_text('[{"turns": []}]', encoding="utf-8")
    for argv, message in (
        (["--dataset", str(tmp_path / "bad.json")], f"{tmp_path / 'bad.json'}: entry 0: no 'conversations' list"),
        (["--tokenizer", str(tmp_path)], f"--tokenizer {tmp_path}: no tokenizer.json in it"),
        (["--extra-body", "[1]"], "--extra-body '[1]': expected a JSON object"),
        (["--goodput", "ttft=5"], "bad --goodput 'ttft=5': expected KEY:MILLISECONDS"),
        (["--slo", "ttft=500", "--goodput", "ttft:400"], "--slo and --goodput disagree on ttft: give each SLO once"),
    ):
        code = main(["loadtest", "--host", sim.url, "--model", "m", *argv, "--report", str(tmp_path / "r.json")])
        err = capsys.readouterr().err
        assert code == 2, err
        assert err.startswith(f"aibackend loadtest: error: {message}"), err
    assert sim.stats()["requests_total"] == 0
