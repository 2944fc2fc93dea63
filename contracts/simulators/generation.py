"""What one inference request produces: its tokens per choice, finish reasons and schedule.

Pure: the HTTP layer turns a ``Generation`` into bytes (per personality) and sends the chunks at
the schedule's deadlines.
"""

from __future__ import annotations

import functools
import random
import time
from dataclasses import dataclass

from contracts.simulators.config import SimulatorConfig
from contracts.simulators.latency import Schedule, plan_schedule
from contracts.simulators.text import TextGenerator
from contracts.simulators.utf8 import character_tokens

__all__ = ["Generation", "completion_length", "plan_generation"]


def completion_length(*, natural: int, max_tokens: int | None, ignore_eos: bool, min_tokens: int = 0,
                      exceed_by: int = 0) -> tuple[int, str]:
    """(tokens, finish_reason) for a request: EOS after ``natural`` tokens unless cut by max_tokens."""
    length = max(natural, min_tokens)
    if max_tokens is not None and max_tokens > 0 and (ignore_eos or max_tokens < length):
        return max_tokens + exceed_by, "length"
    return length, "stop"


@dataclass
class Generation:
    request_id: int
    model: str
    created: int
    prompt_tokens: int
    choices: list[list[str]]  # tokens of each choice ("": a byte of a character not yet complete)
    finish_reasons: list[str]
    schedule: Schedule

    @property
    def completion_tokens(self) -> int:
        return sum(len(tokens) for tokens in self.choices)

    @property
    def chunk_count(self) -> int:
        return len(self.schedule.sizes)

    @functools.cached_property
    def _chunk_starts(self) -> list[int]:
        starts, position = [], 0
        for size in self.schedule.sizes:
            starts.append(position)
            position += size
        return starts

    def chunk_text(self, choice: int, chunk: int) -> str:
        start = self._chunk_starts[chunk]
        return "".join(self.choices[choice][start : start + self.schedule.sizes[chunk]])

    def text(self, choice: int) -> str:
        """The whole characters of the choice (a character cut by max_tokens is not in it)."""
        return "".join(self.choices[choice])

    def first_token_held(self, choice: int = 0) -> bool:
        """The first token is a byte of a multi-byte character (no text of its own)."""
        tokens = self.choices[choice]
        return bool(tokens) and tokens[0] == ""

    def tokens_with_eos(self) -> int:
        """Tokens as llama-server counts them: the end-of-generation token of an answer that ended
        by itself is sampled and counted (n_decoded; usage, timings.predicted_n, tokens_predicted)."""
        return self.completion_tokens + sum(1 for reason in self.finish_reasons if reason == "stop")


def plan_generation(
    config: SimulatorConfig,
    *,
    request_id: int,
    model: str,
    prompt_key: str,
    prompt_tokens: int,
    max_tokens: int | None,
    n: int = 1,
    ignore_eos: bool = False,
    min_tokens: int = 0,
    exceed_by: int = 0,
) -> Generation:
    width = config.char_tokens
    # A byte-level answer ends (EOS) after whole characters only.
    natural = -(-config.output_tokens // width) * width
    length, finish = completion_length(
        natural=natural, max_tokens=max_tokens, ignore_eos=ignore_eos, min_tokens=min_tokens,
        exceed_by=exceed_by,
    )
    if width == 1:
        words = TextGenerator(config.seed)
        choices = [words.tokens(f"{prompt_key}#{index}", length) for index in range(n)]
    else:
        choices = [character_tokens(config.seed, f"{prompt_key}#{index}", length, width) for index in range(n)]
    schedule = plan_schedule(
        prompt_tokens=prompt_tokens,
        completion_tokens=length,
        ttft_ms=config.ttft_ms,
        prefill_ms_per_token=config.prefill_ms_per_token,
        tpot_ms=config.tpot_ms,
        jitter_ms=config.jitter_ms,
        tokens_per_chunk=config.tokens_per_chunk,
        rng=random.Random(config.seed * 1_000_003 + request_id),
    )
    return Generation(
        request_id=request_id,
        model=model,
        created=int(time.time()),
        prompt_tokens=prompt_tokens,
        choices=choices,
        finish_reasons=[finish] * n,
        schedule=schedule,
    )
