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

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from mianshen_shared import observability, tracing
from mianshen_shared.events.catalog import CreditAssessed, PaymentFailed, PaymentIssued
from mianshen_shared.messaging import Rejected
from mianshen_shared.money import format_yuan
from mianshen_shared.problems import ProblemError
from payment.finance import FinanceResult, PaymentInstruction
from payment.models import (
    FAILED,
    HELD,
    PENDING,
    SUBMITTED,
    SUCCEEDED,
    TERMINAL,
    UNKNOWN,
    Payment,
    PaymentAttempt,
)

Emit = Callable[..., Awaitable[object]]


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


# --- credit decisions in ----------------------------------------------------------


async def record_assessment(
    repo: Repository, *, assessed: CreditAssessed, correlation_id: str, now: datetime, traceparent: str | None = None
) -> Payment:
    """Turn a credit decision into a payment (or a held one). A redelivered or
    repeated decision leaves the existing payment alone; only a held payment that a
    later, different assessment clears is released for submission. `traceparent`:
    the decision's, continued by the payment's events."""
    if assessed.decision == "cleared" and assessed.amount_fen <= 0:
        raise Rejected("zero_amount", "兑现金额为零，无需支付")
    existing = await repo.by_entitlement(assessed.entitlement_id)
    if existing is not None:
        if (
            existing.status == HELD
            and assessed.decision == "cleared"
            and assessed.assessment_id != existing.assessment_id
        ):
            _release(existing, assessed, now)
        return existing
    payment = Payment(
        payment_id=uuid.uuid4(),
        entitlement_id=assessed.entitlement_id,
        assessment_id=assessed.assessment_id,
        confirmation_id=assessed.confirmation_id,
        uscc=assessed.uscc,
        enterprise_name=assessed.enterprise_name,
        policy_id=assessed.policy_id,
        policy_version=assessed.policy_version,
        amount_fen=assessed.amount_fen,
        payee_name=assessed.bank_account.account_name,
        payee_account_number=assessed.bank_account.account_number,
        payee_bank_name=assessed.bank_account.bank_name,
        idempotency_key=idempotency_key_for(assessed.entitlement_id),
        status=PENDING,
        attempts=0,
        consecutive_errors=0,
        next_attempt_at=now,
        hold_reasons=[],
        correlation_id=correlation_id,
        traceparent=traceparent,
        created_at=now,
        updated_at=now,
    )
    if assessed.decision == "held":
        _hold(payment, assessed)
        _count(payment, "held")
    await repo.add(payment)
    return payment


def _hold(payment: Payment, assessed: CreditAssessed) -> None:
    payment.status = HELD
    payment.next_attempt_at = None
    payment.hold_reasons = [r.model_dump(mode="json") for r in assessed.reasons]
    payment.failure_code = "credit_held"
    listed = "、".join(f"{r.list_type}（{r.record_id}）" for r in assessed.reasons) or "信用核查未通过"
    payment.failure_reason = f"企业存在失信记录，暂缓兑现：{listed}"


def _release(payment: Payment, assessed: CreditAssessed, now: datetime) -> None:
    # Never submitted while held, so the key is still unused and the body may change.
    payment.assessment_id = assessed.assessment_id
    payment.confirmation_id = assessed.confirmation_id
    payment.amount_fen = assessed.amount_fen
    payment.payee_name = assessed.bank_account.account_name
    payment.payee_account_number = assessed.bank_account.account_number
    payment.payee_bank_name = assessed.bank_account.bank_name
    payment.status = PENDING
    payment.next_attempt_at = now
    payment.hold_reasons = []
    payment.failure_code = None
    payment.failure_reason = None
    payment.updated_at = now


# --- the worker's steps ---------------------------------------------------------------


async def claim(
    repo: Repository, *, now: datetime, limit: int, policy: RetryPolicy, payer_budget_code: str
) -> list[Step]:
    """Take due payments under a lease and say what to ask the finance system."""
    steps = []
    for payment in await repo.claim_due(now, limit):
        if payment.status == PENDING:
            payment.status = SUBMITTED
            payment.attempts += 1
            if payment.payer_budget_code is None:
                payment.payer_budget_code = payer_budget_code
            action: Literal["submit", "query"] = "submit"
            _count(payment, "submitted")
        else:
            # `unknown`, or `submitted` whose lease ran out: its worker died
            # mid-call, so the instruction may have been settled. Ask first.
            payment.status = UNKNOWN
            action = "query"
        payment.next_attempt_at = now + timedelta(seconds=policy.lease_seconds)
        payment.updated_at = now
        steps.append(
            Step(
                payment_id=payment.payment_id,
                action=action,
                submission_no=payment.attempts,
                instruction=instruction_for(payment),
                started_at=now,
            )
        )
    return steps


def instruction_for(payment: Payment) -> PaymentInstruction:
    assert payment.payer_budget_code is not None, "the budget code is set at the first claim"
    return PaymentInstruction(
        idempotency_key=payment.idempotency_key,
        payer_budget_code=payment.payer_budget_code,
        payee_name=payment.payee_name,
        payee_account_number=payment.payee_account_number,
        payee_bank_name=payment.payee_bank_name,
        amount_fen=payment.amount_fen,
        purpose=f"惠企政策兑现：{payment.policy_id}",
        reference=str(payment.payment_id),
    )


async def perform(finance: FinanceGateway, step: Step) -> FinanceResult:
    if step.action == "submit":
        return await finance.submit(step.instruction)
    return await finance.query(step.instruction.idempotency_key)


async def record_outcome(
    repo: Repository, step: Step, result: FinanceResult, *, policy: RetryPolicy, now: datetime, emit: Emit
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
    if payment.status in TERMINAL:
        return  # a slower worker whose lease had run out; the payment is already decided
    payment.updated_at = now
    if result.outcome == "settled":
        await _settle(payment, result, now=now, emit=emit)
    elif result.outcome == "rejected":
        await _fail(
            payment,
            result.code or "finance_rejected",
            f"财政系统拒绝支付：{result.message}",
            now=now,
            emit=emit,
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
        )
    else:
        # Nothing under our key: resubmit with the very same key.
        payment.status = PENDING
        payment.next_attempt_at = now + policy.backoff(payment.consecutive_errors)


async def _settle(payment: Payment, result: FinanceResult, *, now: datetime, emit: Emit) -> None:
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


async def _fail(payment: Payment, code: str, reason: str, *, now: datetime, emit: Emit) -> None:
    payment.status = FAILED
    payment.failure_code = code
    payment.failure_reason = reason
    payment.next_attempt_at = None
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
