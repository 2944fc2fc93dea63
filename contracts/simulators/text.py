"""Deterministic gibberish: seeded word tokens, and the simulator's token counting.

One token is one word; every token but the first carries a leading space, as BPE tokens do, so
that concatenating chunk contents gives readable text and token counts are exact.
"""

from __future__ import annotations

import random
import zlib
from typing import Any

__all__ = ["TextGenerator", "count_tokens", "prompt_tokens_of_chat"]

_ONSETS = ("b", "br", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "st", "t", "v", "z")
_NUCLEI = ("a", "e", "i", "o", "u", "ai", "ou")
_CODAS = ("", "", "n", "r", "s", "l", "m", "x")


def _vocabulary(size: int) -> tuple[str, ...]:
    rng = random.Random(0x5EED)
    words: dict[str, None] = {}
    while len(words) < size:
        syllables = rng.randint(1, 3)
        words["".join(rng.choice(_ONSETS) + rng.choice(_NUCLEI) + rng.choice(_CODAS) for _ in range(syllables))] = None
    return tuple(words)


# Drawn once: a request then costs one seeded k-sample, not a syllable walk per word.
_VOCABULARY = _vocabulary(4096)
_SPACED = tuple(" " + word for word in _VOCABULARY)


class TextGenerator:
    """Words from a fixed gibberish vocabulary; the same (seed, key) gives the same words."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def tokens(self, key: str, count: int) -> list[str]:
        rng = random.Random(zlib.crc32(key.encode("utf-8")) ^ (self.seed * 0x9E3779B1))
        # 2 random bytes per token, 12 bits each (4096 words): one C call instead of a Python draw per token.
        draws = memoryview(rng.randbytes(2 * count)).cast("H")
        words = [_SPACED[d & 4095] for d in draws]
        if words:
            words[0] = words[0][1:]
        return words


def count_tokens(text: str) -> int:
    """The simulator's tokenizer: whitespace-separated words."""
    return len(text.split())


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts: [{"type": "text", "text": ...}, ...]
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def prompt_tokens_of_chat(messages: list[Any]) -> int:
    """Prompt tokens of a chat: the words of every message's content, at least 1."""
    total = sum(count_tokens(_content_text(m.get("content"))) for m in messages if isinstance(m, dict))
    return max(total, 1)
