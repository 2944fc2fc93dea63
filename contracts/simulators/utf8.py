"""Answers of a byte-level model (``SimulatorConfig.char_tokens`` > 1) and how the two llama.cpp
servers treat a character spread over several tokens, as seen on the real servers with the tiny
``bytes``, ``bytes-3`` and ``bytes-4`` models (tests/contract/test_engine_fidelity.py,
tests/contract/test_engine_overrun.py; docs/llama-cpp.md, "Characters over several tokens").

A simulated answer is a list of token texts: every token but the last of a character has the text
``""`` (a byte that is not yet a character), the last carries the whole character.

* llama-server holds a token back while the text ends in an incomplete character
  (``validate_utf8``, tools/server/server-context.cpp) and stops at ``max_tokens`` even inside one;
  the incomplete tail is then dropped from the stream and becomes one U+FFFD in a plain answer.
* llama-cpp-python (``Llama._create_completion``, llama_cpp/llama.py) skips its max_tokens test while
  ``multibyte_fix`` says the text ends inside a character, and so finishes the character:
  :func:`llama_cpp_python_length` replays that loop, its 3-byte look-back window included.
"""

from __future__ import annotations

import random
import zlib

__all__ = ["ALPHABETS", "REPLACEMENT", "character_tokens", "llama_cpp_python_length", "plain_text"]

# Characters of each width in UTF-8 bytes (Cyrillic/Latin, CJK/symbols, emoji).
ALPHABETS = {2: "жяéüñßλΩ", 3: "日本語€→✓中文", 4: "😀🎉🌀🍀🚀🧪"}
REPLACEMENT = "\ufffd"  # what nlohmann::json's replace handler writes for an incomplete character


def character_tokens(seed: int, key: str, count: int, width: int) -> list[str]:
    """``count`` tokens of an answer made of ``width``-byte characters (seeded, like the word text)."""
    rng = random.Random(zlib.crc32(key.encode("utf-8")) ^ (seed * 0x9E3779B1))
    alphabet = ALPHABETS[width]
    tokens: list[str] = []
    while len(tokens) < count:
        tokens += [""] * (width - 1) + [rng.choice(alphabet)]
    return tokens[:count]


def plain_text(tokens: list[str], *, replace_tail: bool) -> str:
    """A non-streamed answer's text: the whole characters, and, when the answer stops inside one,
    one U+FFFD if ``replace_tail`` (llama-server's completions; its chat answer drops the tail unless
    there is no whole character at all)."""
    text = "".join(tokens)
    if replace_tail and tokens and tokens[-1] == "":
        return text + REPLACEMENT
    return text


def llama_cpp_python_length(width: int, max_tokens: int) -> int:
    """How many tokens llama-cpp-python generates for ``max_tokens`` when every character is ``width``
    bytes: its loop (llama.py, 0.3.36) ``continue``s past ``len(completion_tokens) >= max_tokens``
    while ``multibyte_fix`` > 0. The fix looks at the last 3 bytes of the text, counting positions
    from the window's START, so while the text is shorter than 3 bytes a lead byte is taken to be
    further back than it is (a 2-byte character begun at token 1 is not waited for)."""
    text = ALPHABETS[width][0].encode() * (max_tokens + 4)
    multibyte_fix = 0
    for generated in range(1, len(text) + 1):
        window = text[:generated][-3:]
        for index, char in enumerate(window):
            k = 3 - index
            for num, pattern in ((2, 192), (3, 224), (4, 240)):
                if num > k and pattern & char == pattern:
                    multibyte_fix = num - k
        if multibyte_fix > 0:
            multibyte_fix -= 1
            continue
        if generated >= max_tokens:
            return generated
    raise AssertionError("unreachable: a whole character always ends the wait")
