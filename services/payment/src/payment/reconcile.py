"""对账 — the finance system's statement for a day against our payments and ledger.

Differences found, by kind:
- `missing_in_finance`: we hold a payment as paid on that day; the statement does not.
- `missing_in_ledger`: the statement shows a settlement we have no paid payment or
  settlement journal for.
- `amount_mismatch`: both sides know it, with different amounts.
- `returned`: the payee's bank sent a settled payment back (退票). This one is also
  acted on: the payment becomes `returned`, its settlement journal is reversed,
  its spending goes back to the budget and PaymentFailed(reason_code="returned")
  tells the enterprise.

`python -m payment.reconcile --date YYYY-MM-DD` runs one reconciliation; every run
and its differences are kept.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from mianshen_shared import db, observability, tracing
from mianshen_shared.events.catalog import PaymentFailed
from mianshen_shared.problems import ProblemError
from payment import ledger
from payment.config import Settings
from payment.models import (
    RETURNED,
    SUCCEEDED,
    Payment,
    ReconciliationDifference,
    ReconciliationRun,
)
from payment.money import SessionMoney
from payment.money_repository import LedgerRepository, ReconciliationRepository
from payment.service import Emit

SHANGHAI = ZoneInfo("Asia/Shanghai")
STATEMENT_PATH = "/api/v1/statement"
MISSING_IN_FINANCE, MISSING_IN_LEDGER = "missing_in_finance", "missing_in_ledger"
AMOUNT_MISMATCH, RETURNED_KIND = "amount_mismatch", "returned"


@dataclass(frozen=True)
class StatementLine:
    idempotency_key: str
    instruction_id: str
    amount_fen: int
    status: str
    return_reason: str | None = None


@dataclass(frozen=True)
class Statement:
    day: date
    lines: list[StatementLine]
    returned: list[StatementLine] = field(default_factory=list)

    @property
    def total_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines)


def _line(raw: dict[str, Any]) -> StatementLine:
    return StatementLine(
        idempotency_key=str(raw["idempotency_key"]),
        instruction_id=str(raw["instruction_id"]),
        amount_fen=int(raw["amount_fen"]),
        status=str(raw["status"]),
        return_reason=raw.get("return_reason"),
    )


async def fetch_statement(client: httpx.AsyncClient, day: date) -> Statement:
    try:
        response = await client.get(STATEMENT_PATH, params={"date": day.isoformat()})
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return Statement(
            day=day,
            lines=[_line(r) for r in body["instructions"]],
            returned=[_line(r) for r in body.get("returned", [])],
        )
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise ProblemError(502, "statement_unavailable", f"无法获取财政系统对账单：{type(exc).__name__}") from exc


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI).astimezone(UTC)
    return start, start + timedelta(days=1)


async def reconcile(session: AsyncSession, statement: Statement, *, now: datetime, emit: Emit) -> ReconciliationRun:
    """Compare, act on returns, and store the run with its differences."""
    repo = ReconciliationRepository(session)
    money = SessionMoney(session)
    run_id = uuid.uuid4()
    by_key = {line.idempotency_key: line for line in statement.lines}
    for line in statement.returned:
        by_key.setdefault(line.idempotency_key, line)
    payments = await repo.payments_by_keys(sorted(by_key))
    start, end = day_bounds(statement.day)
    ours = await repo.issued_between(start, end, [SUCCEEDED, RETURNED])
    journaled = await LedgerRepository(session).debits_by_payment(
        [p.payment_id for p in {*payments.values(), *ours}], ledger.SETTLEMENT
    )
    differences: list[ReconciliationDifference] = []

    def differ(kind: str, key: str, payment: Payment | None, finance_fen: int | None, detail: str) -> None:
        differences.append(
            ReconciliationDifference(
                run_id=run_id,
                kind=kind,
                idempotency_key=key,
                payment_id=payment.payment_id if payment is not None else None,
                our_amount_fen=payment.amount_fen if payment is not None else None,
                finance_amount_fen=finance_fen,
                detail=detail,
            )
        )

    for key, line in sorted(by_key.items()):
        payment = payments.get(key)
        if payment is None or payment.status not in (SUCCEEDED, RETURNED):
            state = "无此支付" if payment is None else f"本系统状态为 {payment.status}"
            differ(MISSING_IN_LEDGER, key, payment, line.amount_fen, f"财政已结算（{line.instruction_id}），{state}")
            continue
        if payment.amount_fen != line.amount_fen:
            differ(AMOUNT_MISMATCH, key, payment, line.amount_fen, "财政结算金额与应付金额不一致")
        elif payment.status == SUCCEEDED and journaled.get(payment.payment_id, 0) != line.amount_fen:
            booked = journaled.get(payment.payment_id, 0)
            kind = MISSING_IN_LEDGER if booked == 0 else AMOUNT_MISMATCH
            differ(kind, key, payment, line.amount_fen, f"账簿记载的结算金额为 {booked} 分")
        if line.status == "returned" and payment.status == SUCCEEDED:
            reason = line.return_reason or "银行退票"
            await mark_returned(payment, money, reason=reason, now=now, emit=emit)
            differ(RETURNED_KIND, key, payment, line.amount_fen, f"已退回：{reason}；已冲销结算凭证并释放预算")
    for payment in ours:
        if payment.idempotency_key not in by_key:
            differ(MISSING_IN_FINANCE, payment.idempotency_key, payment, None, "本系统记为已兑现，财政对账单中没有")
    run = ReconciliationRun(
        run_id=run_id,
        statement_date=statement.day,
        status="completed",
        statement_count=len(statement.lines),
        statement_total_fen=statement.total_fen,
        our_count=len(ours),
        our_total_fen=sum(p.amount_fen for p in ours),
        difference_count=len(differences),
        started_at=now,
        finished_at=datetime.now(UTC),
    )
    await repo.add_run(run, differences)
    return run


async def mark_returned(payment: Payment, money: SessionMoney, *, reason: str, now: datetime, emit: Emit) -> None:
    payment.status = RETURNED
    payment.returned_at = now
    payment.failure_code = "returned"
    payment.failure_reason = f"资金被收款银行退回：{reason}"
    payment.updated_at = now
    await money.returned(payment, reason, now)
    policy_id = payment.policy_id
    observability.on_commit(lambda: observability.PAYMENTS.labels(policy_id, "returned").inc())
    with tracing.resumed(payment.traceparent):
        await emit(
            PaymentFailed(
                payment_id=payment.payment_id,
                entitlement_id=payment.entitlement_id,
                uscc=payment.uscc,
                policy_id=payment.policy_id,
                amount_fen=payment.amount_fen,
                idempotency_key=payment.idempotency_key,
                reason_code="returned",
                reason=payment.failure_reason,
                failed_at=now,
            ),
            key=payment.uscc,
            correlation_id=payment.correlation_id,
        )


# --- CLI --------------------------------------------------------------------------------


async def run_for(
    settings: Settings, day: date, *, transport: httpx.AsyncBaseTransport | None = None
) -> ReconciliationRun:
    from payment.bootstrap import bootstrap

    runtime = bootstrap(settings)
    try:
        async with httpx.AsyncClient(
            base_url=settings.finance_url, timeout=settings.finance_timeout_seconds, transport=transport
        ) as client:
            statement = await fetch_statement(client, day)
        async with db.transaction(runtime.sessions) as session:

            async def emit(payload: Any, *, key: str, correlation_id: str) -> None:
                await runtime.outbox.add(session, payload, key=key, correlation_id=correlation_id)

            return await reconcile(session, statement, now=datetime.now(UTC), emit=emit)
    finally:
        await runtime.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m payment.reconcile", description="与财政系统对账")
    parser.add_argument("--date", type=date.fromisoformat, required=True, help="对账日期（北京时间），YYYY-MM-DD")
    args = parser.parse_args(argv)
    run = asyncio.run(run_for(Settings(), args.date))
    print(
        f"run {run.run_id}: {run.statement_count} on statement, {run.our_count} ours, "
        f"{run.difference_count} differences"
    )
    return 1 if run.difference_count else 0


if __name__ == "__main__":
    raise SystemExit(main())
