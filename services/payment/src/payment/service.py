"""政策兑现 — paying a cleared entitlement exactly once.

A payment's life: `held` (the credit gate said no; never submitted) or `pending`
→ `submitted` (a worker is calling the finance system under a lease) →
`succeeded` | `failed`, with `unknown` whenever we cannot tell whether the money
moved. An unknown payment is resolved by asking the finance system about its
idempotency key, never by guessing; if the finance system has nothing under the
key, the same key is submitted again. Nothing here commits: the worker and the
consumer each wrap one step in one transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from mianshen_shared import observability, tracing
from mianshen_shared.events.catalog import CreditAssessed, CreditRecordRef, PaymentFailed, PaymentIssued
from mianshen_shared.messaging import Rejected
from mianshen_shared.money import format_yuan
from mianshen_shared.problems import ProblemError
from mianshen_shared.sealing import Sealer, SealingError
from payment import credit, notice
from payment.calendar import WorkingCalendar
from payment.finance import FinanceResult, PaymentInstruction
from payment.models import (
    BUDGET_EXHAUSTED,
    CANCELLED,
    CREDIT_HELD,
    FAILED,
    HELD,
    PENDING,
    RETURNED,
    STAGE_PENDING,
    STAGE_SUBMITTED,
    SUBMITTED,
    SUCCEEDED,
    TERMINAL,
    UNCLAIMABLE_STAGES,
    UNKNOWN,
    WITHDRAWN,
    Payment,
    PaymentAttempt,
)
from payment.notice import NoticeStore
from payment.terms import TermsRepository, notice_terms_for

Emit = Callable[..., Awaitable[object]]
log = logging.getLogger(__name__)
SHANGHAI = ZoneInfo("Asia/Shanghai")
# Opens what tests and the quick start seal; the worker passes the configured ring.
_DEVELOPMENT_SEALER = Sealer.from_config("")


class Repository(Protocol):
    async def get(self, payment_id: uuid.UUID) -> Payment | None: ...
    async def get_for_update(self, payment_id: uuid.UUID) -> Payment | None: ...
    async def by_entitlement(self, entitlement_id: uuid.UUID) -> Payment | None: ...
    async def for_enterprise(self, uscc: str) -> list[Payment]: ...
    async def add(self, payment: Payment) -> None: ...
    async def claim_due(self, now: datetime, limit: int) -> list[Payment]: ...
    async def add_attempt(self, attempt: PaymentAttempt) -> None: ...


class FinanceGateway(Protocol):
    async def submit(self, instruction: PaymentInstruction) -> FinanceResult: ...
    async def query(self, idempotency_key: str) -> FinanceResult: ...


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_seconds: float = 2.0
    max_seconds: float = 300.0
    # How long a claimed payment stays with its worker. Longer than one finance
    # call, so a live worker keeps it; a dead worker's claim expires and the
    # payment is resolved by query.
    lease_seconds: float = 35.0
    # How often a payment held by the credit gate is checked again.
    credit_recheck_seconds: float = 60.0

    def backoff(self, errors: int) -> timedelta:
        return timedelta(seconds=min(self.base_seconds * 2 ** max(errors - 1, 0), self.max_seconds))


@dataclass(frozen=True)
class Step:
    """One call to the finance system that a worker has claimed."""

    payment_id: uuid.UUID
    action: Literal["submit", "query"]
    submission_no: int
    instruction: PaymentInstruction
    started_at: datetime


def idempotency_key_for(entitlement_id: uuid.UUID) -> str:
    return f"mjx-{entitlement_id}"


# --- credit decisions in (公示 and the change of mind: notice.py) ------------------------


class AssessmentRepository(Repository, NoticeStore, TermsRepository, Protocol):
    pass


async def record_assessment(
    repo: AssessmentRepository,
    *,
    assessed: CreditAssessed,
    correlation_id: str,
    now: datetime,
    emit: Emit,
    calendar: WorkingCalendar | None = None,
    traceparent: str | None = None,
) -> Payment | None:
    """Turn a credit decision on a cash benefit into a payment: on public notice (公示)
    when cleared, held when not. The same assessment again changes nothing. A
    different decision may move a payment that was never submitted: a held one is
    cleared into notice; a newer acceptance (the enterprise answered again) takes
    over a pending or cancelled one, with its account and a fresh notice, since the
    idempotency key was never used. A revoked acceptance creates nothing (None when
    there is no payment at all). `traceparent`: the decision's, continued by the
    payment's events."""
    if assessed.decision == "cleared" and assessed.amount_fen <= 0:
        raise Rejected("zero_amount", "兑现金额为零，无需支付")
    if assessed.bank_account is None:
        raise Rejected("bank_account_missing", "现金类兑现缺少收款账户")
    existing = await repo.by_entitlement_for_update(assessed.entitlement_id)
    if await repo.is_revoked(assessed.acceptance_id):
        log.info("decision on a revoked acceptance; nothing to pay", extra={"acceptance": str(assessed.acceptance_id)})
        return existing
    if existing is not None:
        if existing.assessment_id == assessed.assessment_id or not notice.never_submitted(existing):
            return existing
        newer_acceptance = existing.acceptance_id not in (None, assessed.acceptance_id)
        if existing.status == WITHDRAWN or (existing.status == CANCELLED and not newer_acceptance):
            return existing
        if newer_acceptance or (existing.status == HELD and assessed.decision == "cleared"):
            _take_over(existing, assessed, now)
            await _decide(repo, existing, assessed, now=now, emit=emit, calendar=calendar)
        return existing
    payment = Payment(
        payment_id=uuid.uuid4(),
        entitlement_id=assessed.entitlement_id,
        idempotency_key=idempotency_key_for(assessed.entitlement_id),
        attempts=0,
        consecutive_errors=0,
        correlation_id=correlation_id,
        traceparent=traceparent,
        created_at=now,
    )
    _take_over(payment, assessed, now)
    await repo.add(payment)
    await _decide(repo, payment, assessed, now=now, emit=emit, calendar=calendar)
    return payment


