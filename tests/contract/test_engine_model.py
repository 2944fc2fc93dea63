"""The tiny test model (contracts/engines/tiny_model.py) as llama.cpp itself sees it: it is a
pure function of its seed, llama.cpp tokenises with its vocabulary (byte fallback included) and
applies its chat template, and sampling never leaves printable ASCII nor stops early.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.engines.tiny_model import (
    CHAT_TEMPLATE,
    TinyModelSpec,
    build_vocabulary,
    file_sha256,
    write_tiny_model,
)
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
