"""SQLite storage of settled instructions and of every submission attempt.

stdlib sqlite3 on the event loop's thread: each statement is a few microseconds
and one process owns the file, so there is nothing to gain from a thread pool,
and doing every check-and-insert without awaiting keeps them atomic.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from finance_sim.schemas import InstructionCreate, InstructionRead, Payee

SHANGHAI = ZoneInfo("Asia/Shanghai")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS instructions (
    instruction_id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    amount_fen INTEGER NOT NULL,
    status TEXT NOT NULL,
    settled_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS instructions_settled_at ON instructions (settled_at);
CREATE TABLE IF NOT EXISTS submissions (
    idempotency_key TEXT PRIMARY KEY,
    attempts INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS allocations (
    fiscal_year INTEGER NOT NULL,
    policy_id TEXT NOT NULL,
    budget_code TEXT NOT NULL,
    amount_fen INTEGER NOT NULL,
    PRIMARY KEY (fiscal_year, policy_id)
);
"""
# Columns added after the first release; a simulator database from before gets them on open.
_ADDED_COLUMNS = {"returned_at": "TEXT", "return_reason": "TEXT"}


class KeyConflict(Exception):
    """The key was already used for an instruction with a different body."""


class Store:
    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        present = {r["name"] for r in self._db.execute("PRAGMA table_info(instructions)")}
        for column, kind in _ADDED_COLUMNS.items():
            if column not in present:
                self._db.execute(f"ALTER TABLE instructions ADD COLUMN {column} {kind}")

    def close(self) -> None:
        self._db.close()

    def count_submission(self, key: str) -> None:
        self._db.execute(
            "INSERT INTO submissions (idempotency_key, attempts) VALUES (?, 1) "
            "ON CONFLICT (idempotency_key) DO UPDATE SET attempts = attempts + 1",
            (key,),
        )

    def submissions(self) -> dict[str, int]:
        rows = self._db.execute("SELECT idempotency_key, attempts FROM submissions ORDER BY idempotency_key")
        return {r["idempotency_key"]: r["attempts"] for r in rows}

    def settle(self, request: InstructionCreate) -> tuple[InstructionRead, bool]:
        """Settle once per key. Returns the instruction and whether it was created now."""
        body = _canonical(request)
        existing = self._row(request.idempotency_key)
        if existing is not None:
            if existing["body"] != body:
                raise KeyConflict(request.idempotency_key)
            return _read(existing), False
        now = datetime.now(UTC)
        instruction_id = f"CZ{now.astimezone(SHANGHAI):%Y%m%d}{uuid.uuid4().hex[:12].upper()}"
        self._db.execute(
            "INSERT INTO instructions (instruction_id, idempotency_key, body, amount_fen, status, settled_at) "
            "VALUES (?, ?, ?, ?, 'settled', ?)",
            (instruction_id, request.idempotency_key, body, request.amount_fen, _stamp(now)),
        )
        row = self._row(request.idempotency_key)
        assert row is not None
        return _read(row), True

    def get(self, key: str) -> InstructionRead | None:
        row = self._row(key)
        return _read(row) if row is not None else None

    def all(self) -> list[InstructionRead]:
        return [_read(r) for r in self._db.execute("SELECT * FROM instructions ORDER BY settled_at")]

    def settled_on(self, day: date) -> list[InstructionRead]:
        """Instructions settled on a Beijing-time calendar day."""
        start, end = _day_bounds(day)
        rows = self._db.execute(
            "SELECT * FROM instructions WHERE settled_at >= ? AND settled_at < ? ORDER BY settled_at",
            (_stamp(start), _stamp(end)),
        )
        return [_read(r) for r in rows]

    def mark_returned(self, key: str, reason: str) -> InstructionRead | None:
        """The payee's bank sent a settled payment back. Once: a second call changes nothing."""
        self._db.execute(
            "UPDATE instructions SET status = 'returned', returned_at = ?, return_reason = ? "
            "WHERE idempotency_key = ? AND status = 'settled'",
            (_stamp(datetime.now(UTC)), reason, key),
        )
        return self.get(key)

    def returned_on(self, day: date) -> list[InstructionRead]:
        start, end = _day_bounds(day)
        rows = self._db.execute(
            "SELECT * FROM instructions WHERE returned_at >= ? AND returned_at < ? ORDER BY returned_at",
            (_stamp(start), _stamp(end)),
        )
        return [_read(r) for r in rows]

    def set_allocations(self, year: int, allocations: list[tuple[str, str, int]]) -> None:
        """(budget code, policy id, fen) for the year, replacing what was there."""
        self._db.execute("BEGIN")
        self._db.execute("DELETE FROM allocations WHERE fiscal_year = ?", (year,))
        self._db.executemany(
            "INSERT INTO allocations (fiscal_year, policy_id, budget_code, amount_fen) VALUES (?, ?, ?, ?)",
            [(year, policy_id, code, fen) for code, policy_id, fen in allocations],
        )
        self._db.execute("COMMIT")

    def allocations(self, year: int) -> list[tuple[str, str, int]]:
        rows = self._db.execute(
            "SELECT budget_code, policy_id, amount_fen FROM allocations WHERE fiscal_year = ? ORDER BY policy_id",
            (year,),
        )
        return [(r["budget_code"], r["policy_id"], r["amount_fen"]) for r in rows]

    def _row(self, key: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._db.execute(
            "SELECT * FROM instructions WHERE idempotency_key = ?", (key,)
        ).fetchone()
        return row


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI).astimezone(UTC)
    return start, start + timedelta(days=1)


def _stamp(moment: datetime) -> str:
    # One fixed width so that text order is time order in SQL comparisons.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _canonical(request: InstructionCreate) -> str:
    return json.dumps(request.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)


def _read(row: sqlite3.Row) -> InstructionRead:
    body: dict[str, Any] = json.loads(row["body"])
    return InstructionRead(
        instruction_id=row["instruction_id"],
        idempotency_key=row["idempotency_key"],
        status=row["status"],
        payer_budget_code=body["payer_budget_code"],
        payee=Payee.model_validate(body["payee"]),
        amount_fen=row["amount_fen"],
        purpose=body["purpose"],
        reference=body["reference"],
        settled_at=datetime.fromisoformat(row["settled_at"]),
        returned_at=datetime.fromisoformat(row["returned_at"]) if row["returned_at"] else None,
        return_reason=row["return_reason"],
    )