async def _decide(
    repo: AssessmentRepository,
    payment: Payment,
    assessed: CreditAssessed,
    *,
    now: datetime,
    emit: Emit,
    calendar: WorkingCalendar | None,
) -> None:
    if assessed.decision == "held":
        _hold(payment, assessed)
        _count(payment, "held")
        await notice.progressed(
            payment, "credit_held", now=now, emit=emit, reason_code="credit_held", reason=payment.failure_reason
        )
        return
    terms = await notice_terms_for(
        repo, policy_id=assessed.policy_id, policy_version=assessed.policy_version, red_records=assessed.red_records
    )
    await notice.enter_notice(payment, terms, calendar=calendar or notice.working_calendar(), now=now, emit=emit)


def _hold(payment: Payment, assessed: CreditAssessed) -> None:
    payment.status = HELD
    payment.stage = CREDIT_HELD
    payment.next_attempt_at = None
    payment.hold_reasons = [r.model_dump(mode="json") for r in assessed.reasons]
    payment.failure_code = "credit_held"
    listed = "、".join(f"{r.list_type}（{r.record_id}）" for r in assessed.reasons) or "信用核查未通过"
    payment.failure_reason = f"企业存在失信记录，暂缓兑现：{listed}"
    payment.stage_reason = payment.failure_reason


def _take_over(payment: Payment, assessed: CreditAssessed, now: datetime) -> None:
    """The decision's acceptance becomes the payment's: amount, account and all.
    Only for a payment never submitted, so the key is unused and the body may change."""
    assert assessed.bank_account is not None
    payment.assessment_id = assessed.assessment_id
    payment.confirmation_id = assessed.confirmation_id
    payment.acceptance_id = assessed.acceptance_id
    payment.uscc = assessed.uscc
    payment.enterprise_name = assessed.enterprise_name
    payment.policy_id = assessed.policy_id
    payment.policy_version = assessed.policy_version
    payment.amount_fen = assessed.amount_fen
    payment.payee_name = assessed.bank_account.account_name
    payment.payee_account_sealed = assessed.bank_account.account_number_sealed
    payment.payee_account_masked = assessed.bank_account.account_number_masked
    payment.payee_bank_name = assessed.bank_account.bank_name
    payment.status = PENDING
    payment.stage = None
    payment.stage_reason = None
    payment.next_attempt_at = None
    payment.hold_reasons = []
    payment.failure_code = None
    payment.failure_reason = None
    payment.updated_at = now


