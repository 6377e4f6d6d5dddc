"""Event handlers: plain functions of (event, unit of work), listed in HANDLERS."""

from __future__ import annotations

from datetime import UTC, datetime

from mianshen_shared.events.catalog import CreditAssessed
from mianshen_shared.messaging import UnitOfWork
from payment import service
from payment.repository import PaymentRepository


async def on_credit_assessed(event: CreditAssessed, uow: UnitOfWork) -> None:
    # The worker picks the new payment up; nothing is emitted until the finance
    # system has answered.
    await service.record_assessment(
        PaymentRepository(uow.session),
        assessed=event,
        correlation_id=uow.envelope.correlationid,
        traceparent=uow.envelope.traceparent,
        now=datetime.now(UTC),
    )


HANDLERS = {"credit.assessed": on_credit_assessed}
CONSUMED_TOPICS = ["credit-assessments"]
