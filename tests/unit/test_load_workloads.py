"""Workloads people bring: ``--tokenizer DIR`` (a real Hugging Face tokenizer.json, built here with
the ``tokenizers`` library: nothing is downloaded) and ``--dataset FILE`` (ShareGPT, sampled as
vLLM 0.34.0's ``ShareGPTDataset`` does)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from loadtests.dataset import DatasetError, ShareGPT, is_valid_sequence, read_entries
from loadtests.prompts import PromptSource
from loadtests.tokenizer import TokenizerError, load_tokenizer

pytestmark = [pytest.mark.unit]

CORPUS = ["the model answers the request", "a gateway streams tokens to the client", "latency and throughput",
          "the server measures its queue", "tokens per second and time to first token"] * 20


def bpe_tokenizer(directory: Path) -> Path:
    """A small byte-level BPE tokenizer trained here: subwords, merges, a real tokenizer.json."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=300, special_tokens=["<s>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    directory.mkdir(parents=True, exist_ok=True)
    tok.save(str(directory / "tokenizer.json"))
    return directory


def test_synthetic_prompts_are_exactly_n_tokens_of_the_tokenizer(tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    directory = bpe_tokenizer(tmp_path / "tok")
    reference = Tokenizer.from_file(str(directory / "tokenizer.json"))
    src = PromptSource(prompt_tokens=37, max_tokens=10, seed=5, tokenizer=directory)
    assert src.unit == "tokenizer"
    for i in range(20):
        prompt = src.get(i)
        assert len(reference.encode(prompt.text, add_special_tokens=False).ids) == prompt.prompt_tokens == 37
    assert any(len(src.get(i).text.split()) != 37 for i in range(20))  # words are not tokens here
    assert src.get(3) == PromptSource(prompt_tokens=37, max_tokens=10, seed=5, tokenizer=directory).get(3)
    words = PromptSource(prompt_tokens=37, max_tokens=10, seed=5).get(3)
    assert words.prompt_tokens == len(words.text.split()) == 37


def test_a_bad_tokenizer_directory_is_a_clear_usage_error(tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match=r"--tokenizer .*nope: no such directory"):
        load_tokenizer(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TokenizerError, match=r"no tokenizer.json in it"):
        load_tokenizer(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "tokenizer.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(TokenizerError, match=r"tokenizer.json: not a tokenizer the 'tokenizers' library can load: not valid JSON"):
        load_tokenizer(tmp_path / "bad")


def sharegpt(n: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i in range(n):
        prompt = " ".join(["ask"] * (4 + i))
        answer = " ".join(["say"] * (5 + 2 * i))
        out.append({"id": f"c{i}", "conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": answer},
                                                     {"from": "human", "value": "more"}]})
    out.append({"id": "one-turn", "conversations": [{"from": "human", "value": "alone"}]})
    out.append({"id": "short", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello there you all"}]})
    return out


def test_dataset_replays_sharegpt_in_vllms_seeded_order(tmp_path: Path) -> None:
    data = sharegpt(12)
    path = tmp_path / "sg.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    # vLLM: keep entries with two turns, random.seed(seed); random.shuffle(data); take valid pairs in order
    kept = [e for e in data if len(e["conversations"]) >= 2]  # type: ignore[arg-type]
    random.seed(7)
    random.shuffle(kept)
    expected = [e["id"] for e in kept if e["id"] != "short"]  # "hi" is 1 word: below vLLM's minimum of 4
    src = PromptSource(prompt_tokens=8, max_tokens=64, seed=7, dataset=path)
    got = [src.get(i) for i in range(len(expected) + 2)]
    assert [p.id for p in got[: len(expected)]] == expected
    assert [p.id for p in got[len(expected):]] == expected[:2]  # then it cycles, the same for every worker
    first = next(e for e in data if e["id"] == got[0].id)
    turns = first["conversations"]
    assert got[0].text == turns[0]["value"]  # type: ignore[index]
    assert got[0].max_tokens == len(turns[1]["value"].split())  # type: ignore[index]  # the answer's length
    assert got[0].prompt_tokens == len(got[0].text.split())


def test_dataset_as_json_lines_and_with_a_tokenizer(tmp_path: Path) -> None:
    path = tmp_path / "sg.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in sharegpt(5)), encoding="utf-8")
    directory = bpe_tokenizer(tmp_path / "tok")
    tok = load_tokenizer(directory)
    ds = ShareGPT(path, seed=0, tokenizer=tok)
    sample = ds.get(0)
    entry = next(e for e in sharegpt(5) if e["id"] == sample.id)
    assert sample.prompt_len == tok.count(entry["conversations"][0]["value"])  # type: ignore[index]
    assert sample.output_len == tok.count(entry["conversations"][1]["value"])  # type: ignore[index]


def test_vllms_length_filter() -> None:
    assert is_valid_sequence(4, 4) and not is_valid_sequence(3, 100) and not is_valid_sequence(100, 3)
    assert not is_valid_sequence(1025, 10) and not is_valid_sequence(1000, 1049) and is_valid_sequence(1000, 1048)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[{\"conversations\": [}]", r"sg.json:1: not valid JSON"),
        ("[{\"turns\": []}]", r"entry 0: no 'conversations' list; ShareGPT entries look like"),
        ("[{\"conversations\": [{\"from\": \"human\"}, {\"value\": \"x\"}]}]", r"each turn must be an object with a 'value' string"),
        ("[{\"conversations\": [{\"value\": \"only one\"}]}]", r"no entry with at least two turns"),
        ("{\"conversations\": []}\nnot json\n", r"sg.json:2: not valid JSON"),
    ],
)
def test_a_bad_dataset_names_the_file_and_entry(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "sg.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DatasetError, match=message):
        read_entries(path)


def test_a_dataset_with_no_usable_pair_says_why(tmp_path: Path) -> None:
    path = tmp_path / "sg.json"
    path.write_text(json.dumps([{"conversations": [{"value": "hi"}, {"value": "yo"}]}]), encoding="utf-8")
    with pytest.raises(DatasetError, match="no usable prompt/answer pair: each needs a prompt and an answer of at least 4 words"):
        PromptSource(prompt_tokens=8, max_tokens=8, dataset=path).get(0)
