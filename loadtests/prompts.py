"""Seeded prompts with controlled input and output lengths.

Synthetic prompts are N words drawn from a fixed vocabulary (one word is one token for the
simulators and roughly 1.3 tokens for real tokenizers), or with ``--tokenizer`` exactly N tokens
of that tokenizer; request ``i`` of a run always gets the same prompt for the same seed, whichever
worker sends it, so two runs (direct vs through the gateway, before vs after a change) send
identical workloads. A prompt file (JSON lines with ``prompt`` and optional ``max_tokens``/``id``)
is used in a seeded order instead when given; the sets shipped in the package
(``loadtests/prompt_sets/``) are named without a path: ``chat-short``. ``--dataset`` replays a
ShareGPT-format file as vLLM's benchmark does (:mod:`loadtests.dataset`).
"""

from __future__ import annotations

import hashlib
import json
import random
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from generator.errors import UsageError
from loadtests.dataset import ShareGPT
from loadtests.tokenizer import Tokenizer, load_tokenizer

__all__ = ["PROMPT_SETS", "Prompt", "PromptFileError", "PromptSource", "load_prompt_file", "prompt_file_path"]

# The prompt sets installed with the package, by name (file name without .jsonl).
PROMPT_SETS = Path(__file__).resolve().parent / "prompt_sets"

_VOCABULARY = ["the", "model", "server", "answer", "token", "stream", "request", "gateway", "latency", "cache", "queue", "batch", "river", "mountain", "garden", "window", "signal", "memory", "number", "letter", "engine", "planet", "ocean", "forest", "bridge", "market", "music", "paper", "silver", "yellow", "quiet", "rapid", "gentle", "simple", "modern", "ancient", "bright", "narrow", "open", "careful", "useful", "write", "explain", "compare", "describe", "measure", "build", "read", "send", "count", "start", "stop", "wait", "learn", "think", "under", "over", "between", "through", "after", "before", "during", "without", "within", "across", "around", "about"]


class PromptFileError(UsageError, ValueError):
    """A prompt file that cannot be used; the message names the file and line."""


@dataclass(slots=True)  # built for every request: a frozen dataclass's __init__ is several times slower
class Prompt:
    id: str
    text: str
    prompt_tokens: int  # its length as the client counts it: tokens with --tokenizer, else words
    max_tokens: int
    sha: str = field(default="", compare=False)  # first 16 hex digits of SHA-256(text)


def _prompt(id: str, text: str, prompt_tokens: int, max_tokens: int) -> Prompt:
    return Prompt(id, text, prompt_tokens, max_tokens, hashlib.sha256(text.encode()).hexdigest()[:16])


def prompt_file_path(path: Path) -> Path:
    """``path`` itself, or the shipped set it names (``chat-short``) when no such file exists."""
    shipped = PROMPT_SETS / f"{path}.jsonl"
    if not path.exists() and path.parent == Path(".") and shipped.is_file():
        return shipped
    return path


def load_prompt_file(path: Path) -> list[tuple[str, str, int | None]]:
    path = prompt_file_path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise PromptFileError(f"{path}: cannot read prompt file: {exc.strerror}") from exc
    rows: list[tuple[str, str, int | None]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PromptFileError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(obj, dict) or not isinstance(obj.get("prompt"), str) or not obj["prompt"]:
            raise PromptFileError(f'{path}:{number}: each line must be an object with a non-empty "prompt" string')
        max_tokens = obj.get("max_tokens")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            raise PromptFileError(f'{path}:{number}: "max_tokens" must be a positive integer')
        rows.append((str(obj.get("id", f"line-{number}")), obj["prompt"], max_tokens))
    if not rows:
        raise PromptFileError(f"{path}: no prompts in file")
    return rows


class PromptSource:
    """``get(i)``: the prompt of request ``i`` of the run (deterministic in ``seed`` and ``i``)."""

    def __init__(self, *, prompt_tokens: int, max_tokens: int, seed: int = 0, prompt_file: Path | None = None,
                 dataset: Path | None = None, tokenizer: Path | Tokenizer | None = None) -> None:
        if prompt_tokens < 1 or max_tokens < 1:
            raise ValueError("prompt and output lengths must be at least 1 token")
        self.prompt_tokens = prompt_tokens
        self.max_tokens = max_tokens
        self.seed = seed
        self.tokenizer = load_tokenizer(tokenizer) if isinstance(tokenizer, Path) else tokenizer
        self.unit = "tokenizer" if self.tokenizer is not None else "words"
        self._rows = load_prompt_file(prompt_file) if prompt_file else None
        if self._rows:
            self._order = list(range(len(self._rows)))
            random.Random(seed).shuffle(self._order)
        self._dataset = ShareGPT(dataset, seed=seed, tokenizer=self.tokenizer) if dataset else None

    def count(self, text: str) -> int:
        return self.tokenizer.count(text) if self.tokenizer is not None else len(text.split())

    def get(self, index: int) -> Prompt:
        if self._dataset is not None:
            sample = self._dataset.get(index)
            return _prompt(sample.id, sample.prompt, sample.prompt_len, sample.output_len)
        if self._rows:
            row_id, text, max_tokens = self._rows[self._order[index % len(self._rows)]]
            return _prompt(row_id, text, self.count(text), max_tokens or self.max_tokens)
        if self.tokenizer is not None:
            rng = random.Random(self.seed * 1_000_003 + index)
            text, n = self.tokenizer.text_of(self.prompt_tokens, _VOCABULARY, rng)
            return _prompt(f"synthetic-{index}", text, n, self.max_tokens)
        # Words picked by a keyed hash of (seed, index): the same prompt for request i whichever worker
        # sends it, at a tenth of the cost of seeding a random.Random per request (the hot path).
        picks = hashlib.blake2b(b"%d:%d" % (self.seed, index), digest_size=2 * self.prompt_tokens
                                if self.prompt_tokens <= 32 else 64).digest()
        while len(picks) < 2 * self.prompt_tokens:
            picks += hashlib.blake2b(picks, digest_size=64).digest()
        vocabulary, size = _VOCABULARY, len(_VOCABULARY)
        words = [vocabulary[v % size] for v in array("H", picks[: 2 * self.prompt_tokens])]
        return _prompt(f"synthetic-{index}", " ".join(words), self.prompt_tokens, self.max_tokens)
