"""意愿确认 — the enterprise confirms it wants a benefit, and follows it until paid.

Every determined entitlement gets one confirmation request. The enterprise
accepts (giving the account to pay into) or declines; a withdrawn entitlement
closes an open request; an unanswered one expires after its deadline. Credit
and payment outcomes then move the entitlement's status, and each step is kept
in its history so the enterprise can see what happened and when.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from confirmation import notices
from confirmation.models import Confirmation, Entitlement, Notification, ReminderSent, SavedBankAccount, StatusEvent
from mianshen_shared import observability, tracing
from mianshen_shared.events import Payload
from mianshen_shared.events.catalog import (
    NON_CASH_BENEFITS,
    BankAccount,
    BenefitExecuted,
    ConfirmationAccepted,
    ConfirmationClosed,
    ConfirmationDeclined,
    ConfirmationRequested,
    ConfirmationRevoked,
    CreditAssessed,
    EntitlementDetermined,
    PaymentFailed,
    PaymentIssued,
    PaymentProgressed,
    SealedBankAccount,
)
from mianshen_shared.messaging import Rejected
from mianshen_shared.money import format_yuan
from mianshen_shared.problems import ProblemError
from mianshen_shared.sealing import Sealer
from mianshen_shared.sealing import mask_account_number as mask_account_number

SHANGHAI = ZoneInfo("Asia/Shanghai")
CONFIRMATION_WINDOW_DAYS = 30


class EntitlementStatus(StrEnum):
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CREDIT_HELD = "credit_held"
    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    PAYMENT_FAILED = "payment_failed"
    WITHDRAWN = "withdrawn"
    # A reduction granted by a third party (e.g. a state-owned lessor), accepted
    # without a bank account: nothing is paid; the executing party acts on it.
    AWAITING_EXECUTION = "awaiting_execution"
    # The payment's stages (payment.progressed) and the executed reduction.
    IN_NOTICE = "in_notice"
    NOTICE_OBJECTED = "notice_objected"
    BUDGET_EXHAUSTED = "budget_exhausted"
    SUBMITTED = "submitted"
    CANCELLED = "cancelled"
    EXECUTED = "executed"

    @property
    def text(self) -> str:
        """How the front ends show the status to the enterprise."""
        return ENTITLEMENT_STATUS_TEXT[self]


ENTITLEMENT_STATUS_TEXT = {
    EntitlementStatus.AWAITING_CONFIRMATION: "待确认申领",
    EntitlementStatus.ACCEPTED: "已确认，信用核查中",
    EntitlementStatus.DECLINED: "已放弃",
    EntitlementStatus.CREDIT_HELD: "因信用记录暂缓兑现",
    EntitlementStatus.AWAITING_PAYMENT: "待拨付",
    EntitlementStatus.PAID: "已兑现",
    EntitlementStatus.PAYMENT_FAILED: "拨付失败",
    EntitlementStatus.WITHDRAWN: "资格已撤回",
    EntitlementStatus.AWAITING_EXECUTION: "待实施主体办理减免（无需提供收款账户）",
    EntitlementStatus.IN_NOTICE: "公示中",
    EntitlementStatus.NOTICE_OBJECTED: "公示异议处理中",
    EntitlementStatus.BUDGET_EXHAUSTED: "预算额度不足，待追加预算",
    EntitlementStatus.SUBMITTED: "已提交财政",
    EntitlementStatus.CANCELLED: "已撤回",
    EntitlementStatus.EXECUTED: "已办理减免",
}


class ConfirmationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CLOSED = "closed"
    EXPIRED = "expired"


CONFIRMATION_STATUS_LABELS = {
    ConfirmationStatus.PENDING: "待确认",
    ConfirmationStatus.ACCEPTED: "已确认",
    ConfirmationStatus.DECLINED: "已放弃",
    ConfirmationStatus.CLOSED: "已关闭",
    ConfirmationStatus.EXPIRED: "已过期",
}
# Statuses in which the enterprise has accepted and the money path is under way.
_IN_MONEY_PATH = {
    EntitlementStatus.ACCEPTED,
    EntitlementStatus.CREDIT_HELD,
    EntitlementStatus.AWAITING_PAYMENT,
    EntitlementStatus.AWAITING_EXECUTION,
}
_PAYMENT_OUTCOMES = {EntitlementStatus.PAID, EntitlementStatus.PAYMENT_FAILED, EntitlementStatus.EXECUTED}
# Set by payment.progressed: later news than any credit assessment.
_PAYMENT_STAGES = {
    EntitlementStatus.IN_NOTICE,
    EntitlementStatus.NOTICE_OBJECTED,
    EntitlementStatus.BUDGET_EXHAUSTED,
    EntitlementStatus.SUBMITTED,
    EntitlementStatus.CANCELLED,
}


class Emit(Protocol):
    async def __call__(self, payload: Payload, *, key: str, correlation_id: str | None = None) -> object: ...


class DeterminationStore(Protocol):
    """What applying one determination reads and writes."""

    async def lock_entitlement(self, entitlement_id: uuid.UUID) -> Entitlement | None: ...
    async def add_entitlement(self, entitlement: Entitlement) -> None: ...
    async def add_status_event(self, event: StatusEvent) -> None: ...
    async def confirmation_for_entitlement(self, entitlement_id: uuid.UUID) -> Confirmation | None: ...
    async def add_confirmation(self, confirmation: Confirmation) -> None: ...
    async def add_notification(self, notification: Notification) -> None: ...


class Repository(DeterminationStore, Protocol):
    async def lock_entitlements(self, entitlement_ids: Sequence[uuid.UUID]) -> list[Entitlement]: ...
    async def confirmations_for_entitlements(self, entitlement_ids: Sequence[uuid.UUID]) -> list[Confirmation]: ...
    async def add_new(self, entitlements: Sequence[Entitlement], confirmations: Sequence[Confirmation]) -> None: ...
    async def add_status_events(self, events: Sequence[StatusEvent]) -> None: ...
    async def status_events(self, entitlement_id: uuid.UUID) -> list[StatusEvent]: ...
    async def entitlement_of(self, uscc: str, entitlement_id: uuid.UUID) -> Entitlement | None: ...
    async def entitlements_of(self, uscc: str) -> list[Entitlement]: ...
    async def confirmation_of(self, uscc: str, confirmation_id: uuid.UUID) -> Confirmation | None: ...
    async def confirmations_of(
        self, uscc: str, *, status: str | None, today: date
    ) -> list[tuple[Confirmation, Entitlement]]: ...
    async def overdue_confirmations(self, today: date, *, limit: int = 500) -> list[Confirmation]: ...
    async def add_notifications(self, notifications: Sequence[Notification]) -> None: ...
    async def saved_accounts_of(self, uscc: str) -> list[SavedBankAccount]: ...
    async def saved_account_of(self, uscc: str, account_id: uuid.UUID) -> SavedBankAccount | None: ...
    async def add_saved_account(self, account: SavedBankAccount) -> None: ...
    async def claim_reminder_candidates(
        self, today: date, until: date, *, limit: int = 500
    ) -> list[tuple[Confirmation, Entitlement, set[int]]]: ...
    async def add_reminder(self, reminder: ReminderSent) -> None: ...


@dataclass(frozen=True)
class ConfirmationView:
    confirmation: Confirmation
    entitlement: Entitlement
    status: ConfirmationStatus  # what the enterprise sees: overdue counts as expired


@dataclass(frozen=True)
class EntitlementDetail:
    entitlement: Entitlement
    history: list[StatusEvent]
    confirmation: ConfirmationView | None


def shanghai_today(now: datetime) -> date:
    return now.astimezone(SHANGHAI).date()


def effective_status(confirmation: Confirmation, today: date) -> ConfirmationStatus:
    status = ConfirmationStatus(confirmation.status)
    if status is ConfirmationStatus.PENDING and confirmation.deadline < today:
        return ConfirmationStatus.EXPIRED
    return status


def _set_status(entitlement: Entitlement, status: EntitlementStatus, *, now: datetime, text: str | None = None) -> None:
    """`text`: the status as the enterprise reads it when it carries a date or a reason."""
    entitlement.status = status
    entitlement.status_text = text
    entitlement.updated_at = now


def status_text(entitlement: Entitlement) -> str:
    return entitlement.status_text or EntitlementStatus(entitlement.status).text


# --- 数据比对 results --------------------------------------------------------------


async def apply_determination(
    repo: DeterminationStore,
    *,
    determination: EntitlementDetermined,
    now: datetime,
    emit: Emit,
    correlation_id: str | None = None,
) -> None:
    """`correlation_id`: the determination's, kept on the entitlement so the events the
    enterprise's answer causes later still carry the department push's correlation id."""
    d = determination
    entitlement = await repo.lock_entitlement(d.entitlement_id)
    if entitlement is not None:
        _check_belongs(entitlement, uscc=d.uscc)
        if entitlement.policy_id != d.policy_id:
            raise Rejected(
                "policy_mismatch",
                f"兑现资格 {d.entitlement_id} 原属政策 {entitlement.policy_id}，不能改为 {d.policy_id}",
            )
    if d.change == "withdrawn":
        await _withdraw(repo, entitlement, d, now=now, emit=emit)
    elif entitlement is None:
        await _open(repo, d, now=now, emit=emit)
    else:
        await _redetermine(repo, entitlement, d, now=now, emit=emit)
    if correlation_id is not None and (kept := await repo.lock_entitlement(d.entitlement_id)) is not None:
        kept.correlation_id = correlation_id


async def apply_determinations(
    repo: Repository, *, determinations: Sequence[tuple[EntitlementDetermined, Emit, str | None]], now: datetime
) -> None:
    """apply_determination for each (determination, its emitter) in order, with the same
    rows, history and events, but a constant number of queries however long the run:
    every entitlement and confirmation the run touches is loaded (and locked) at once,
    the determinations are applied to them in memory, and what is new is written at once."""
    ids = list(dict.fromkeys(d.entitlement_id for d, _emit, _cid in determinations))
    staged = _StagedDeterminations(
        entitlements={e.entitlement_id: e for e in await repo.lock_entitlements(ids)},
        confirmations={c.entitlement_id: c for c in await repo.confirmations_for_entitlements(ids)},
    )
    for d, emit, correlation_id in determinations:
        await apply_determination(staged, determination=d, now=now, emit=emit, correlation_id=correlation_id)
    await repo.add_new(staged.new_entitlements, staged.new_confirmations)
    await repo.add_status_events(staged.history)
    await repo.add_notifications(staged.notifications)


@dataclass
class _StagedDeterminations:
    """A run's entitlements and confirmations, loaded up front: what one determination
    changes or adds, the next one in the run sees, as it would after a commit."""

    entitlements: dict[uuid.UUID, Entitlement]
    confirmations: dict[uuid.UUID, Confirmation]  # by entitlement id
    new_entitlements: list[Entitlement] = field(default_factory=list)
    new_confirmations: list[Confirmation] = field(default_factory=list)
    history: list[StatusEvent] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)

    async def lock_entitlement(self, entitlement_id: uuid.UUID) -> Entitlement | None:
        return self.entitlements.get(entitlement_id)

    async def add_entitlement(self, entitlement: Entitlement) -> None:
        self.entitlements[entitlement.entitlement_id] = entitlement
        self.new_entitlements.append(entitlement)

    async def add_status_event(self, event: StatusEvent) -> None:
        self.history.append(event)

    async def confirmation_for_entitlement(self, entitlement_id: uuid.UUID) -> Confirmation | None:
        return self.confirmations.get(entitlement_id)

    async def add_confirmation(self, confirmation: Confirmation) -> None:
        self.confirmations[confirmation.entitlement_id] = confirmation
        self.new_confirmations.append(confirmation)

    async def add_notification(self, notification: Notification) -> None:
        self.notifications.append(notification)


async def _open(repo: DeterminationStore, d: EntitlementDetermined, *, now: datetime, emit: Emit) -> None:
    entitlement = Entitlement(
        entitlement_id=d.entitlement_id,
        uscc=d.uscc,
        enterprise_name=d.enterprise_name,
        policy_id=d.policy_id,
        policy_version=d.policy_version,
        policy_title=d.policy_title,
        award_key=d.award_key,
        amount_fen=d.amount_fen,
        benefit_kind=d.benefit_kind,
        explanation=d.explanation.model_dump(mode="json"),
        status=EntitlementStatus.AWAITING_CONFIRMATION,
        determined_at=d.determined_at,
        updated_at=now,
    )
    await repo.add_entitlement(entitlement)
    await _record(
        repo,
        entitlement,
        kind="determined",
        note=f"经数据比对，符合《{d.policy_title}》兑现条件，金额{format_yuan(d.amount_fen)}",
        details={"amount_fen": d.amount_fen, "policy_version": d.policy_version},
        at=d.determined_at,
    )
    # A reduction is confirmed too, only without a bank account (see accept).
    await _request(repo, entitlement, None, days=d.confirmation_days, now=now, emit=emit)


async def _redetermine(
    repo: DeterminationStore, entitlement: Entitlement, d: EntitlementDetermined, *, now: datetime, emit: Emit
) -> None:
    was_withdrawn = entitlement.status == EntitlementStatus.WITHDRAWN
    if not was_withdrawn and _same_determination(entitlement, d):
        return
    previous_amount = entitlement.amount_fen
    entitlement.enterprise_name = d.enterprise_name or entitlement.enterprise_name
    entitlement.policy_version = d.policy_version
    entitlement.policy_title = d.policy_title
    entitlement.award_key = d.award_key
    entitlement.amount_fen = d.amount_fen
    entitlement.benefit_kind = d.benefit_kind
    entitlement.explanation = d.explanation.model_dump(mode="json")
    entitlement.determined_at = d.determined_at
    entitlement.updated_at = now
    change = {"previous_amount_fen": previous_amount, "amount_fen": d.amount_fen}
    confirmation = await repo.confirmation_for_entitlement(entitlement.entitlement_id)
    answered = confirmation is not None and confirmation.status in (
        ConfirmationStatus.ACCEPTED,
        ConfirmationStatus.DECLINED,
    )
    if not answered:
        if was_withdrawn:
            kind, note = "reinstated", f"经重新比对，恢复兑现资格，金额{format_yuan(d.amount_fen)}"
        else:
            kind, note = "redetermined", _amount_change_note(previous_amount, d.amount_fen)
        _set_status(entitlement, EntitlementStatus.AWAITING_CONFIRMATION, now=now)
        await _record(repo, entitlement, kind=kind, note=note, details=change, at=d.determined_at)
        reopened = confirmation is None or confirmation.status != ConfirmationStatus.PENDING
        if reopened or previous_amount != d.amount_fen:
            await _request(repo, entitlement, confirmation, days=d.confirmation_days, now=now, emit=emit)
        return
    assert confirmation is not None
    if was_withdrawn:
        _set_status(
            entitlement,
            EntitlementStatus.ACCEPTED
            if confirmation.status == ConfirmationStatus.ACCEPTED
            else EntitlementStatus.DECLINED,
            now=now,
        )
    # The enterprise answered for the earlier amount; settling the difference is the
    # money path's business, so only the fact is recorded here.
    await _record(
        repo,
        entitlement,
        kind="changed_after_answer",
        note=_amount_change_note(previous_amount, d.amount_fen) + "（企业已作出答复，按原确认办理）",
        details={**change, "confirmed_amount_fen": confirmation.amount_fen},
        at=d.determined_at,
    )


async def _withdraw(
    repo: DeterminationStore,
    entitlement: Entitlement | None,
    d: EntitlementDetermined,
    *,
    now: datetime,
    emit: Emit,
) -> None:
    if entitlement is None:
        raise Rejected("unknown_entitlement", f"要撤销的兑现资格 {d.entitlement_id} 不存在")
    if entitlement.status == EntitlementStatus.WITHDRAWN:
        return
    reason = f"经重新比对，已不符合《{d.policy_title}》兑现条件，兑现资格撤销"
    details = {"explanation": d.explanation.model_dump(mode="json")}
    if entitlement.status == EntitlementStatus.PAID:
        # Money already went out; recovering it is not this service's decision.
        await _record(
            repo,
            entitlement,
            kind="withdrawn_after_payment",
            note=reason + "（资金已拨付）",
            details=details,
            at=d.determined_at,
        )
        return
    _set_status(entitlement, EntitlementStatus.WITHDRAWN, now=now)
    await _record(repo, entitlement, kind="withdrawn", note=reason, details=details, at=d.determined_at)
    confirmation = await repo.confirmation_for_entitlement(entitlement.entitlement_id)
    if confirmation is not None and confirmation.status == ConfirmationStatus.PENDING:
        await _close(
            confirmation,
            status=ConfirmationStatus.CLOSED,
            reason=reason,
            now=now,
            emit=emit,
            policy_id=entitlement.policy_id,
        )
    await repo.add_notification(notices.withdrawn(entitlement, confirmation, reason=reason, now=now))


async def _request(
    repo: DeterminationStore,
    entitlement: Entitlement,
    confirmation: Confirmation | None,
    *,
    days: int | None,
    now: datetime,
    emit: Emit,
) -> None:
    """Open (or reopen) the request for the entitlement's current amount; `days`: the
    policy's confirmation window (自然日), the default when it names none."""
    deadline = shanghai_today(now) + timedelta(days=days or CONFIRMATION_WINDOW_DAYS)
    if confirmation is None:
        confirmation = Confirmation(
            confirmation_id=uuid.uuid4(),
            entitlement_id=entitlement.entitlement_id,
            uscc=entitlement.uscc,
            created_at=now,
        )
        _fill_request(confirmation, entitlement, deadline=deadline, now=now)
        await repo.add_confirmation(confirmation)
    else:
        _fill_request(confirmation, entitlement, deadline=deadline, now=now)
    await _record(
        repo,
        entitlement,
        kind="confirmation_requested",
        note=f"请于{notices.chinese_date(deadline)}前确认是否申领{format_yuan(entitlement.amount_fen)}",
        details={"confirmation_id": str(confirmation.confirmation_id), "deadline": deadline.isoformat()},
        at=now,
    )
    await repo.add_notification(notices.requested(entitlement, confirmation, now=now))
    observability.observe_step(entitlement.policy_id, "notify", entitlement.determined_at, now)
    await emit(
        ConfirmationRequested(
            uscc=entitlement.uscc,
            confirmation_id=confirmation.confirmation_id,
            entitlement_id=entitlement.entitlement_id,
            policy_id=entitlement.policy_id,
            policy_title=entitlement.policy_title,
            amount_fen=entitlement.amount_fen,
            deadline=deadline,
        ),
        key=entitlement.uscc,
    )


