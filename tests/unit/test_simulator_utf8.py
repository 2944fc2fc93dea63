"""The simulator's byte-level answers (contracts/simulators/utf8.py): characters spread over one
token per byte, and llama-cpp-python's max_tokens loop replayed. The counts below are the real
server's (llama-cpp-python 0.3.36 with the bytes, bytes-3 and bytes-4 tiny models; compared live by
tests/contract/test_engine_overrun.py)."""

from __future__ import annotations

import pytest

from contracts.simulators.utf8 import character_tokens, llama_cpp_python_length, plain_text

pytestmark = [pytest.mark.unit]


@pytest.mark.parametrize(
    ("width", "lengths"),
    [(2, [1, 2, 4, 4, 6, 6]), (3, [1, 2, 3, 6, 6, 6]), (4, [4, 4, 4, 4, 8, 8])],
)
def test_llama_cpp_python_generates_as_measured(width: int, lengths: list[int]) -> None:
    assert [llama_cpp_python_length(width, max_tokens) for max_tokens in range(1, 7)] == lengths


def test_a_character_is_one_token_per_byte() -> None:
    tokens = character_tokens(seed=0, key="k", count=7, width=3)
    assert [len(t.encode()) for t in tokens] == [0, 0, 3, 0, 0, 3, 0]
    assert tokens == character_tokens(seed=0, key="k", count=7, width=3)  # seeded
    assert plain_text(tokens, replace_tail=False) == tokens[2] + tokens[5]
    assert plain_text(tokens, replace_tail=True) == tokens[2] + tokens[5] + "\ufffd"
    assert plain_text(tokens[:6], replace_tail=True) == tokens[2] + tokens[5]  # nothing cut: nothing added