# --- the worker's steps ---------------------------------------------------------------


class MoneyControls(Protocol):
    """What stands between a payment and the money (payment.money.SessionMoney)."""

    async def black_records_in_force(self, uscc: str, day: date) -> list[CreditRecordRef]: ...
    async def reserve(self, payment: Payment, now: datetime) -> bool: ...
    async def settled(self, payment: Payment, now: datetime) -> None: ...
    async def failed(self, payment: Payment, now: datetime) -> None: ...


async def _ignore(*_args: object, **_kwargs: object) -> None:
    return None


async def claim(
    repo: Repository,
    *,
    now: datetime,
    limit: int,
    policy: RetryPolicy,
    payer_budget_code: str,
    money: MoneyControls | None = None,
    sealer: Sealer | None = None,
    emit: Emit = _ignore,
) -> list[Step]:
    """Take due payments under a lease and say what to ask the finance system.

    Before a payment's first submission it passes two gates, in this order: the
    credit replica (a black record in force holds it, re-checked whenever it is due
    again) and the budget (its amount is reserved once; no room and it waits). The
    worker passes `money`, `sealer` and `emit`; without `money` (unit tests of the
    retry machine) there are no gates."""
    sealer = sealer or _DEVELOPMENT_SEALER
    steps = []
    for payment in await repo.claim_due(now, limit):
        if payment.stage in UNCLAIMABLE_STAGES:
            continue
        if payment.status == PENDING:
            if payment.payer_budget_code is None:
                payment.payer_budget_code = payer_budget_code
            first = payment.attempts == 0
            if first and money is not None and not await _credit_gate(payment, money, policy, now=now, emit=emit):
                continue
            try:
                instruction = instruction_for(payment, sealer)
            except SealingError as exc:
                # A key missing from the ring is a deployment fault, not the payee's:
                # the payment waits, without reserving anything, until it opens.
                log.error("payment %s: account does not open: %s", payment.payment_id, exc)
                payment.consecutive_errors += 1
                payment.last_error = f"收款账户密文无法解密：{exc}"
                payment.next_attempt_at = now + policy.backoff(payment.consecutive_errors)
                continue
            if (
                money is not None
                and payment.budget_state is None
                and not await _budget_gate(payment, money, now=now, emit=emit)
            ):
                continue
            payment.status = SUBMITTED
            payment.attempts += 1
            action: Literal["submit", "query"] = "submit"
            _count(payment, "submitted")
            if first:
                payment.stage = STAGE_SUBMITTED
                payment.stage_reason = None
                await notice.progressed(payment, "submitted", now=now, emit=emit)
        else:
            # `unknown`, or `submitted` whose lease ran out: its worker died
            # mid-call, so the instruction may have been settled. Ask first.
            payment.status = UNKNOWN
            action = "query"
            instruction = instruction_for(payment, sealer)
        payment.next_attempt_at = now + timedelta(seconds=policy.lease_seconds)
        payment.updated_at = now
        steps.append(
            Step(
                payment_id=payment.payment_id,
                action=action,
                submission_no=payment.attempts,
                instruction=instruction,
                started_at=now,
            )
        )
    return steps


