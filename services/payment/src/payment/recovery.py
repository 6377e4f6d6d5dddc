"""回头看 — recovery cases for money paid beyond what corrected facts support.

eligibility re-checks paid entitlements when department data is corrected; when
the policy now owes less than was paid, it says so (EntitlementOverpaid) and a
case opens here. Nothing is clawed back automatically: one operator proposes to
recover or to waive, and a different operator approves (or sends the proposal
back). Money the enterprise returns on an approved recovery is recorded by its
bank reference and posted to the ledger as a reversal of the original payment.
Every step is appended to the case's history. Nothing here commits.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from mianshen_shared.events.catalog import EntitlementOverpaid
from mianshen_shared.messaging import Rejected
from mianshen_shared.money import format_yuan
from mianshen_shared.problems import ProblemError
from payment import ledger as double_entry
from payment.budget import fiscal_year_of
from payment.models import (
    CASE_OPEN,
    CASE_PROPOSED,
    CASE_RECOVERED,
    CASE_RECOVERING,
    CASE_WAIVED,
    SUCCEEDED,
    Payment,
    RecoveryCase,
    RecoveryCaseEntry,
    RecoveryRepayment,
)
from payment.money_repository import LedgerRepository
from payment.repository import RecoveryRepository

SHANGHAI = ZoneInfo("Asia/Shanghai")
SYSTEM_ACTOR = "system"
RECOVERY_DUE, RECOVERY_RECEIVED = "recovery_due", "recovery_received"
Action = Literal["recover", "waive"]


class Repository(Protocol):
    async def payment_for(self, entitlement_id: uuid.UUID) -> Payment | None: ...
    async def case_for(self, entitlement_id: uuid.UUID, due_fen: int) -> RecoveryCase | None: ...
    async def get(self, case_id: uuid.UUID, *, for_update: bool = False) -> RecoveryCase | None: ...
    async def listed(self, *, uscc: str | None = None, status: str | None = None) -> list[RecoveryCase]: ...
    async def add(self, case: RecoveryCase) -> None: ...
    async def history(self, case_id: uuid.UUID) -> list[RecoveryCaseEntry]: ...
    async def append(self, entry: RecoveryCaseEntry) -> None: ...
    async def repayment(self, case_id: uuid.UUID, reference: str) -> RecoveryRepayment | None: ...
    async def repayments(self, case_id: uuid.UUID) -> list[RecoveryRepayment]: ...
    async def add_repayment(self, repayment: RecoveryRepayment) -> None: ...


class Ledger(Protocol):
    """Where a recovery is journalled; each call returns the journal's id."""

    async def recovery_due(self, case: RecoveryCase, *, now: datetime) -> uuid.UUID: ...
    async def repayment_received(
        self, case: RecoveryCase, repayment: RecoveryRepayment, *, now: datetime
    ) -> uuid.UUID: ...


class SessionLedger:
    """The recovery's journals in payment's double-entry ledger (payment/ledger.py).

    Deciding to recover moves the overpaid part of the expense to a receivable
    (Dr receivable / Cr expense); money coming back settles the receivable into
    the paying budget unit's funds (Dr treasury / Cr receivable). Together they
    reverse the overpaid part of the payment's settlement journal, on the same
    accounts that journal used."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def recovery_due(self, case: RecoveryCase, *, now: datetime) -> uuid.UUID:
        expense, _treasury = await self._settled_on(case, now)
        return await double_entry.post(
            self._session,
            [
                double_entry.Line.debit(double_entry.receivable_account(case.uscc), case.overpaid_fen),
                double_entry.Line.credit(expense, case.overpaid_fen),
            ],
            kind=RECOVERY_DUE,
            now=now,
            payment_id=case.payment_id,
            memo=f"回头看决定追回：案件 {case.case_id}",
        )

    async def repayment_received(self, case: RecoveryCase, repayment: RecoveryRepayment, *, now: datetime) -> uuid.UUID:
        _expense, treasury = await self._settled_on(case, now)
        return await double_entry.post(
            self._session,
            [
                double_entry.Line.debit(treasury, repayment.amount_fen),
                double_entry.Line.credit(double_entry.receivable_account(case.uscc), repayment.amount_fen),
            ],
            kind=RECOVERY_RECEIVED,
            now=now,
            payment_id=case.payment_id,
            memo=f"回头看追回到账：流水号 {repayment.reference}",
        )

    async def _settled_on(self, case: RecoveryCase, now: datetime) -> tuple[str, str]:
        """The expense and treasury accounts the payment's settlement used."""
        journals = LedgerRepository(self._session)
        for journal_id in await journals.journal_ids_for_payment(case.payment_id, double_entry.SETTLEMENT):
            lines = await journals.journal(journal_id)
            expense = next((e.account for e in lines if e.debit_fen > 0), None)
            treasury = next((e.account for e in lines if e.credit_fen > 0), None)
            if expense and treasury:
                return expense, treasury
        # Paid before the ledger was kept: the accounts its settlement would have used.
        payment = await RecoveryRepository(self._session).payment(case.payment_id)
        issued = (payment.issued_at if payment else None) or now
        budget_code = (payment.payer_budget_code if payment else None) or "unknown"
        return (
            double_entry.expense_account(case.policy_id, fiscal_year_of(issued)),
            double_entry.treasury_account(budget_code),
        )


