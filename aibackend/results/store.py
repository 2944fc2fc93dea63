"""The results store: one SQLite file (stdlib ``sqlite3``), WAL mode, a versioned schema.

- Several processes may record at once (the demo's load tests finish together): every write is
  one ``BEGIN IMMEDIATE`` transaction and waits up to ``BUSY_TIMEOUT_S`` for the others.
- A file that is not a results store is refused and left as it is, never overwritten: not an
  SQLite file, another program's SQLite database (``application_id``), a schema newer than this
  version knows, a corrupt file. The error says which, and what to do.
- An older schema is migrated forward in one transaction (``schema.MIGRATIONS``).
- Readers never create a store: a missing file reads as an empty history.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from aibackend.results.record import Provenance, Run
from aibackend.results.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION
from generator.errors import UsageError

__all__ = ["BUSY_TIMEOUT_S", "ResultsStore", "ResultsStoreError", "default_store_path", "open_store"]

BUSY_TIMEOUT_S = 30.0
_SQLITE_HEADER = b"SQLite format 3\x00"


class ResultsStoreError(UsageError):
    """The results store cannot be used: not a store, a newer schema, corrupt, or unwritable."""


def default_store_path() -> Path:
    """``$XDG_DATA_HOME/aibackend/results.sqlite3`` (``~/.local/share/...`` when the variable is unset)."""
    base = os.environ.get("XDG_DATA_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "share"
    return root / "aibackend" / "results.sqlite3"


def _refuse(path: Path, why: str, hint: str | None = None) -> ResultsStoreError:
    return ResultsStoreError(f"{path}: {why}; it was left as it is",
                             hint=hint or "pass --store PATH naming another file (or --no-store)")


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise _refuse(path, "is a directory, not a results store")
    try:
        with path.open("rb") as handle:
            head = handle.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise _refuse(path, f"cannot be read: {exc.strerror}") from None
    if head and head != _SQLITE_HEADER:
        raise _refuse(path, "is not a results store (not an SQLite database)")


def _iso(moment: datetime) -> str:
    """UTC, fixed width: the text sorts as the time does."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


