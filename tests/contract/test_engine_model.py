"""The tiny test models (contracts/engines/tiny_model.py) as llama.cpp itself sees them: the
default (ascii) one is a pure function of its seed, llama.cpp tokenises with its vocabulary (byte
fallback included) and applies its chat template, and sampling never leaves printable ASCII nor
stops early; each other model really has the property it exists for (characters over several
tokens, ids past 65,535, an early EOS, multi-byte characters as single tokens), at the hottest
sampling; and models are cached by code version.
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.engines.tiny_model import (
    CHAT_TEMPLATE,
    TINY_MODELS,
    TinyModelSpec,
    build_vocabulary,
    cached_tiny_model,
    file_sha256,
    write_tiny_model,
)
from contracts.engines.tiny_vocab import MULTIBYTE_CHARS
from tests.plugins.engines import require_engine

pytestmark = [pytest.mark.contract]

BYTE_BASE = 5  # <unk> <s> </s> <|im_start|> <|im_end|>, then <0x00>..<0xFF>


@pytest.fixture(scope="module")
def llama(tiny_model_path: Path) -> Iterator[Any]:
    require_engine("llama_cpp_python")
    from llama_cpp import Llama

    model = Llama(str(tiny_model_path), n_ctx=256, n_threads=1, verbose=False)
    yield model
    model.close()


def test_the_model_is_a_pure_function_of_its_spec(tiny_model_path: Path, tmp_path: Path) -> None:
    again = write_tiny_model(tmp_path / "again.gguf")
    other_seed = write_tiny_model(tmp_path / "other.gguf", TinyModelSpec(seed=1))
    assert file_sha256(again) == file_sha256(tiny_model_path)
    assert file_sha256(other_seed) != file_sha256(tiny_model_path)
    assert 100_000 < tiny_model_path.stat().st_size < 1_000_000
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left behind


def test_the_vocabulary_has_specials_bytes_and_printable_pieces() -> None:
    vocab = build_vocabulary()
    assert vocab.tokens[:BYTE_BASE] == ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    assert vocab.tokens[BYTE_BASE:BYTE_BASE + 256] == [f"<0x{b:02X}>" for b in range(256)]
    assert len(set(vocab.tokens)) == len(vocab.tokens)
    generatable = [t for t, ok in zip(vocab.tokens, vocab.generatable, strict=True) if ok]
    assert all(set(t.replace("\u2581", " ")) <= set(string.printable) for t in generatable)


def test_llama_cpp_tokenises_with_byte_fallback(llama: Any) -> None:
    text = "héllo\nthere"
    tokens = llama.tokenize(text.encode(), add_bos=True)
    assert tokens[0] == 1  # <s>
    # é is not a piece: its two UTF-8 bytes become byte tokens, as does the newline.
    assert tokens[2:4] == [BYTE_BASE + 0xC3, BYTE_BASE + 0xA9]
    assert BYTE_BASE + 0x0A in tokens
    assert llama.detokenize(tokens).decode() == text


def test_llama_cpp_reads_the_chat_template(llama: Any) -> None:
    assert llama.metadata["tokenizer.chat_template"] == CHAT_TEMPLATE


def test_sampling_stays_in_printable_ascii_and_runs_to_max_tokens(llama: Any) -> None:
    # The hottest sampling the API allows, no top-k/top-p/min-p cut: byte, control and
    # end-of-generation tokens must still never come out.
    for seed in range(5):
        out = llama.create_completion("Hello", max_tokens=64, temperature=2.0, top_k=0, top_p=1.0, min_p=0.0, seed=seed)
        choice = out["choices"][0]
        assert (choice["finish_reason"], out["usage"]["completion_tokens"]) == ("length", 64)
        assert set(choice["text"]) <= set(string.printable) - set("\t\n\r\x0b\x0c")


# --- the other tiny models: each differs where servers behave differently ---------------------


def _load(tiny_models: Any, name: str) -> Any:
    require_engine("llama_cpp_python")
    from llama_cpp import Llama

    return Llama(str(tiny_models(name)), n_ctx=256, n_threads=1, verbose=False)


def _greedy_tokens(model: Any, prompt: str, count: int) -> list[int]:
    tokens = []
    for token in model.generate(model.tokenize(prompt.encode(), add_bos=False), temp=0.0):
        tokens.append(token)
        if len(tokens) == count:
            break
    return tokens


@pytest.mark.parametrize(("name", "width"), [("bytes", 2), ("bytes-3", 3), ("bytes-4", 4)])
def test_a_byte_level_model_spreads_each_character_over_its_bytes(tiny_models: Any, name: str, width: int) -> None:
    model = _load(tiny_models, name)
    try:
        assert model.n_vocab() == 3 + 256 + 3  # specials, the 256 bytes, three ASCII merges
        assert len(model.tokenize("é".encode(), add_bos=False)) == 2  # a 2-byte character is 2 tokens
        for seed in range(3):
            out = model.create_completion("Say hi.", max_tokens=6 * width, temperature=2.0, top_k=0, top_p=1.0,
                                          min_p=0.0, seed=seed)
            text = out["choices"][0]["text"]
            # Only whole `width`-byte characters, exactly one token per byte.
            assert [len(c.encode()) for c in text] == [width] * 6, text
            assert out["usage"]["completion_tokens"] == 6 * width
    finally:
        model.close()


@pytest.mark.slow  # ~6 s: llama-cpp-python copies 150,000 logits per token
def test_the_large_vocabulary_reaches_past_65535(tiny_models: Any) -> None:
    model = _load(tiny_models, "large-vocab")
    try:
        assert model.n_vocab() == 150_000
        tokens = _greedy_tokens(model, "Say hi.", 16)
        assert max(tokens) > 65_535
        pieces = [model.detokenize([t]).decode("utf-8") for t in tokens]  # every emitted token is whole UTF-8
        assert max(len(p) for p in pieces) > 1
        out = model.create_completion("Say hi.", max_tokens=64, temperature=1.0, seed=1)
        assert any(len(c.encode()) > 1 for c in out["choices"][0]["text"])  # whole multi-byte characters
    finally:
        model.close()


def test_the_eos_model_ends_after_a_digit_and_a_letter(tiny_models: Any) -> None:
    model = _load(tiny_models, "eos")
    try:
        for seed in range(3):
            out = model.create_completion("Say hi.", max_tokens=16, temperature=2.0, top_k=0, top_p=1.0, min_p=0.0,
                                          seed=seed)
            choice = out["choices"][0]
            assert (choice["finish_reason"], out["usage"]["completion_tokens"]) == ("stop", 2)
            text = choice["text"].replace(" ", "")  # a digit, then a letter token ("q", "▁q" or a pair "th")
            assert (text[0].isdigit(), text[1:].isalpha(), 2 <= len(text) <= 3) == (True, True, True), choice["text"]
            cut = model.create_completion("Say hi.", max_tokens=1, seed=seed)
            assert (cut["choices"][0]["finish_reason"], cut["usage"]["completion_tokens"]) == ("length", 1)
    finally:
        model.close()


def test_the_multibyte_model_writes_whole_characters_as_single_tokens(tiny_models: Any) -> None:
    model = _load(tiny_models, "multibyte")
    try:
        for char in MULTIBYTE_CHARS:  # after a letter (SentencePiece prefixes a space to the text)
            tokens = model.tokenize(f"x{char}".encode(), add_bos=False)
            assert model.detokenize(tokens[-1:]).decode() == char
        out = model.create_completion("Say hi.", max_tokens=32, temperature=1.0, seed=2)
        text = out["choices"][0]["text"]
        assert out["usage"]["completion_tokens"] == 32
        assert sum(1 for c in text if len(c.encode()) > 1) >= 8, text  # about half the tokens
    finally:
        model.close()


def test_models_are_cached_by_code_version_and_stale_versions_pruned(tmp_path: Path) -> None:
    first = cached_tiny_model("bytes", tmp_path)
    assert cached_tiny_model("bytes", tmp_path) == first  # reused, not rewritten
    assert file_sha256(first) == file_sha256(write_tiny_model(tmp_path / "direct.gguf", TINY_MODELS["bytes"]))
    stale, recent, other = (first.with_name(n) for n in ("bytes-0000.gguf", "bytes-1111.gguf", "bytes-3-0000.gguf"))
    for path in (stale, recent, other):
        path.write_bytes(b"old")
    os.utime(stale, (0, 0))
    os.utime(other, (0, 0))
    first.unlink()  # a new code version: written again, and the day-old version of the same model goes
    cached_tiny_model("bytes", tmp_path)
    assert sorted(p.name for p in first.parent.iterdir()) == sorted([first.name, recent.name, other.name])