def _fill_request(confirmation: Confirmation, entitlement: Entitlement, *, deadline: date, now: datetime) -> None:
    confirmation.amount_fen = entitlement.amount_fen
    confirmation.deadline = deadline
    confirmation.status = ConfirmationStatus.PENDING
    confirmation.close_reason = None
    confirmation.closed_at = None
    confirmation.updated_at = now


def _same_determination(entitlement: Entitlement, d: EntitlementDetermined) -> bool:
    return (
        entitlement.amount_fen == d.amount_fen
        and entitlement.policy_version == d.policy_version
        and entitlement.award_key == d.award_key
        and entitlement.explanation == d.explanation.model_dump(mode="json")
    )


def _amount_change_note(previous: int, current: int) -> str:
    if previous == current:
        return "兑现依据已更新，金额不变"
    return f"兑现金额由{format_yuan(previous)}调整为{format_yuan(current)}"


# --- credit and payment outcomes ------------------------------------------------------


async def apply_credit_assessment(repo: Repository, *, assessment: CreditAssessed, now: datetime) -> None:
    entitlement = await _known(repo, assessment.entitlement_id, uscc=assessment.uscc)
    held = assessment.decision == "held"
    non_cash = entitlement.benefit_kind in NON_CASH_BENEFITS
    cleared_status = EntitlementStatus.AWAITING_EXECUTION if non_cash else EntitlementStatus.AWAITING_PAYMENT
    target = EntitlementStatus.CREDIT_HELD if held else cleared_status
    # Topics are not ordered with each other: a payment outcome is always later news.
    if entitlement.status in _PAYMENT_OUTCOMES | _PAYMENT_STAGES or entitlement.status == target:
        return
    if entitlement.status == EntitlementStatus.WITHDRAWN:
        return
    confirmation = await repo.confirmation_for_entitlement(entitlement.entitlement_id)
    if confirmation is not None and confirmation.acceptance_id not in (None, assessment.acceptance_id):
        return  # about an acceptance the enterprise has since revoked
    if entitlement.status == EntitlementStatus.DECLINED and confirmation is not None and confirmation.acceptance_id:
        return  # revoked; the assessment of the revoked acceptance no longer matters
    if entitlement.status not in _IN_MONEY_PATH:
        raise Rejected(
            "not_accepted",
            f"兑现资格 {assessment.entitlement_id} 当前状态为 {entitlement.status}，企业尚未确认，不应进行信用核查",
        )
    if not held:
        await _observe_funnel(repo, entitlement, "credit", since="accepted", at=assessment.assessed_at)
    _set_status(entitlement, target, now=now)
    if held:
        note = "经信用核查，企业被列入失信名单，暂缓兑现"
    elif non_cash:
        note = "信用核查通过，等待实施主体办理减免"
    else:
        note = "信用核查通过，等待财政拨付"
    await _record(
        repo,
        entitlement,
        kind="credit_held" if held else "credit_cleared",
        note=note,
        details={
            "assessment_id": str(assessment.assessment_id),
            "confirmation_id": str(assessment.confirmation_id),
            "reasons": [r.model_dump(mode="json") for r in assessment.reasons],
        },
        at=assessment.assessed_at,
    )


