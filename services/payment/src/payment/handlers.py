"""Event handlers: plain functions of (event, unit of work), listed in HANDLERS."""

from __future__ import annotations

from datetime import UTC, datetime

from mianshen_shared.events.catalog import (
    ConfirmationRevoked,
    CreditAssessed,
    EntitlementOverpaid,
    PolicyPublished,
    PolicyRetired,
)
from mianshen_shared.messaging import UnitOfWork
from payment import credit, instructions, notice, recovery, service, terms
from payment.repository import InstructionRepository, NoticeRepository, RecoveryRepository


async def on_credit_assessed(event: CreditAssessed, uow: UnitOfWork) -> None:
    if instructions.is_non_cash(event):
        return await _record_instruction(event, uow)
    # The payment goes on public notice (or is held); the worker picks it up once released.
    await service.record_assessment(
        NoticeRepository(uow.session),
        assessed=event,
        correlation_id=uow.envelope.correlationid,
        traceparent=uow.envelope.traceparent,
        now=datetime.now(UTC),
        emit=uow.emit,
    )


# --- non-cash instructions and 回头看 recovery cases (instructions.py, recovery.py) ---


async def _record_instruction(event: CreditAssessed, uow: UnitOfWork) -> None:
    # A reduction is carried out by its department on instruction: no payment, no finance call.
    await instructions.record_assessment(
        InstructionRepository(uow.session),
        assessed=event,
        correlation_id=uow.envelope.correlationid,
        traceparent=uow.envelope.traceparent,
        now=datetime.now(UTC),
    )


async def on_confirmation_revoked(event: ConfirmationRevoked, uow: UnitOfWork) -> None:
    await instructions.cancel_for_revocation(InstructionRepository(uow.session), revoked=event, now=datetime.now(UTC))
    now = datetime.now(UTC)
    release = notice.budget_release(uow.session, now)
    await notice.cancel_for_revocation(
        NoticeRepository(uow.session), revoked=event, now=now, emit=uow.emit, release=release
    )


async def on_entitlement_overpaid(event: EntitlementOverpaid, uow: UnitOfWork) -> None:
    await recovery.open_case(RecoveryRepository(uow.session), overpaid=event, now=datetime.now(UTC))


# --- 公示 and policy terms (notice.py, terms.py) ---


async def on_policy_published(event: PolicyPublished, uow: UnitOfWork) -> None:
    await terms.record_published(NoticeRepository(uow.session), published=event)


async def on_policy_retired(event: PolicyRetired, uow: UnitOfWork) -> None:
    await terms.record_retired(NoticeRepository(uow.session), retired=event)


HANDLERS = {
    "credit.assessed": on_credit_assessed,
    "credit.standing_changed": credit.on_credit_standing_changed,
    "confirmation.revoked": on_confirmation_revoked,
    "entitlement.overpaid": on_entitlement_overpaid,
    "policy.published": on_policy_published,
    "policy.retired": on_policy_retired,
}
CONSUMED_TOPICS = ["credit-assessments", "confirmations", "entitlements", "policies"]
