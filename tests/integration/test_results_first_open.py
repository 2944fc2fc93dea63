"""Several processes opening one new store at the same instant: each gets the store, none an error.

The first open creates the file, switches it to WAL and migrates the schema. Two races lived there:
SQLite fails a read-to-write lock upgrade at once (no busy wait) while another process reads, and a
check reading the schema in several statements could see a half-created store. Openers are held at
a barrier for each new file, so every file is a fresh race; the old code lost at least one of forty.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from aibackend.results.store import open_store

pytestmark = [pytest.mark.integration]

OPENERS = 3
FILES = 40


def _open_each(folder: str, barrier: multiprocessing.synchronize.Barrier, errors: multiprocessing.Queue[str]) -> None:
    for index in range(FILES):
        barrier.wait(30)
        try:
            open_store(Path(folder) / f"{index}.sqlite3").close()
        except Exception as exc:  # the test reports every one; a traceback would hide the count
            errors.put(f"file {index}: {type(exc).__name__}: {exc}")


def test_openers_racing_to_create_a_store_all_get_it(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")  # a fresh interpreter each, as separate commands are
    barrier = context.Barrier(OPENERS)
    errors: multiprocessing.Queue[str] = context.Queue()
    openers = [context.Process(target=_open_each, args=(str(tmp_path), barrier, errors)) for _ in range(OPENERS)]
    for opener in openers:
        opener.start()
    try:
        for opener in openers:
            opener.join(120)
    finally:  # however this ends, no opener is left running
        for opener in openers:
            if opener.is_alive():
                opener.kill()
                opener.join()
    assert [opener.exitcode for opener in openers] == [0] * OPENERS
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []
    for index in range(FILES):
        with open_store(tmp_path / f"{index}.sqlite3", create=False) as store:
            assert store.connection is not None
            assert store.runs() == []
