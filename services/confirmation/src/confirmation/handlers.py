"""Event handlers: plain functions of (event, unit of work), listed in HANDLERS, and
of (run of events, unit of work), listed in BATCH_HANDLERS."""

from __future__ import annotations

from datetime import UTC, datetime

from confirmation import service
from confirmation.repository import ConfirmationRepository
from confirmation.service import Emit
from mianshen_shared.events import Envelope, Payload
from mianshen_shared.events.catalog import (
    BenefitExecuted,
    CreditAssessed,
    EntitlementDetermined,
    PaymentFailed,
    PaymentIssued,
    PaymentProgressed,
)
from mianshen_shared.messaging import UnitOfWork


async def on_entitlements_determined(items: list[tuple[EntitlementDetermined, Envelope]], uow: UnitOfWork) -> None:
    # Determinations come in bursts (one department push can touch thousands of
    # enterprises), so a run of them is applied with a constant number of queries.
    repo = ConfirmationRepository(uow.session)
    await service.apply_determinations(
        repo,
        determinations=[(event, _emitter(uow, envelope), envelope.correlationid) for event, envelope in items],
        now=datetime.now(UTC),
    )
    await repo.keep_traceparents({event.entitlement_id: envelope.traceparent for event, envelope in items})


def _emitter(uow: UnitOfWork, envelope: Envelope) -> Emit:
    """Emits under the handled event's own correlation id and trace, not the run's first one."""

    async def emit(payload: Payload, *, key: str, correlation_id: str | None = None) -> Envelope:
        return await uow.emit(payload, key=key, correlation_id=correlation_id or envelope.correlationid, cause=envelope)

    return emit


async def on_credit_assessed(event: CreditAssessed, uow: UnitOfWork) -> None:
    await service.apply_credit_assessment(ConfirmationRepository(uow.session), assessment=event, now=datetime.now(UTC))


async def on_payment_issued(event: PaymentIssued, uow: UnitOfWork) -> None:
    await service.apply_payment_issued(ConfirmationRepository(uow.session), payment=event, now=datetime.now(UTC))


async def on_payment_failed(event: PaymentFailed, uow: UnitOfWork) -> None:
    await service.apply_payment_failed(ConfirmationRepository(uow.session), payment=event, now=datetime.now(UTC))


async def on_payment_progressed(event: PaymentProgressed, uow: UnitOfWork) -> None:
    await service.apply_payment_progressed(ConfirmationRepository(uow.session), progressed=event, now=datetime.now(UTC))


async def on_benefit_executed(event: BenefitExecuted, uow: UnitOfWork) -> None:
    await service.apply_benefit_executed(ConfirmationRepository(uow.session), executed=event, now=datetime.now(UTC))


BATCH_HANDLERS = {
    "entitlement.determined": on_entitlements_determined,
}
HANDLERS = {
    "credit.assessed": on_credit_assessed,
    "payment.issued": on_payment_issued,
    "payment.failed": on_payment_failed,
    "payment.progressed": on_payment_progressed,
    "benefit.executed": on_benefit_executed,
}
CONSUMED_TOPICS = ["entitlements", "credit-assessments", "payments"]