class ResultsStore:
    """An open store. ``connection`` is None for a store file that does not exist yet (read as empty)."""

    def __init__(self, path: Path, connection: sqlite3.Connection | None) -> None:
        self.path = path
        self.connection = connection

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _guard(self) -> Iterator[sqlite3.Connection]:
        if self.connection is None:
            raise ResultsStoreError(f"{self.path}: no results store here yet")
        try:
            yield self.connection
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise ResultsStoreError(f"{self.path}: busy: another process kept it locked for {BUSY_TIMEOUT_S:g} s",
                                        hint="try again") from None
            raise _refuse(self.path, f"cannot be used: {exc}", hint="is the disk full or read-only?") from None
        except sqlite3.DatabaseError as exc:
            raise _refuse(self.path, f"is corrupt ({exc})",
                          hint="move it aside and record into a new store (--store PATH)") from None

    # --- writing ---------------------------------------------------------------------------

    def add(self, run: Run) -> int:
        """Record ``run`` (one transaction); its new id."""
        with self._guard() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                cursor = db.execute(
                    """INSERT INTO runs (kind, recorded_at, started_at, target, target_url, model, workload,
                       workload_key, verdict, gate, git_commit, git_dirty, config_dir, config_hash, reports, command,
                       tool_version, figures, timeline, document) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                    (run.kind, _iso(run.recorded_at), _iso(run.when), run.target, run.target_url, run.model,
                     json.dumps(run.workload, sort_keys=True, default=str), run.workload_key, run.verdict,
                     json.dumps(run.gate), run.provenance.git_commit,
                     None if run.provenance.git_dirty is None else int(run.provenance.git_dirty),
                     run.provenance.config_dir, run.provenance.config_hash, json.dumps(run.reports),
                     json.dumps(run.command), run.tool_version, json.dumps(run.figures),
                     None if run.timeline is None else json.dumps(run.timeline), json.dumps(run.document, default=str)))
                run_id = int(cursor.lastrowid or 0)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        run.id = run_id
        return run_id

    # --- reading ---------------------------------------------------------------------------

    def runs(self, *, target: str | None = None, model: str | None = None, kind: str | None = None,
             limit: int | None = None, ids: Sequence[int] | None = None, newest_first: bool = True,
             details: bool = False) -> list[Run]:
        """Runs with their figures; ``details`` also reads each one's report document and timeline (the
        bulk of a run: a list leaves them out, a run's page needs them)."""
        if self.connection is None:
            return []
        where: list[str] = []
        params: list[object] = []
        for column, value in (("target", target), ("model", model), ("kind", kind)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if ids is not None:
            where.append(f"id IN ({','.join('?' * len(ids))})")
            params += list(ids)
        # document and timeline are the last columns: SQLite does not even read their pages when left out
        columns = "*" if details else ", ".join(_SUMMARY_COLUMNS)
        sql = f"SELECT {columns} FROM runs" + (f" WHERE {' AND '.join(where)}" if where else "")
        sql += f" ORDER BY started_at {'DESC' if newest_first else 'ASC'}, id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._guard() as db:
            rows = db.execute(sql, params).fetchall()
        return [_run_from_row(row, details) for row in rows]

    def get(self, run_id: int) -> Run | None:
        found = self.runs(ids=[run_id], details=True)
        return found[0] if found else None

    def targets(self) -> list[tuple[str, str | None, str]]:
        """(target, model, kind) of every recorded run, distinct, sorted."""
        if self.connection is None:
            return []
        with self._guard() as db:
            rows = db.execute("SELECT DISTINCT target, model, kind FROM runs ORDER BY target, model, kind").fetchall()
        return [(str(t), None if m is None else str(m), str(k)) for t, m, k in rows]


_SUMMARY_COLUMNS = ("id", "kind", "recorded_at", "started_at", "target", "target_url", "model", "workload", "workload_key",
                    "verdict", "gate", "git_commit", "git_dirty", "config_dir", "config_hash", "reports", "command",
                    "tool_version", "figures")


def _run_from_row(row: sqlite3.Row, details: bool) -> Run:
    def when(text: str | None) -> datetime | None:
        return None if text is None else datetime.fromisoformat(text)

    recorded = when(row["recorded_at"])
    assert recorded is not None
    return Run(
        id=int(row["id"]), kind=row["kind"], target=row["target"], target_url=row["target_url"], model=row["model"],
        workload=json.loads(row["workload"]), figures=json.loads(row["figures"]), verdict=row["verdict"], gate=json.loads(row["gate"]),
        document=json.loads(row["document"]) if details else {}, started_at=when(row["started_at"]), recorded_at=recorded,
        provenance=Provenance(config_dir=row["config_dir"], config_hash=row["config_hash"],
                              git_commit=row["git_commit"],
                              git_dirty=None if row["git_dirty"] is None else bool(row["git_dirty"])),
        reports=json.loads(row["reports"]), command=json.loads(row["command"]), tool_version=row["tool_version"],
        timeline=None if not details or row["timeline"] is None else json.loads(row["timeline"]))


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    connection.row_factory = sqlite3.Row
    return connection


def _enter_wal(db: sqlite3.Connection) -> None:
    """Switch a new store to WAL (persistent: done once, by the first writer).

    SQLite does not call the busy handler here: the switch takes a read lock, then upgrades it to
    the exclusive lock, and an upgrade fails at once while another connection reads (waiting could
    deadlock two upgraders). Two first writers race exactly so, so the wait is done here, for as long
    as any other write would wait, with jitter so that two upgraders do not retry in step.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(random.uniform(0.002, 0.02))


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _migrate(path: Path, db: sqlite3.Connection) -> None:
    """Bring the schema to SCHEMA_VERSION (under the write lock: two first writers do it once)."""
    if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        _enter_wal(db)
    db.execute("BEGIN IMMEDIATE")
    try:
        version = _verify(path, db)
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                db.execute(statement)
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _read_version(path: Path, db: sqlite3.Connection) -> int:
    """``_verify`` in one read transaction. Its reads are several statements; without one snapshot a
    first writer's migration committing between them would show tables but no application id, and
    a brand-new store would be refused as "another program's database"."""
    db.execute("BEGIN")
    try:
        return _verify(path, db)
    finally:
        db.execute("COMMIT")


def _verify(path: Path, db: sqlite3.Connection) -> int:
    """The schema version of an open file, or ResultsStoreError when it is not a store this version can use."""
    application = db.execute("PRAGMA application_id").fetchone()[0]
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if application != APPLICATION_ID:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        if application != 0 or tables:
            listed = ", ".join(tables[:5]) + (" ..." if len(tables) > 5 else "")
            raise _refuse(path, f"is an SQLite database of another program, not a results store (tables: {listed or 'none'})")
        return 0
    if version > SCHEMA_VERSION:
        raise _refuse(path, f"was written by a newer aibackend (schema {version}; this one knows up to {SCHEMA_VERSION})",
                      hint="upgrade aibackend, or pass --store PATH naming another file")
    return version


def open_store(path: Path, *, create: bool = True) -> ResultsStore:
    """Open (and, with ``create``, create or migrate) the store at ``path``."""
    path = Path(path)
    exists = path.exists()
    if exists:
        _check_file(path)
    elif not create:
        return ResultsStore(path, None)
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ResultsStoreError(f"{path}: cannot create its directory: {exc.strerror}") from None
    try:
        connection = _connect(path)
    except sqlite3.Error as exc:
        raise _refuse(path, f"cannot be opened: {exc}") from None
    store = ResultsStore(path, connection)
    try:
        with store._guard() as db:
            version = _read_version(path, db)
            if version < SCHEMA_VERSION:
                if not create and version == 0:
                    store.close()
                    return ResultsStore(path, None)  # an empty file: nothing recorded yet
                _migrate(path, db)
            db.execute("SELECT count(*) FROM runs").fetchone()  # a corrupt file fails here, not later
    except BaseException:
        store.close()
        raise
    return store
