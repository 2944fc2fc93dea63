"""The store's schema, as an ordered list of migrations: version N is the first N entries applied.

A migration is never edited once released: a change is a new entry. ``PRAGMA user_version`` holds
the number applied, ``PRAGMA application_id`` marks the file as a results store (so another
program's SQLite database is refused, never written).
"""

from __future__ import annotations

__all__ = ["APPLICATION_ID", "MIGRATIONS", "SCHEMA_VERSION"]

APPLICATION_ID = 0x41494252  # "AIBR"

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: one row per run. Its figures are one JSON object in the report's order (any report key, no
    #    column per name; SQL reaches one with json_extract(figures, '$.p99_ttft_ms')), then the
    #    bulky per-second timeline and report document last, where a listing never reads them.
    (
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL CHECK (kind IN ('loadtest', 'contract')),
            recorded_at TEXT NOT NULL,
            started_at TEXT NOT NULL,
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
            figures TEXT NOT NULL,
            timeline TEXT,
            document TEXT NOT NULL
        )""",
        "CREATE INDEX runs_by_target ON runs (target, model, started_at)",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)
