from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from payment.finance import FinanceResult, PaymentInstruction
from payment.models import PENDING, SUBMITTED, UNKNOWN, Payment, PaymentAttempt


class FakePaymentRepository:
    """In-memory stand-in for PaymentRepository with the same rules of visibility."""

    def __init__(self) -> None:
        self.payments: dict[uuid.UUID, Payment] = {}
        self.attempts: list[PaymentAttempt] = []

    async def get(self, payment_id: uuid.UUID) -> Payment | None:
        return self.payments.get(payment_id)

    async def get_for_update(self, payment_id: uuid.UUID) -> Payment | None:
        return self.payments.get(payment_id)

    async def by_entitlement(self, entitlement_id: uuid.UUID) -> Payment | None:
        return next((p for p in self.payments.values() if p.entitlement_id == entitlement_id), None)

    async def for_enterprise(self, uscc: str) -> list[Payment]:
        return [p for p in self.payments.values() if p.uscc == uscc]

    async def add(self, payment: Payment) -> None:
        self.payments[payment.payment_id] = payment

    async def claim_due(self, now: datetime, limit: int) -> list[Payment]:
        due = [
            p
            for p in self.payments.values()
            if p.status in (PENDING, SUBMITTED, UNKNOWN) and p.next_attempt_at is not None and p.next_attempt_at <= now
        ]
        return sorted(due, key=lambda p: p.next_attempt_at or now)[:limit]

    async def add_attempt(self, attempt: PaymentAttempt) -> None:
        self.attempts.append(attempt)


@dataclass
class FakeFinance:
    """A finance system in memory: settles once per key, and misbehaves on cue.

    Each scripted behaviour is used by one submission: `fail` (503, nothing
    applied), `reject`, `timeout` (no answer; applied only when `land_late()` is
    called), `drop` (applied, answer lost), `error` (a 500 after applying nothing).
    """

    script: deque[str] = field(default_factory=deque)
    query_script: deque[str] = field(default_factory=deque)
    settled: dict[str, PaymentInstruction] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)
    submissions: list[PaymentInstruction] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    in_flight: list[PaymentInstruction] = field(default_factory=list)

    def then(self, *behaviours: str) -> FakeFinance:
        self.script.extend(behaviours)
        return self

    def land_late(self) -> None:
        for instruction in self.in_flight:
            self._apply(instruction)
        self.in_flight.clear()

    async def submit(self, instruction: PaymentInstruction) -> FinanceResult:
        self.submissions.append(instruction)
        behaviour = self.script.popleft() if self.script else "ok"
        if behaviour == "fail":
            return FinanceResult("not_applied", http_status=503, message="财政系统返回 HTTP 503")
        if behaviour == "error":
            return FinanceResult("ambiguous", http_status=500, message="财政系统返回 HTTP 500")
        if behaviour == "reject":
            return FinanceResult("rejected", http_status=422, code="account_invalid", message="收款账户无效")
        if behaviour == "timeout":
            self.in_flight.append(instruction)
            return FinanceResult("ambiguous", message="财政系统未返回结果：ReadTimeout")
        existing = self.settled.get(instruction.idempotency_key)
        if existing is not None and existing != instruction:
            return FinanceResult("rejected", http_status=409, code="idempotency_key_conflict", message="冲突")
        created = self._apply(instruction)
        if behaviour == "drop":
            return FinanceResult("ambiguous", message="财政系统未返回结果：RemoteProtocolError")
        return self._result(instruction.idempotency_key, 201 if created else 200)

    async def query(self, idempotency_key: str) -> FinanceResult:
        self.queries.append(idempotency_key)
        if self.query_script and self.query_script.popleft() == "error":
            return FinanceResult("ambiguous", http_status=502, message="财政系统返回 HTTP 502")
        if idempotency_key not in self.settled:
            return FinanceResult("not_found", http_status=404)
        return self._result(idempotency_key, 200)

    def _apply(self, instruction: PaymentInstruction) -> bool:
        if instruction.idempotency_key in self.settled:
            return False
        self.settled[instruction.idempotency_key] = instruction
        self.references[instruction.idempotency_key] = f"CZ{len(self.settled):08d}"
        return True

    def _result(self, key: str, status: int) -> FinanceResult:
        return FinanceResult(
            "settled",
            http_status=status,
            instruction_id=self.references[key],
            amount_fen=self.settled[key].amount_fen,
            settled_at=datetime(2026, 11, 25, 9, tzinfo=UTC),
        )


@dataclass
class Emitted:
    events: list[tuple[Any, str, str]] = field(default_factory=list)

    async def __call__(self, payload: Any, *, key: str, correlation_id: str) -> None:
        self.events.append((payload, key, correlation_id))

    def of_type(self, kind: type) -> list[Any]:
        return [e for e, _k, _c in self.events if isinstance(e, kind)]
