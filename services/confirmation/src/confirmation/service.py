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

from confirmation.models import Confirmation, Entitlement, StatusEvent
from mianshen_shared import observability, tracing
from mianshen_shared.events import Payload
from mianshen_shared.events.catalog import (
    NON_CASH_BENEFITS,
    BankAccount,
    ConfirmationAccepted,
    ConfirmationClosed,
    ConfirmationDeclined,
    ConfirmationRequested,
    CreditAssessed,
    EntitlementDetermined,
    PaymentFailed,
    PaymentIssued,
)
from mianshen_shared.messaging import Rejected
from mianshen_shared.money import format_yuan
from mianshen_shared.problems import ProblemError

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
    # A reduction granted by a third party (e.g. a state-owned lessor): no bank
    # account is asked for and nothing is paid; the executing party acts on it.
    AWAITING_EXECUTION = "awaiting_execution"

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
}
_PAYMENT_OUTCOMES = {EntitlementStatus.PAID, EntitlementStatus.PAYMENT_FAILED}


class Emit(Protocol):
    async def __call__(self, payload: Payload, *, key: str, correlation_id: str | None = None) -> object: ...


class DeterminationStore(Protocol):
    """What applying one determination reads and writes."""

    async def lock_entitlement(self, entitlement_id: uuid.UUID) -> Entitlement | None: ...
    async def add_entitlement(self, entitlement: Entitlement) -> None: ...
    async def add_status_event(self, event: StatusEvent) -> None: ...
    async def confirmation_for_entitlement(self, entitlement_id: uuid.UUID) -> Confirmation | None: ...
    async def add_confirmation(self, confirmation: Confirmation) -> None: ...


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


def mask_account_number(number: str) -> str:
    """Enough to recognise one's own account, never enough to use it."""
    visible_head = 4 if len(number) >= 12 else 0
    return number[:visible_head] + "*" * (len(number) - visible_head - 4) + number[-4:]


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


@dataclass
class _StagedDeterminations:
    """A run's entitlements and confirmations, loaded up front: what one determination
    changes or adds, the next one in the run sees, as it would after a commit."""

    entitlements: dict[uuid.UUID, Entitlement]
    confirmations: dict[uuid.UUID, Confirmation]  # by entitlement id
    new_entitlements: list[Entitlement] = field(default_factory=list)
    new_confirmations: list[Confirmation] = field(default_factory=list)
    history: list[StatusEvent] = field(default_factory=list)

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


async def _open(repo: DeterminationStore, d: EntitlementDetermined, *, now: datetime, emit: Emit) -> None:
    non_cash = d.benefit_kind in NON_CASH_BENEFITS
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
        status=EntitlementStatus.AWAITING_EXECUTION if non_cash else EntitlementStatus.AWAITING_CONFIRMATION,
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
    if non_cash:
        # Asking for a bank account would invite a cash payment of a reduction; the
        # instruction to the executing party is the money path's (not yet built).
        return
    await _request(repo, entitlement, None, now=now, emit=emit)


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
    if d.benefit_kind in NON_CASH_BENEFITS:
        entitlement.status = EntitlementStatus.AWAITING_EXECUTION
        note = _amount_change_note(previous_amount, d.amount_fen)
        await _record(repo, entitlement, kind="redetermined", note=note, details=change, at=d.determined_at)
        return
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
        entitlement.status = EntitlementStatus.AWAITING_CONFIRMATION
        await _record(repo, entitlement, kind=kind, note=note, details=change, at=d.determined_at)
        reopened = confirmation is None or confirmation.status != ConfirmationStatus.PENDING
        if reopened or previous_amount != d.amount_fen:
            await _request(repo, entitlement, confirmation, now=now, emit=emit)
        return
    assert confirmation is not None
    if was_withdrawn:
        entitlement.status = (
            EntitlementStatus.ACCEPTED
            if confirmation.status == ConfirmationStatus.ACCEPTED
            else EntitlementStatus.DECLINED
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
    entitlement.status = EntitlementStatus.WITHDRAWN
    entitlement.updated_at = now
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


async def _request(
    repo: DeterminationStore,
    entitlement: Entitlement,
    confirmation: Confirmation | None,
    *,
    now: datetime,
    emit: Emit,
) -> None:
    """Open (or reopen) the request for the entitlement's current amount."""
    deadline = shanghai_today(now) + timedelta(days=CONFIRMATION_WINDOW_DAYS)
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
        note=f"请于{deadline.isoformat()}前确认是否申领{format_yuan(entitlement.amount_fen)}",
        details={"confirmation_id": str(confirmation.confirmation_id), "deadline": deadline.isoformat()},
        at=now,
    )
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
    target = EntitlementStatus.CREDIT_HELD if held else EntitlementStatus.AWAITING_PAYMENT
    # Topics are not ordered with each other: a payment outcome is always later news.
    if entitlement.status in _PAYMENT_OUTCOMES or entitlement.status == target:
        return
    if entitlement.status == EntitlementStatus.WITHDRAWN:
        return
    if entitlement.status not in _IN_MONEY_PATH:
        raise Rejected(
            "not_accepted",
            f"兑现资格 {assessment.entitlement_id} 当前状态为 {entitlement.status}，企业尚未确认，不应进行信用核查",
        )
    if not held:
        await _observe_funnel(repo, entitlement, "credit", since="accepted", at=assessment.assessed_at)
    entitlement.status = target
    entitlement.updated_at = now
    note = "经信用核查，企业被列入失信名单，暂缓兑现" if held else "信用核查通过，等待财政拨付"
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


