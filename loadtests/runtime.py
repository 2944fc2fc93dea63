"""Per-process state of a run: the workload (prompts, schedule or budget) and the raw records.

One :class:`RunContext` per Locust process, built at ``test_start`` once the worker knows its
index. Users (greenlets of that process) draw work from it and hand back their records; the
records not yet shipped to the master wait in ``pending``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from loadtests.arrivals import ArrivalDispenser, RequestBudget, split_count, worker_offsets
from loadtests.prompts import Prompt, PromptSource
from loadtests.settings import LoadSettings
from loadtests.timing import RequestRecord, epoch_offset_ns, now_ns

__all__ = ["RunContext", "Work"]


class Work:
    """One request to send: its global index, prompt and intended start (monotonic ns)."""

    __slots__ = ("index", "intended_start_ns", "prompt")

    def __init__(self, index: int, prompt: Prompt, intended_start_ns: int | None) -> None:
        self.index = index
        self.prompt = prompt
        self.intended_start_ns = intended_start_ns  # None: closed loop, "now" when sent


class RunContext:
    def __init__(self, settings: LoadSettings, *, worker_index: int = 0, worker_count: int = 1) -> None:
        self.settings = settings
        self.worker_index = worker_index
        self.worker_count = worker_count
        self.prompts = PromptSource(
            prompt_tokens=settings.prompt_tokens,
            max_tokens=settings.max_tokens,
            seed=settings.seed,
            prompt_file=settings.prompt_file,
            dataset=settings.dataset,
            tokenizer=settings.tokenizer,
        )
        self.epoch_offset_ns = epoch_offset_ns()
        share = split_count(settings.requests, worker_index, worker_count) if settings.requests else None
        self.dispenser: ArrivalDispenser | None = None
        self.budget = RequestBudget(share)
        if settings.open_loop:
            self.dispenser = ArrivalDispenser(
                worker_offsets(
                    settings.rate,
                    settings.arrival,
                    settings.burstiness,
                    settings.seed,
                    worker_index=worker_index,
                    worker_count=worker_count,
                    count=settings.requests or None,
                    seconds=settings.duration or None,
                )
            )
        # Closed loop with a duration: no new request after the deadline, in-flight ones finish
        # (the drain is measured, and every worker reports everything before the master quits).
        self.deadline_ns: int | None = None
        if settings.duration and not settings.open_loop:
            self.deadline_ns = now_ns() + int(settings.duration * 1e9)
        self._local_seq = itertools.count()
        self.records: list[RequestRecord] = []
        self.pending: list[RequestRecord] = []
        self.in_flight = 0
        self.exhausted = False
        self.finished = False
        self.on_finished: Callable[[], None] | None = None
        self.started_ns = now_ns()

    def next_work(self) -> Work | None:
        """The next request for a free user, or ``None`` when the workload is used up."""
        intended: int | None = None
        if self.dispenser is not None:
            intended = self.dispenser.next()
            if intended is None:
                self._exhaust()
                return None
        elif (self.deadline_ns is not None and now_ns() >= self.deadline_ns) or not self.budget.take():
            self._exhaust()
            return None
        index = next(self._local_seq) * self.worker_count + self.worker_index
        # Counted from now, not from the send: a user sleeping until its intended start is busy.
        self.in_flight += 1
        return Work(index, self.prompts.get(index), intended)

    def _exhaust(self) -> None:
        self.exhausted = True
        self._check_finished()

    def end(self, record: RequestRecord) -> None:
        """Every ``Work`` handed out comes back here exactly once, as its record."""
        self.in_flight -= 1
        self.records.append(record)
        self.pending.append(record)
        self._check_finished()

    def take_pending(self) -> list[RequestRecord]:
        out, self.pending = self.pending, []
        return out

    def _check_finished(self) -> None:
        if self.exhausted and self.in_flight == 0 and not self.finished:
            self.finished = True
            if self.on_finished is not None:
                self.on_finished()
