"""The store's schema, as an ordered list of migrations: version N is the first N entries applied.

A migration is never edited once released: a change is a new entry. ``PRAGMA user_version`` holds
the number applied, ``PRAGMA application_id`` marks the file as a results store (so another
program's SQLite database is refused, never written).
"""

from __future__ import annotations

__all__ = ["APPLICATION_ID", "MIGRATIONS", "SCHEMA_VERSION"]

APPLICATION_ID = 0x41494252  # "AIBR"

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: runs, their figures (one row per figure: any report key, no column per name), and the
    #    figures keep the report's order (position); the per-second timeline and the report document as JSON.
    (
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL CHECK (kind IN ('loadtest', 'contract')),
            recorded_at TEXT NOT NULL,
            started_at TEXT,
            target TEXT NOT NULL,
            target_url TEXT,
            model TEXT,
            workload TEXT NOT NULL,
            workload_key TEXT NOT NULL,
            verdict TEXT CHECK (verdict IN ('pass', 'fail') OR verdict IS NULL),
            gate TEXT NOT NULL,
            git_commit TEXT,
            git_dirty INTEGER,
            config_dir TEXT,
            config_hash TEXT,
            reports TEXT NOT NULL,
            command TEXT NOT NULL,
            tool_version TEXT NOT NULL,
            timeline TEXT,
            document TEXT NOT NULL
        )""",
        "CREATE INDEX runs_by_target ON runs (target, model, recorded_at)",
        """CREATE TABLE figures (
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            position INTEGER NOT NULL,
            value REAL,
            PRIMARY KEY (run_id, name)
        ) WITHOUT ROWID""",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)