async def _credit_gate(
    payment: Payment, money: MoneyControls, policy: RetryPolicy, *, now: datetime, emit: Emit
) -> bool:
    """True when no black record is in force today; otherwise the payment is held."""
    records = await money.black_records_in_force(payment.uscc, now.astimezone(SHANGHAI).date())
    if records:
        entering = payment.stage != CREDIT_HELD
        payment.stage = CREDIT_HELD
        payment.hold_reasons = [r.model_dump(mode="json") for r in records]
        payment.stage_reason = credit.hold_text(records)
        payment.next_attempt_at = now + timedelta(seconds=policy.credit_recheck_seconds)
        payment.updated_at = now
        if entering:
            await notice.progressed(
                payment, "credit_held", now=now, emit=emit, reason_code="credit_held", reason=payment.stage_reason
            )
        return False
    if payment.stage == CREDIT_HELD:
        payment.stage = STAGE_PENDING
        payment.hold_reasons = []
        payment.stage_reason = None
        await notice.progressed(
            payment,
            "pending",
            now=now,
            emit=emit,
            reason_code="credit_released",
            reason="失信记录已失效或移除，恢复兑现",
        )
    return True


async def _budget_gate(payment: Payment, money: MoneyControls, *, now: datetime, emit: Emit) -> bool:
    """True when the amount is reserved; otherwise the payment waits for more budget."""
    if await money.reserve(payment, now):
        return True
    entering = payment.stage != BUDGET_EXHAUSTED
    payment.stage = BUDGET_EXHAUSTED
    payment.stage_reason = f"{payment.budget_year}年度政策预算额度不足，待追加预算后自动支付"
    # Not due again until the budget is raised (budget.set_allocation wakes it).
    payment.next_attempt_at = None
    payment.updated_at = now
    if entering:
        _count(payment, "budget_exhausted")
        await notice.progressed(
            payment, "budget_exhausted", now=now, emit=emit, reason_code="budget_exhausted", reason=payment.stage_reason
        )
    return False


def instruction_for(payment: Payment, sealer: Sealer) -> PaymentInstruction:
    """The only place the payee's account number is opened: for the finance system."""
    assert payment.payer_budget_code is not None, "the budget code is set at the first claim"
    assert payment.payee_account_sealed is not None, "a cash payment has a sealed account"
    return PaymentInstruction(
        idempotency_key=payment.idempotency_key,
        payer_budget_code=payment.payer_budget_code,
        payee_name=payment.payee_name or "",
        payee_account_number=sealer.open(payment.payee_account_sealed),
        payee_bank_name=payment.payee_bank_name or "",
        amount_fen=payment.amount_fen,
        purpose=f"惠企政策兑现：{payment.policy_id}",
        reference=str(payment.payment_id),
    )


async def perform(finance: FinanceGateway, step: Step) -> FinanceResult:
    if step.action == "submit":
        return await finance.submit(step.instruction)
    return await finance.query(step.instruction.idempotency_key)


async def record_outcome(
    repo: Repository,
    step: Step,
    result: FinanceResult,
    *,
    policy: RetryPolicy,
    now: datetime,
    emit: Emit,
    money: MoneyControls | None = None,
) -> None:
    """Apply what the finance system said to the payment; emit the final event once."""
    payment = await repo.get_for_update(step.payment_id)
    if payment is None:
        return
    await repo.add_attempt(
        PaymentAttempt(
            payment_id=payment.payment_id,
            action=step.action,
            submission_no=step.submission_no,
            outcome=result.outcome,
            http_status=result.http_status,
            detail=result.message or (result.instruction_id or ""),
            started_at=step.started_at,
            finished_at=now,
        )
    )
    if payment.status in TERMINAL or payment.status == RETURNED:
        return  # a slower worker whose lease had run out; the payment is already decided
    payment.updated_at = now
    if result.outcome == "settled":
        await _settle(payment, result, now=now, emit=emit, money=money)
    elif result.outcome == "rejected":
        await _fail(
            payment,
            result.code or "finance_rejected",
            f"财政系统拒绝支付：{result.message}",
            now=now,
            emit=emit,
            money=money,
        )
    elif result.outcome == "not_applied":
        payment.consecutive_errors += 1
        payment.last_error = result.message
        if payment.attempts >= policy.max_attempts:
            # A submission before this run of outages may still have landed:
            # one last query decides between paid and failed.
            payment.status = UNKNOWN
            payment.next_attempt_at = now
        else:
            payment.status = PENDING
            payment.next_attempt_at = now + policy.backoff(payment.consecutive_errors)
    elif result.outcome == "ambiguous":
        # Never give up on a payment that may have been made; keep asking.
        payment.consecutive_errors += 1
        payment.last_error = result.message
        payment.status = UNKNOWN
        payment.next_attempt_at = now + policy.backoff(payment.consecutive_errors)
    elif payment.attempts >= policy.max_attempts:
        await _fail(
            payment,
            "finance_unavailable",
            f"财政系统{payment.attempts}次均未受理支付指令，支付未完成（最近一次：{payment.last_error}）",
            now=now,
            emit=emit,
            money=money,
        )
    else:
        # Nothing under our key: resubmit with the very same key.
        payment.status = PENDING
        payment.next_attempt_at = now + policy.backoff(payment.consecutive_errors)