async def apply_payment_issued(repo: Repository, *, payment: PaymentIssued, now: datetime) -> None:
    entitlement = await _known(repo, payment.entitlement_id, uscc=payment.uscc)
    if entitlement.status == EntitlementStatus.PAID and entitlement.payment_id == payment.payment_id:
        return
    if entitlement.status != EntitlementStatus.PAID:
        await _observe_funnel(repo, entitlement, "pay", since="credit_cleared", at=payment.issued_at)
    # Paid is a fact from the finance system: it wins over whatever we thought before.
    entitlement.status = EntitlementStatus.PAID
    entitlement.payment_id = payment.payment_id
    entitlement.finance_reference = payment.finance_reference
    entitlement.updated_at = now
    await _record(
        repo,
        entitlement,
        kind="paid",
        note=f"已拨付{format_yuan(payment.amount_fen)}，财政支付凭证号 {payment.finance_reference}",
        details={
            "payment_id": str(payment.payment_id),
            "finance_reference": payment.finance_reference,
            "amount_fen": payment.amount_fen,
        },
        at=payment.issued_at,
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
    entitlement.status = EntitlementStatus.PAYMENT_FAILED
    entitlement.payment_id = payment.payment_id
    entitlement.updated_at = now
    await _record(repo, entitlement, kind="payment_failed", note=note, details=details, at=payment.failed_at)


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


async def accept(
    repo: Repository,
    *,
    uscc: str,
    confirmation_id: uuid.UUID,
    bank_account: BankAccount,
    now: datetime,
    emit: Emit,
) -> ConfirmationView:
    confirmation, entitlement = await _answerable(repo, uscc, confirmation_id)
    today = shanghai_today(now)
    if confirmation.status == ConfirmationStatus.ACCEPTED:
        if _account_of(confirmation) == bank_account:
            return ConfirmationView(confirmation, entitlement, ConfirmationStatus.ACCEPTED)
        raise ProblemError(409, "confirmation_already_accepted", "该兑现已确认申领，收款账户不能再更改")
    _ensure_pending(confirmation, today)
    await _observe_funnel(repo, entitlement, "confirm", since="confirmation_requested", at=now)
    confirmation.status = ConfirmationStatus.ACCEPTED
    confirmation.account_name = bank_account.account_name
    confirmation.account_number = bank_account.account_number
    confirmation.bank_name = bank_account.bank_name
    confirmation.answered_at = now
    confirmation.updated_at = now
    entitlement.status = EntitlementStatus.ACCEPTED
    entitlement.updated_at = now
    await _record(
        repo,
        entitlement,
        kind="accepted",
        note=(
            f"企业已确认申领{format_yuan(confirmation.amount_fen)}，收款账户 "
            f"{bank_account.bank_name} {mask_account_number(bank_account.account_number)}"
        ),
        details={"confirmation_id": str(confirmation.confirmation_id), "amount_fen": confirmation.amount_fen},
        at=now,
    )
    # The answer comes by HTTP, but the money path it opens belongs to the push's trace.
    with tracing.resumed(entitlement.traceparent):
        await emit(
            ConfirmationAccepted(
                uscc=uscc,
                confirmation_id=confirmation.confirmation_id,
                entitlement_id=entitlement.entitlement_id,
                enterprise_name=entitlement.enterprise_name,
                policy_id=entitlement.policy_id,
                policy_version=entitlement.policy_version,
                amount_fen=confirmation.amount_fen,
                bank_account=bank_account,
                accepted_at=now,
            ),
            key=uscc,
            correlation_id=entitlement.correlation_id,
        )
    return ConfirmationView(confirmation, entitlement, ConfirmationStatus.ACCEPTED)


async def decline(
    repo: Repository,
    *,
    uscc: str,
    confirmation_id: uuid.UUID,
    reason: str,
    now: datetime,
    emit: Emit,
) -> ConfirmationView:
    confirmation, entitlement = await _answerable(repo, uscc, confirmation_id)
    if confirmation.status == ConfirmationStatus.DECLINED:
        return ConfirmationView(confirmation, entitlement, ConfirmationStatus.DECLINED)
    _ensure_pending(confirmation, shanghai_today(now))
    policy_id = entitlement.policy_id
    observability.on_commit(lambda: observability.CONFIRMATIONS.labels(policy_id, "declined").inc())
    confirmation.status = ConfirmationStatus.DECLINED
    confirmation.decline_reason = reason
    confirmation.answered_at = now
    confirmation.updated_at = now
    entitlement.status = EntitlementStatus.DECLINED
    entitlement.updated_at = now
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


def _account_of(confirmation: Confirmation) -> BankAccount | None:
    if confirmation.account_number is None:
        return None
    return BankAccount(
        account_name=confirmation.account_name or "",
        account_number=confirmation.account_number,
        bank_name=confirmation.bank_name or "",
    )


# --- expiry -----------------------------------------------------------------------------


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
        expired += 1
    return expired


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