def _stage_status(entitlement: Entitlement, p: PaymentProgressed) -> tuple[EntitlementStatus, str]:
    """The status and the text the enterprise sees for one payment stage."""
    detail = p.reason or p.reason_code
    match p.stage:
        case "in_notice":
            until = f"（至{p.until.month}月{p.until.day}日）" if p.until else ""
            return EntitlementStatus.IN_NOTICE, f"公示中{until}"
        case "objected":
            return EntitlementStatus.NOTICE_OBJECTED, "公示异议处理中"
        case "pending":
            if entitlement.benefit_kind in NON_CASH_BENEFITS:
                return EntitlementStatus.AWAITING_EXECUTION, EntitlementStatus.AWAITING_EXECUTION.text
            return EntitlementStatus.AWAITING_PAYMENT, "待拨付"
        case "credit_held":
            return EntitlementStatus.CREDIT_HELD, f"因失信记录暂缓拨付（{detail}）" if detail else "因失信记录暂缓拨付"
        case "budget_exhausted":
            return EntitlementStatus.BUDGET_EXHAUSTED, "预算额度不足，待追加预算"
        case "submitted":
            return EntitlementStatus.SUBMITTED, "已提交财政"
        case "cancelled":
            return EntitlementStatus.CANCELLED, "已撤回"
        case "withdrawn":
            return EntitlementStatus.WITHDRAWN, "异议成立，资格撤回"
    raise Rejected("unknown_stage", f"未知的拨付阶段：{p.stage}")