async def _settle(
    payment: Payment, result: FinanceResult, *, now: datetime, emit: Emit, money: MoneyControls | None = None
) -> None:
    if result.amount_fen != payment.amount_fen:
        # Our key, another amount: a human must look before anything else moves.
        payment.status = UNKNOWN
        payment.next_attempt_at = None
        payment.failure_code = "finance_amount_mismatch"
        payment.failure_reason = (
            f"财政系统已结算金额（{format_yuan(result.amount_fen or 0)}）与应付金额"
            f"（{format_yuan(payment.amount_fen)}）不一致，需人工核对"
        )
        return
    payment.status = SUCCEEDED
    payment.finance_reference = result.instruction_id
    payment.issued_at = result.settled_at or now
    payment.next_attempt_at = None
    payment.consecutive_errors = 0
    payment.last_error = None
    if money is not None:
        await money.settled(payment, now)
    with tracing.resumed(payment.traceparent):
        await emit(
            PaymentIssued(
                payment_id=payment.payment_id,
                entitlement_id=payment.entitlement_id,
                uscc=payment.uscc,
                policy_id=payment.policy_id,
                amount_fen=payment.amount_fen,
                idempotency_key=payment.idempotency_key,
                finance_reference=payment.finance_reference or "",
                issued_at=payment.issued_at,
            ),
            key=payment.uscc,
            correlation_id=payment.correlation_id,
        )


async def _fail(
    payment: Payment, code: str, reason: str, *, now: datetime, emit: Emit, money: MoneyControls | None = None
) -> None:
    payment.status = FAILED
    payment.failure_code = code
    payment.failure_reason = reason
    payment.next_attempt_at = None
    if money is not None:
        await money.failed(payment, now)
    with tracing.resumed(payment.traceparent):
        await emit(
            PaymentFailed(
                payment_id=payment.payment_id,
                entitlement_id=payment.entitlement_id,
                uscc=payment.uscc,
                policy_id=payment.policy_id,
                amount_fen=payment.amount_fen,
                idempotency_key=payment.idempotency_key,
                reason_code=code,
                reason=reason,
                failed_at=now,
            ),
            key=payment.uscc,
            correlation_id=payment.correlation_id,
        )


def _count(payment: Payment, outcome: str) -> None:
    """Outcomes with no event of their own (issued and failed are counted from theirs)."""
    policy_id = payment.policy_id
    observability.on_commit(lambda: observability.PAYMENTS.labels(policy_id, outcome).inc())


# --- reads ----------------------------------------------------------------------------


async def payments_for(repo: Repository, *, uscc: str) -> list[Payment]:
    return await repo.for_enterprise(uscc)


async def get_payment(repo: Repository, *, payment_id: uuid.UUID, uscc: str | None = None) -> Payment:
    payment = await repo.get(payment_id)
    # Another enterprise's payment is reported as absent, not as forbidden.
    if payment is None or (uscc is not None and payment.uscc != uscc):
        raise ProblemError(404, "payment_not_found", "未找到该支付记录")
    return payment