def ledger_for(session: AsyncSession) -> Ledger:
    return SessionLedger(session)


# --- the overpayment comes in -------------------------------------------------------------


async def open_case(repo: Repository, *, overpaid: EntitlementOverpaid, now: datetime) -> RecoveryCase:
    """One case per entitlement and corrected amount, however often the news arrives."""
    if overpaid.due_fen >= overpaid.paid_fen:
        raise Rejected(
            "not_overpaid",
            f"应得金额（{format_yuan(overpaid.due_fen)}）不低于已付金额（{format_yuan(overpaid.paid_fen)}），无需追回",
        )
    existing = await repo.case_for(overpaid.entitlement_id, overpaid.due_fen)
    if existing is not None:
        return existing
    payment = await repo.payment_for(overpaid.entitlement_id)
    if payment is None:
        raise Rejected("payment_not_found", f"未找到待遇 {overpaid.entitlement_id} 的支付记录，无法立案追回")
    if payment.status != SUCCEEDED:
        raise Rejected("payment_not_issued", f"待遇 {overpaid.entitlement_id} 的资金尚未拨付到账，不存在多付")
    case = RecoveryCase(
        case_id=uuid.uuid4(),
        entitlement_id=overpaid.entitlement_id,
        payment_id=payment.payment_id,
        uscc=overpaid.uscc,
        enterprise_name=overpaid.enterprise_name or payment.enterprise_name,
        policy_id=overpaid.policy_id,
        policy_version=overpaid.policy_version,
        award_key=overpaid.award_key,
        paid_fen=overpaid.paid_fen,
        due_fen=overpaid.due_fen,
        overpaid_fen=overpaid.paid_fen - overpaid.due_fen,
        recovered_fen=0,
        reason=overpaid.reason,
        explanation=overpaid.explanation.model_dump(mode="json") if overpaid.explanation else None,
        status=CASE_OPEN,
        detected_at=overpaid.detected_at,
        created_at=now,
        updated_at=now,
    )
    await repo.add(case)
    await _note(repo, case, "opened", SYSTEM_ACTOR, overpaid.reason, now, paid_fen=case.paid_fen, due_fen=case.due_fen)
    return case


# --- the operators' decision -----------------------------------------------------------------


async def propose(
    repo: Repository, *, case_id: uuid.UUID, action: Action, reason: str, actor: str, now: datetime
) -> RecoveryCase:
    case = await _case(repo, case_id, for_update=True)
    if case.status == CASE_PROPOSED and (case.proposed_action, case.proposed_by) == (action, actor):
        return case  # the same proposal sent twice
    if case.status != CASE_OPEN:
        raise ProblemError(409, "case_not_open", f"该追回案件当前为“{STATUS_TEXT[case.status]}”，不能提出处理意见")
    case.status = CASE_PROPOSED
    case.proposed_action = action
    case.proposed_by = actor
    case.updated_at = now
    await _note(repo, case, f"proposed_{action}", actor, reason, now)
    return case


async def approve(
    repo: Repository, ledger: Ledger, *, case_id: uuid.UUID, reason: str, actor: str, now: datetime
) -> RecoveryCase:
    case = await _case(repo, case_id, for_update=True)
    if case.status in (CASE_RECOVERING, CASE_WAIVED, CASE_RECOVERED) and case.decided_by == actor:
        return case  # the same approval sent twice
    _require_proposed(case)
    _require_second_person(case, actor)
    case.decided_by = actor
    case.updated_at = now
    if case.proposed_action == "recover":
        case.status = CASE_RECOVERING
        journal_id = await ledger.recovery_due(case, now=now)
        await _note(repo, case, "approved_recover", actor, reason, now, journal_id=str(journal_id))
    else:
        case.status = CASE_WAIVED
        await _note(repo, case, "approved_waive", actor, reason, now)
    return case