async def apply_payment_progressed(repo: Repository, *, progressed: PaymentProgressed, now: datetime) -> None:
    p = progressed
    entitlement = await _known(repo, p.entitlement_id, uscc=p.uscc)
    confirmation = await repo.confirmation_for_entitlement(entitlement.entitlement_id)
    if p.stage == "submitted" and confirmation is not None:
        # From here on the enterprise can neither revoke nor accept again.
        confirmation.payment_submitted = True
        confirmation.updated_at = now
    status, text = _stage_status(entitlement, p)
    details: dict[str, Any] = {
        "payment_id": str(p.payment_id),
        "stage": p.stage,
        "reason_code": p.reason_code,
        "reason": p.reason,
        "until": p.until.isoformat() if p.until else None,
    }
    note = text if not p.reason or p.reason in text else f"{text}：{p.reason}"
    if entitlement.status in _PAYMENT_OUTCOMES:
        # The money (or the reduction) already arrived: a stage is older news.
        await _record(repo, entitlement, kind=f"payment_{p.stage}", note=note, details=details, at=p.progressed_at)
        return
    revoked = confirmation is not None and confirmation.status == ConfirmationStatus.DECLINED
    if revoked and p.stage == "submitted":
        note = "已提交财政。企业撤回确认的申请晚于财政提交，拨付按已提交的指令继续办理"
    elif revoked and p.stage not in ("cancelled", "withdrawn"):
        # A stage of the revoked acceptance's payment, overtaken by the revocation.
        await _record(repo, entitlement, kind=f"payment_{p.stage}", note=note, details=details, at=p.progressed_at)
        return
    elif p.stage == "cancelled" and not revoked:
        # A cancellation of an earlier, revoked acceptance's payment; the current one stands.
        await _record(repo, entitlement, kind="payment_cancelled", note=note, details=details, at=p.progressed_at)
        return
    if entitlement.status == status and entitlement.status_text == text:
        return
    _set_status(entitlement, status, now=now, text=text)
    await _record(repo, entitlement, kind=f"payment_{p.stage}", note=note, details=details, at=p.progressed_at)
    await repo.add_notification(notices.progressed(entitlement, status_text=text, reason=p.reason, now=now))


