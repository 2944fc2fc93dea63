"""``--tokenizer DIR``: a local Hugging Face tokenizer, so that lengths are real tokens.

Loads ``DIR/tokenizer.json`` (the "fast" tokenizer file every Hugging Face model repository
carries) with the ``tokenizers`` library; nothing is downloaded. It counts a prompt's tokens and
an answer's tokens (without special tokens, as vLLM's benchmark counts them), and builds synthetic
prompts of an exact token length. Without ``--tokenizer`` the load test counts words and the report
says so.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from generator.errors import UsageError

__all__ = ["Tokenizer", "TokenizerError", "load_tokenizer"]


class TokenizerError(UsageError, ValueError):
    """A ``--tokenizer`` directory that cannot be used; the message says why and what to pass."""


class Tokenizer:
    def __init__(self, directory: Path, backend: Any) -> None:
        self.directory = directory
        self._tok = backend

    def count(self, text: str) -> int:
        return len(self._tok.encode(text, add_special_tokens=False).ids)

    def text_of(self, n: int, words: Sequence[str], rng: random.Random) -> tuple[str, int]:
        """A text of ``n`` tokens made of ``words`` (seeded), and its exact token count.

        Words are drawn until the text holds at least ``n`` tokens, the ids are cut at ``n`` and
        decoded; decoding and encoding again can merge or split at the cut, so the length is
        corrected a few times (vLLM's random dataset does the same) and the count returned is the
        re-encoded one.
        """
        pieces: list[str] = []
        ids: list[int] = []
        while len(ids) < n:
            pieces.extend(rng.choices(words, k=max(1, n - len(ids))))
            ids = self._tok.encode(" ".join(pieces), add_special_tokens=False).ids
        target = n
        text = self._tok.decode(ids[:target])
        for _ in range(8):
            got = self.count(text)
            if got == n:
                break
            target += n - got
            if target < 1:
                break
            while len(ids) < target:
                pieces.extend(rng.choices(words, k=target - len(ids)))
                ids = self._tok.encode(" ".join(pieces), add_special_tokens=False).ids
            text = self._tok.decode(ids[:target])
        return text, self.count(text)


def load_tokenizer(directory: Path) -> Tokenizer:
    """The tokenizer of ``directory``; :class:`TokenizerError` naming the problem."""
    path = Path(directory) / "tokenizer.json"
    if not Path(directory).is_dir():
        raise TokenizerError(f"--tokenizer {directory}: no such directory; pass a local Hugging Face tokenizer "
                             "directory (the one holding tokenizer.json)")
    if not path.is_file():
        raise TokenizerError(f"--tokenizer {directory}: no tokenizer.json in it; a Hugging Face model directory "
                             "with a fast tokenizer has one (a tokenizer with only vocab/merges files is not supported)")
    try:
        from tokenizers import Tokenizer as HFTokenizer
    except ImportError:
        raise TokenizerError("--tokenizer needs the 'tokenizers' package: pip install 'ai-backend-unified[loadtest]'") from None
    try:
        backend = HFTokenizer.from_file(str(path))
    except Exception as exc:  # the library raises its own Exception type for a bad file
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except ValueError as bad:
            detail = f"not valid JSON ({bad})"
        raise TokenizerError(f"{path}: not a tokenizer the 'tokenizers' library can load: {detail}") from None
    return Tokenizer(Path(directory), backend)
