"""SQLite storage of received notifications, one per front end and key.

stdlib sqlite3 on the event loop's thread, as in finance-sim: one process owns the
file and each check-and-insert runs without awaiting, so it is atomic.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications (
    front_end TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    uscc TEXT NOT NULL,
    body TEXT NOT NULL,
    deliveries INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (front_end, idempotency_key)
);
CREATE INDEX IF NOT EXISTS notifications_uscc ON notifications (uscc);
"""


class Store:
    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def receive(self, front_end: str, key: str, uscc: str, body: str) -> bool:
        """Keep a notification once; a repeat only counts. Returns whether it was new."""
        cursor = self._db.execute(
            "INSERT INTO notifications (front_end, idempotency_key, uscc, body, deliveries, received_at) "
            "VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT (front_end, idempotency_key) DO NOTHING",
            (front_end, key, uscc, body, datetime.now(UTC).isoformat()),
        )
        if cursor.rowcount == 1:
            return True
        self._db.execute(
            "UPDATE notifications SET deliveries = deliveries + 1 WHERE front_end = ? AND idempotency_key = ?",
            (front_end, key),
        )
        return False

    def list(self, *, uscc: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT * FROM notifications"
        params: tuple[str, ...] = ()
        if uscc is not None:
            query += " WHERE uscc = ?"
            params = (uscc,)
        rows = self._db.execute(query + " ORDER BY received_at, front_end", params)
        return [
            {
                "front_end": r["front_end"],
                "idempotency_key": r["idempotency_key"],
                "uscc": r["uscc"],
                "body": r["body"],
                "deliveries": r["deliveries"],
                "received_at": r["received_at"],
            }
            for r in rows
        ]