async def apply_payment_issued(repo: Repository, *, payment: PaymentIssued, now: datetime) -> None:
    entitlement = await _known(repo, payment.entitlement_id, uscc=payment.uscc)
    if entitlement.status == EntitlementStatus.PAID and entitlement.payment_id == payment.payment_id:
        return
    confirmation = await repo.confirmation_for_entitlement(entitlement.entitlement_id)
    revoked_late = confirmation is not None and confirmation.status == ConfirmationStatus.DECLINED
    if confirmation is not None:
        confirmation.payment_submitted = True
        confirmation.updated_at = now
    if entitlement.status != EntitlementStatus.PAID:
        await _observe_funnel(repo, entitlement, "pay", since="credit_cleared", at=payment.issued_at)
    # Paid is a fact from the finance system: it wins over whatever we thought before.
    _set_status(entitlement, EntitlementStatus.PAID, now=now)
    entitlement.payment_id = payment.payment_id
    entitlement.finance_reference = payment.finance_reference
    note = f"已拨付{format_yuan(payment.amount_fen)}，财政支付凭证号 {payment.finance_reference}"
    if revoked_late:
        note += "（企业撤回确认时，拨付指令已提交财政，撤回未能生效）"
    await _record(
        repo,
        entitlement,
        kind="paid",
        note=note,
        details={
            "payment_id": str(payment.payment_id),
            "finance_reference": payment.finance_reference,
            "amount_fen": payment.amount_fen,
            "revoked_after_submission": revoked_late,
        },
        at=payment.issued_at,
    )
    await repo.add_notification(
        notices.paid(entitlement, amount_fen=payment.amount_fen, finance_reference=payment.finance_reference, now=now)
    )


async def apply_payment_failed(repo: Repository, *, payment: PaymentFailed, now: datetime) -> None:
    entitlement = await _known(repo, payment.entitlement_id, uscc=payment.uscc)
    if entitlement.payment_id == payment.payment_id and entitlement.status in _PAYMENT_OUTCOMES:
        return
    details = {
        "payment_id": str(payment.payment_id),
        "reason_code": payment.reason_code,
        "reason": payment.reason,
        "amount_fen": payment.amount_fen,
    }
    note = f"拨付{format_yuan(payment.amount_fen)}失败：{payment.reason}"
    if entitlement.status == EntitlementStatus.PAID:
        # A later, separate payment (e.g. a top-up) failed; what was paid stays paid.
        await _record(repo, entitlement, kind="payment_failed", note=note, details=details, at=payment.failed_at)
        return
    _set_status(entitlement, EntitlementStatus.PAYMENT_FAILED, now=now)
    entitlement.payment_id = payment.payment_id
    await _record(repo, entitlement, kind="payment_failed", note=note, details=details, at=payment.failed_at)
    await repo.add_notification(
        notices.payment_failed(entitlement, amount_fen=payment.amount_fen, reason=payment.reason, now=now)
    )


async def apply_benefit_executed(repo: Repository, *, executed: BenefitExecuted, now: datetime) -> None:
    entitlement = await _known(repo, executed.entitlement_id, uscc=executed.uscc)
    if entitlement.benefit_kind not in NON_CASH_BENEFITS:
        raise Rejected("not_a_reduction", f"兑现资格 {executed.entitlement_id} 是资金类兑现，不能以减免方式办理")
    if entitlement.status == EntitlementStatus.EXECUTED:
        return
    confirmation = await repo.confirmation_for_entitlement(entitlement.entitlement_id)
    if confirmation is not None:
        confirmation.payment_submitted = True
        confirmation.updated_at = now
    _set_status(entitlement, EntitlementStatus.EXECUTED, now=now)
    await _record(
        repo,
        entitlement,
        kind="executed",
        note=f"实施主体已办理减免{format_yuan(executed.amount_fen)}，办理编号 {executed.reference}",
        details={
            "instruction_id": str(executed.instruction_id),
            "executed_by": executed.executed_by,
            "reference": executed.reference,
            "amount_fen": executed.amount_fen,
        },
        at=executed.executed_at,
    )
    await repo.add_notification(
        notices.executed(entitlement, amount_fen=executed.amount_fen, reference=executed.reference, now=now)
    )


