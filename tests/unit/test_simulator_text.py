"""Seeded gibberish and the simulator's token counting."""

from __future__ import annotations

import pytest

from contracts.simulators.text import TextGenerator, count_tokens, prompt_tokens_of_chat

pytestmark = [pytest.mark.unit]


def test_same_seed_and_key_give_the_same_words() -> None:
    assert TextGenerator(0).tokens("k", 6) == TextGenerator(0).tokens("k", 6)
    assert TextGenerator(0).tokens("k", 6) != TextGenerator(1).tokens("k", 6)
    assert TextGenerator(0).tokens("k", 6) != TextGenerator(0).tokens("other", 6)


def test_tokens_are_words_with_a_leading_space_after_the_first() -> None:
    tokens = TextGenerator(3).tokens("prompt", 20)
    assert len(tokens) == 20
    assert not tokens[0].startswith(" ")
    assert all(t.startswith(" ") and t[1:].isalpha() and t[1:].islower() for t in tokens[1:])
    # Joined text splits back into exactly as many tokens: counts stay exact end to end.
    assert count_tokens("".join(tokens)) == 20


def test_a_prefix_of_a_longer_answer_is_the_shorter_answer() -> None:
    assert TextGenerator(0).tokens("k", 10)[:4] == TextGenerator(0).tokens("k", 4)


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([{"role": "user", "content": "one two three"}], 3),
        ([{"role": "system", "content": "a b"}, {"role": "user", "content": " c  d "}], 4),
        ([{"role": "user", "content": [{"type": "text", "text": "x y"}, {"type": "image_url"}]}], 2),
        ([{"role": "user", "content": ""}], 1),
        ([], 1),
        (["not a message"], 1),
    ],
)
def test_prompt_tokens_of_chat(messages: list[object], expected: int) -> None:
    assert prompt_tokens_of_chat(messages) == expected
