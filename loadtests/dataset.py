"""``--dataset FILE``: replay a local ShareGPT-format file the way vLLM's benchmark samples it.

The format (vLLM 0.34.0, ``vllm/benchmarks/datasets/datasets.py`` ``ShareGPTDataset``): a JSON
list of entries, or JSON lines of entries, each ``{"conversations": [{"from": "human", "value":
PROMPT}, {"from": "gpt", "value": ANSWER}, ...]}`` (an ``id`` is kept when given). As vLLM does:
entries with fewer than two turns are dropped, the rest shuffled with ``random.seed(SEED)``, and
taken in that order; a request's prompt is the first turn and its ``max_tokens`` the length of
the second; a pair is skipped when the prompt or the answer is shorter than 4, the prompt longer
than 1024 or both longer than 2048 (``is_valid_sequence``). Lengths are tokens of ``--tokenizer``,
else words (the report says which). Where vLLM oversamples at random when a run needs more
requests than the file has, request ``i`` here takes sample ``i mod n``: the same seed, the same
workload, whichever worker sends it.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import UsageError
from loadtests.tokenizer import Tokenizer

__all__ = ["DatasetError", "Sample", "ShareGPT", "is_valid_sequence", "read_entries"]

# vLLM's is_valid_sequence defaults.
MIN_LEN, MAX_PROMPT_LEN, MAX_TOTAL_LEN = 4, 1024, 2048


class DatasetError(UsageError, ValueError):
    """A dataset file that cannot be replayed; the message names the file and the entry."""


@dataclass(frozen=True)
class Sample:
    id: str
    prompt: str
    prompt_len: int
    output_len: int


def is_valid_sequence(prompt_len: int, output_len: int) -> bool:
    return not (prompt_len < MIN_LEN or output_len < MIN_LEN or prompt_len > MAX_PROMPT_LEN
                or prompt_len + output_len > MAX_TOTAL_LEN)


def read_entries(path: Path) -> list[dict[str, Any]]:
    """The file's entries with at least two turns, in file order."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read dataset: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    stripped = text.lstrip()
    entries: list[tuple[str, Any]] = []
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
        entries = [(f"entry {i}", e) for i, e in enumerate(data)]
    else:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                entries.append((f"line {number}", json.loads(line)))
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{number}: not valid JSON ({exc.msg}); expected a JSON list or one "
                                   "ShareGPT entry per line") from exc
    kept: list[dict[str, Any]] = []
    for where, entry in entries:
        if not isinstance(entry, dict):
            raise DatasetError(f"{path}: {where}: expected an object with a 'conversations' list")
        turns = entry.get("conversations")
        if turns is None or not isinstance(turns, list):
            raise DatasetError(f"{path}: {where}: no 'conversations' list; ShareGPT entries look like "
                               '{"conversations": [{"from": "human", "value": "..."}, {"from": "gpt", "value": "..."}]}')
        if len(turns) < 2:
            continue
        for turn in turns[:2]:
            if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
                raise DatasetError(f"{path}: {where}: each turn must be an object with a 'value' string")
        kept.append({"id": str(entry.get("id", where)), "prompt": turns[0]["value"], "answer": turns[1]["value"]})
    if not kept:
        raise DatasetError(f"{path}: no entry with at least two turns (a prompt and an answer)")
    return kept


class ShareGPT:
    """Samples in vLLM's order, tokenized (or counted in words) as the run needs them."""

    def __init__(self, path: Path, *, seed: int, tokenizer: Tokenizer | None) -> None:
        self.path = path
        self.tokenizer = tokenizer
        self._entries = read_entries(path)
        random.Random(seed).shuffle(self._entries)  # == random.seed(seed); random.shuffle(data)
        self._cursor = 0
        self.samples: list[Sample] = []
        self.skipped = 0

    def _count(self, text: str) -> int:
        return self.tokenizer.count(text) if self.tokenizer is not None else len(text.split())

    def _extend_to(self, index: int) -> None:
        while len(self.samples) <= index and self._cursor < len(self._entries):
            entry = self._entries[self._cursor]
            self._cursor += 1
            prompt_len, output_len = self._count(entry["prompt"]), self._count(entry["answer"])
            if is_valid_sequence(prompt_len, output_len):
                self.samples.append(Sample(entry["id"], entry["prompt"], prompt_len, output_len))
            else:
                self.skipped += 1

    def get(self, index: int) -> Sample:
        self._extend_to(index)
        if not self.samples:
            unit = "tokens" if self.tokenizer is not None else "words"
            raise DatasetError(
                f"{self.path}: no usable prompt/answer pair: each needs a prompt and an answer of at least "
                f"{MIN_LEN} {unit}, a prompt of at most {MAX_PROMPT_LEN} and both together at most {MAX_TOTAL_LEN}")
        return self.samples[index % len(self.samples)]