async def _known(repo: Repository, entitlement_id: uuid.UUID, *, uscc: str) -> Entitlement:
    entitlement = await repo.lock_entitlement(entitlement_id)
    if entitlement is None:
        raise Rejected("unknown_entitlement", f"兑现资格 {entitlement_id} 不存在")
    _check_belongs(entitlement, uscc=uscc)
    return entitlement


def _check_belongs(entitlement: Entitlement, *, uscc: str) -> None:
    if entitlement.uscc != uscc:
        raise Rejected(
            "uscc_mismatch",
            f"兑现资格 {entitlement.entitlement_id} 属于另一家企业，事件中的统一社会信用代码不符",
        )


# --- the enterprise's answers ---------------------------------------------------------


@dataclass(frozen=True)
class AccountChoice:
    """Which account to pay into: a new one as entered, or one saved before (by id);
    neither for a reduction."""

    new: BankAccount | None = None
    saved_id: uuid.UUID | None = None


_SUBMITTED = ProblemError(
    409, "payment_already_submitted", "拨付指令已提交财政，不能再撤回或重新确认；如有疑问请联系政策主管部门"
)


async def accept(
    repo: Repository,
    *,
    uscc: str,
    confirmation_id: uuid.UUID,
    account: AccountChoice,
    sealer: Sealer,
    now: datetime,
    emit: Emit,
) -> ConfirmationView:
    confirmation, entitlement = await _answerable(repo, uscc, confirmation_id)
    today = shanghai_today(now)
    non_cash = entitlement.benefit_kind in NON_CASH_BENEFITS
    if non_cash and (account.new is not None or account.saved_id is not None):
        raise ProblemError(422, "bank_account_not_applicable", "该事项为减免类，由实施单位直接办理，无需提供收款账户")
    if not non_cash and account.new is None and account.saved_id is None:
        raise ProblemError(422, "bank_account_required", "请提供收款账户，或选择已保存的收款账户")
    if confirmation.status == ConfirmationStatus.ACCEPTED:
        if await _same_account(repo, confirmation, account, sealer=sealer, uscc=uscc):
            return ConfirmationView(confirmation, entitlement, ConfirmationStatus.ACCEPTED)
        raise ProblemError(
            409, "confirmation_already_accepted", "该兑现已确认申领；如需更换收款账户，请先撤回确认再重新确认"
        )
    if confirmation.payment_submitted:
        raise _SUBMITTED
    if confirmation.status == ConfirmationStatus.DECLINED:
        # A change of mind is welcome until the request's own deadline.
        if entitlement.status == EntitlementStatus.WITHDRAWN or confirmation.deadline < today:
            raise ProblemError(
                409,
                "confirmation_not_pending",
                f"已放弃的申领只能在确认期限（{notices.chinese_date(confirmation.deadline)}）前重新确认",
                confirmation_status=ConfirmationStatus.DECLINED.value,
            )
    else:
        _ensure_pending(confirmation, today)
    saved = await _choose_account(repo, account, uscc=uscc, sealer=sealer, now=now)
    again = confirmation.status == ConfirmationStatus.DECLINED
    if not again:
        await _observe_funnel(repo, entitlement, "confirm", since="confirmation_requested", at=now)
    confirmation.status = ConfirmationStatus.ACCEPTED
    confirmation.acceptance_id = uuid.uuid4()
    confirmation.decline_reason = None
    confirmation.bank_account_id = saved.account_id if saved else None
    confirmation.account_name = saved.account_name if saved else None
    confirmation.bank_name = saved.bank_name if saved else None
    confirmation.account_number_sealed = saved.account_number_sealed if saved else None
    confirmation.account_number_masked = saved.account_number_masked if saved else None
    confirmation.answered_at = now
    confirmation.updated_at = now
    _set_status(entitlement, EntitlementStatus.ACCEPTED, now=now)
    what = f"收款账户 {saved.bank_name} {saved.account_number_masked}" if saved else "减免由实施单位直接办理"
    await _record(
        repo,
        entitlement,
        kind="accepted",
        note=f"企业已{'重新' if again else ''}确认申领{format_yuan(confirmation.amount_fen)}，{what}",
        details={
            "confirmation_id": str(confirmation.confirmation_id),
            "acceptance_id": str(confirmation.acceptance_id),
            "amount_fen": confirmation.amount_fen,
        },
        at=now,
    )
    sealed = (
        SealedBankAccount(
            account_name=saved.account_name,
            account_number_masked=saved.account_number_masked,
            account_number_sealed=saved.account_number_sealed,
            bank_name=saved.bank_name,
        )
        if saved
        else None
    )
    # The answer comes by HTTP, but the money path it opens belongs to the push's trace.
    with tracing.resumed(entitlement.traceparent):
        await emit(
            ConfirmationAccepted(
                uscc=uscc,
                confirmation_id=confirmation.confirmation_id,
                acceptance_id=confirmation.acceptance_id,
                entitlement_id=entitlement.entitlement_id,
                enterprise_name=entitlement.enterprise_name,
                policy_id=entitlement.policy_id,
                policy_version=entitlement.policy_version,
                amount_fen=confirmation.amount_fen,
                benefit_kind=entitlement.benefit_kind,  # type: ignore[arg-type]
                bank_account=sealed,
                accepted_at=now,
            ),
            key=uscc,
            correlation_id=entitlement.correlation_id,
        )
    return ConfirmationView(confirmation, entitlement, ConfirmationStatus.ACCEPTED)