async def reject(repo: Repository, *, case_id: uuid.UUID, reason: str, actor: str, now: datetime) -> RecoveryCase:
    """The reviewer sends the proposal back; the case is open again for a new one."""
    case = await _case(repo, case_id, for_update=True)
    _require_proposed(case)
    _require_second_person(case, actor)
    rejected_action = case.proposed_action
    case.status = CASE_OPEN
    case.proposed_action = None
    case.proposed_by = None
    case.updated_at = now
    await _note(repo, case, f"rejected_{rejected_action}", actor, reason, now)
    return case


def _require_proposed(case: RecoveryCase) -> None:
    if case.status != CASE_PROPOSED:
        raise ProblemError(
            409, "case_not_proposed", f"该追回案件当前为“{STATUS_TEXT[case.status]}”，没有待审核的处理意见"
        )


def _require_second_person(case: RecoveryCase, actor: str) -> None:
    if actor == case.proposed_by:
        raise ProblemError(403, "separation_of_duties", "提出处理意见的人员不能审核自己的意见，请由其他人员审核")


# --- money coming back -----------------------------------------------------------------------


async def record_repayment(
    repo: Repository,
    ledger: Ledger,
    *,
    case_id: uuid.UUID,
    amount_fen: int,
    received_on: date,
    reference: str,
    actor: str,
    now: datetime,
) -> RecoveryCase:
    """Money returned on an approved recovery, journalled once per bank reference."""
    case = await _case(repo, case_id, for_update=True)
    earlier = await repo.repayment(case.case_id, reference)
    if earlier is not None:
        if (earlier.amount_fen, earlier.received_on) == (amount_fen, received_on):
            return case
        raise ProblemError(
            409, "repayment_reference_conflict", f"回款流水号 {reference} 已登记，金额或到账日期与本次不同"
        )
    if case.status != CASE_RECOVERING:
        raise ProblemError(
            409,
            "case_not_recovering",
            f"该追回案件当前为“{STATUS_TEXT[case.status]}”，不能登记回款（须先经审核决定追回）",
        )
    outstanding = case.overpaid_fen - case.recovered_fen
    if amount_fen > outstanding:
        raise ProblemError(
            422,
            "repayment_exceeds_outstanding",
            f"回款金额（{format_yuan(amount_fen)}）超过尚待追回的金额（{format_yuan(outstanding)}）",
            errors=[{"field": "amount_fen", "code": "exceeds_outstanding", "message": "超过尚待追回的金额"}],
        )
    if received_on > now.astimezone(SHANGHAI).date():
        raise ProblemError(
            422,
            "received_on_in_future",
            "到账日期不能晚于今天",
            errors=[{"field": "received_on", "code": "in_future", "message": "到账日期不能晚于今天"}],
        )
    repayment = RecoveryRepayment(
        repayment_id=uuid.uuid4(),
        case_id=case.case_id,
        reference=reference,
        amount_fen=amount_fen,
        received_on=received_on,
        recorded_by=actor,
        recorded_at=now,
    )
    await repo.add_repayment(repayment)
    repayment.journal_id = str(await ledger.repayment_received(case, repayment, now=now))
    case.recovered_fen += amount_fen
    if case.recovered_fen == case.overpaid_fen:
        case.status = CASE_RECOVERED
    case.updated_at = now
    await _note(
        repo,
        case,
        "repayment_recorded",
        actor,
        f"回款 {format_yuan(amount_fen)}，流水号 {reference}",
        now,
        amount_fen=amount_fen,
        reference=reference,
        received_on=received_on.isoformat(),
        journal_id=repayment.journal_id,
    )
    return case


# --- reads -----------------------------------------------------------------------------------

STATUS_TEXT = {
    CASE_OPEN: "经复核发现多付，待处理",
    CASE_PROPOSED: "处理意见待审核",
    CASE_RECOVERING: "已决定追回，待企业退回资金",
    CASE_RECOVERED: "多付资金已退回",
    CASE_WAIVED: "经审核免于追回",
}


async def cases(repo: Repository, *, uscc: str | None = None, status: str | None = None) -> list[RecoveryCase]:
    return await repo.listed(uscc=uscc, status=status)


async def get_case(repo: Repository, *, case_id: uuid.UUID) -> RecoveryCase:
    return await _case(repo, case_id)


async def _case(repo: Repository, case_id: uuid.UUID, *, for_update: bool = False) -> RecoveryCase:
    case = await repo.get(case_id, for_update=for_update)
    if case is None:
        raise ProblemError(404, "recovery_case_not_found", "未找到该追回案件")
    return case


async def _note(
    repo: Repository, case: RecoveryCase, action: str, actor: str, reason: str, now: datetime, **detail: Any
) -> None:
    await repo.append(
        RecoveryCaseEntry(case_id=case.case_id, action=action, actor=actor, reason=reason, detail=detail, at=now)
    )
