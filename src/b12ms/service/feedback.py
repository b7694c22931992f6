"""Durable store for CDS Hooks feedback: SQLite in WAL mode, one transaction per request.

One connection per thread (SQLite connections are not shared between threads); WAL lets readers
and the writer proceed together, `synchronous=FULL` makes each committed request durable, and
`BEGIN IMMEDIATE` with a busy timeout queues concurrent writers instead of failing them.
Free text (a user's override comment) is stored, never logged.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from b12ms.service.hooks import FeedbackItem

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    service_id TEXT NOT NULL,
    client TEXT,
    card_uuid TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'overridden')),
    accepted_suggestions TEXT,
    override_system TEXT,
    override_code TEXT,
    override_display TEXT,
    user_comment TEXT,
    outcome_timestamp TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_card ON feedback (card_uuid);
"""


class FeedbackStore:
    """Append-only feedback table in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._local = threading.local()
        conn = self._connection()
        conn.executescript(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def add(self, service_id: str, items: Sequence[FeedbackItem], client: str | None) -> int:
        """Store every item of one feedback request in one transaction; returns the count."""
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        rows = []
        for item in items:
            reason = item.overrideReason.reason if item.overrideReason else None
            comment = item.overrideReason.userComment if item.overrideReason else None
            accepted = (
                json.dumps([s.id for s in item.acceptedSuggestions])
                if item.acceptedSuggestions
                else None
            )
            rows.append(
                (
                    now,
                    service_id,
                    client,
                    item.card,
                    item.outcome,
                    accepted,
                    reason.system if reason else None,
                    reason.code if reason else None,
                    reason.display if reason else None,
                    comment,
                    item.outcomeTimestamp,
                )
            )
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO feedback (received_at, service_id, client, card_uuid, outcome, "
                "accepted_suggestions, override_system, override_code, override_display, "
                "user_comment, outcome_timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return len(rows)

    def count(self) -> int:
        """Number of feedback rows stored."""
        row = self._connection().execute("SELECT count(*) FROM feedback").fetchone()
        return int(row[0])