async def _choose_account(
    repo: Repository, account: AccountChoice, *, uscc: str, sealer: Sealer, now: datetime
) -> SavedBankAccount | None:
    if account.saved_id is not None:
        saved = await repo.saved_account_of(uscc, account.saved_id)
        if saved is None:
            raise ProblemError(404, "bank_account_not_found", "未找到该已保存的收款账户")
        saved.last_used_at = now
        return saved
    if account.new is None:
        return None
    new = account.new
    # Sealing is randomised, so an account entered again is found by opening the
    # enterprise's own few saved numbers, never by comparing sealed values.
    for saved in await repo.saved_accounts_of(uscc):
        if (
            saved.account_name == new.account_name
            and saved.bank_name == new.bank_name
            and sealer.open(saved.account_number_sealed) == new.account_number
        ):
            saved.last_used_at = now
            return saved
    saved = SavedBankAccount(
        account_id=uuid.uuid4(),
        uscc=uscc,
        account_name=new.account_name,
        bank_name=new.bank_name,
        account_number_sealed=sealer.seal(new.account_number),
        account_number_masked=mask_account_number(new.account_number),
        created_at=now,
        last_used_at=now,
    )
    await repo.add_saved_account(saved)
    return saved


async def _same_account(
    repo: Repository, confirmation: Confirmation, account: AccountChoice, *, sealer: Sealer, uscc: str
) -> bool:
    if account.saved_id is not None:
        return account.saved_id == confirmation.bank_account_id
    if account.new is None:
        return confirmation.account_number_sealed is None
    if confirmation.account_number_sealed is None:
        return False
    return (
        confirmation.account_name == account.new.account_name
        and confirmation.bank_name == account.new.bank_name
        and sealer.open(confirmation.account_number_sealed) == account.new.account_number
    )


async def decline(
    repo: Repository,
    *,
    uscc: str,
    confirmation_id: uuid.UUID,
    reason: str,
    now: datetime,
    emit: Emit,
) -> ConfirmationView:
    """Declines a pending request, or revokes an acceptance while the payment has not
    been submitted to the finance system."""
    confirmation, entitlement = await _answerable(repo, uscc, confirmation_id)
    if confirmation.status == ConfirmationStatus.DECLINED:
        return ConfirmationView(confirmation, entitlement, ConfirmationStatus.DECLINED)
    if confirmation.status == ConfirmationStatus.ACCEPTED:
        return await _revoke(repo, confirmation, entitlement, reason=reason, now=now, emit=emit)
    _ensure_pending(confirmation, shanghai_today(now))
    policy_id = entitlement.policy_id
    observability.on_commit(lambda: observability.CONFIRMATIONS.labels(policy_id, "declined").inc())
    confirmation.status = ConfirmationStatus.DECLINED
    confirmation.decline_reason = reason
    confirmation.answered_at = now
    confirmation.updated_at = now
    _set_status(entitlement, EntitlementStatus.DECLINED, now=now)
    await _record(
        repo,
        entitlement,
        kind="declined",
        note=f"企业放弃申领：{reason}",
        details={"confirmation_id": str(confirmation.confirmation_id)},
        at=now,
    )
    await emit(
        ConfirmationDeclined(
            uscc=uscc,
            confirmation_id=confirmation.confirmation_id,
            entitlement_id=entitlement.entitlement_id,
            reason=reason,
            declined_at=now,
        ),
        key=uscc,
    )
    return ConfirmationView(confirmation, entitlement, ConfirmationStatus.DECLINED)


async def _revoke(
    repo: Repository,
    confirmation: Confirmation,
    entitlement: Entitlement,
    *,
    reason: str,
    now: datetime,
    emit: Emit,
) -> ConfirmationView:
    if confirmation.payment_submitted or entitlement.status in _PAYMENT_OUTCOMES | {EntitlementStatus.SUBMITTED}:
        raise _SUBMITTED
    acceptance_id = confirmation.acceptance_id or confirmation.confirmation_id
    confirmation.status = ConfirmationStatus.DECLINED
    confirmation.decline_reason = reason
    confirmation.answered_at = now
    confirmation.updated_at = now
    _set_status(entitlement, EntitlementStatus.DECLINED, now=now)
    await _record(
        repo,
        entitlement,
        kind="revoked",
        note=f"企业撤回确认：{reason}",
        details={"confirmation_id": str(confirmation.confirmation_id), "acceptance_id": str(acceptance_id)},
        at=now,
    )
    with tracing.resumed(entitlement.traceparent):
        await emit(
            ConfirmationRevoked(
                uscc=confirmation.uscc,
                confirmation_id=confirmation.confirmation_id,
                acceptance_id=acceptance_id,
                entitlement_id=entitlement.entitlement_id,
                reason=reason,
                revoked_at=now,
            ),
            key=confirmation.uscc,
            correlation_id=entitlement.correlation_id,
        )
    await repo.add_notification(notices.revoked(entitlement, confirmation, now=now))
    return ConfirmationView(confirmation, entitlement, ConfirmationStatus.DECLINED)


async def _answerable(repo: Repository, uscc: str, confirmation_id: uuid.UUID) -> tuple[Confirmation, Entitlement]:
    # Another enterprise's request is reported as missing, not as forbidden,
    # so its existence is not revealed.
    found = await repo.confirmation_of(uscc, confirmation_id)
    if found is None:
        raise ProblemError(404, "confirmation_not_found", "未找到该意愿确认")
    entitlement = await repo.lock_entitlement(found.entitlement_id)
    confirmation = await repo.confirmation_of(uscc, confirmation_id)
    assert entitlement is not None and confirmation is not None
    return confirmation, entitlement


def _ensure_pending(confirmation: Confirmation, today: date) -> None:
    status = effective_status(confirmation, today)
    if status is not ConfirmationStatus.PENDING:
        raise ProblemError(
            409,
            "confirmation_not_pending",
            f"该意愿确认当前状态为“{CONFIRMATION_STATUS_LABELS[status]}”，不能再作答复",
            confirmation_status=status.value,
        )


async def list_bank_accounts(repo: Repository, *, uscc: str) -> list[SavedBankAccount]:
    return await repo.saved_accounts_of(uscc)


# --- expiry and reminders ------------------------------------------------------------------


async def expire_overdue(repo: Repository, *, now: datetime, emit: Emit) -> int:
    """Close every request whose deadline has passed unanswered; returns how many."""
    today = shanghai_today(now)
    expired = 0
    for candidate in await repo.overdue_confirmations(today):
        entitlement = await repo.lock_entitlement(candidate.entitlement_id)
        confirmation = await repo.confirmation_for_entitlement(candidate.entitlement_id)
        if entitlement is None or confirmation is None:
            continue
        if confirmation.status != ConfirmationStatus.PENDING or confirmation.deadline >= today:
            continue  # answered or re-requested while we waited for the lock
        reason = f"超过确认期限（{confirmation.deadline.isoformat()}）未确认"
        await _close(
            confirmation,
            status=ConfirmationStatus.EXPIRED,
            reason=reason,
            now=now,
            emit=emit,
            policy_id=entitlement.policy_id,
        )
        await _record(
            repo,
            entitlement,
            kind="confirmation_expired",
            note=reason,
            details={"confirmation_id": str(confirmation.confirmation_id)},
            at=now,
        )
        await repo.add_notification(notices.expired(entitlement, confirmation, now=now))
        expired += 1
    return expired


async def send_reminders(repo: Repository, *, now: datetime, days_before: Sequence[int]) -> int:
    """Remind each pending request once per lead time in `days_before` (e.g. 7 and 1
    days before its deadline); returns how many reminders were written. A request
    that reaches several lead times at once (the sweep was down) gets one reminder,
    the nearest; a lead time longer than the request's whole window is skipped."""
    if not days_before:
        return 0
    today = shanghai_today(now)
    leads = sorted(set(days_before))
    sent = 0
    for confirmation, entitlement, claimed in await repo.claim_reminder_candidates(
        today, today + timedelta(days=leads[-1])
    ):
        days_left = (confirmation.deadline - today).days
        lead = next((d for d in leads if d >= days_left), None)
        requested_on = confirmation.created_at.astimezone(SHANGHAI).date()
        if lead is None or lead in claimed or (confirmation.deadline - requested_on).days <= lead:
            continue
        await repo.add_reminder(
            ReminderSent(
                confirmation_id=confirmation.confirmation_id,
                deadline=confirmation.deadline,
                days_before=lead,
                sent_at=now,
            )
        )
        await repo.add_notification(notices.reminder(entitlement, confirmation, days_left=days_left, now=now))
        sent += 1
    return sent


async def _close(
    confirmation: Confirmation,
    *,
    status: ConfirmationStatus,
    reason: str,
    now: datetime,
    emit: Emit,
    policy_id: str,
) -> None:
    # The event does not name the policy, nor an expiry as such: counted here.
    observability.on_commit(lambda: observability.CONFIRMATIONS.labels(policy_id, status.value).inc())
    confirmation.status = status
    confirmation.close_reason = reason
    confirmation.closed_at = now
    confirmation.updated_at = now
    await emit(
        ConfirmationClosed(
            uscc=confirmation.uscc,
            confirmation_id=confirmation.confirmation_id,
            entitlement_id=confirmation.entitlement_id,
            reason=reason,
            closed_at=now,
        ),
        key=confirmation.uscc,
    )


# --- reads --------------------------------------------------------------------------------


async def list_confirmations(
    repo: Repository, *, uscc: str, status: ConfirmationStatus | None, now: datetime
) -> list[ConfirmationView]:
    today = shanghai_today(now)
    rows = await repo.confirmations_of(uscc, status=status.value if status else None, today=today)
    return [ConfirmationView(c, e, effective_status(c, today)) for c, e in rows]


async def list_entitlements(repo: Repository, *, uscc: str) -> list[Entitlement]:
    return await repo.entitlements_of(uscc)


async def entitlement_detail(
    repo: Repository, *, uscc: str, entitlement_id: uuid.UUID, now: datetime
) -> EntitlementDetail:
    entitlement = await repo.entitlement_of(uscc, entitlement_id)
    if entitlement is None:
        raise ProblemError(404, "entitlement_not_found", "未找到该兑现事项")
    confirmation = await repo.confirmation_for_entitlement(entitlement_id)
    view = (
        ConfirmationView(confirmation, entitlement, effective_status(confirmation, shanghai_today(now)))
        if confirmation is not None
        else None
    )
    return EntitlementDetail(entitlement, await repo.status_events(entitlement_id), view)


async def _observe_funnel(repo: Repository, entitlement: Entitlement, step: str, *, since: str, at: datetime) -> None:
    """The time `step` of the 免申即享 funnel took: from the last history entry of kind
    `since` to `at`; reaching payment also observes the whole way from determination."""
    history = await repo.status_events(entitlement.entitlement_id)
    started = next((e.occurred_at for e in reversed(history) if e.kind == since), None)
    if started is not None:
        observability.observe_step(entitlement.policy_id, step, started, at)
    if step == "pay":
        determined = next((e.occurred_at for e in history if e.kind == "determined"), entitlement.determined_at)
        observability.observe_step(entitlement.policy_id, "total", determined, at)


async def _record(
    repo: DeterminationStore,
    entitlement: Entitlement,
    *,
    kind: str,
    note: str,
    details: dict[str, Any],
    at: datetime,
) -> None:
    await repo.add_status_event(
        StatusEvent(
            entitlement_id=entitlement.entitlement_id,
            status=entitlement.status,
            kind=kind,
            note=note[:500],
            details=details,
            occurred_at=at,
        )
    )
