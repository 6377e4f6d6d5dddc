"""Event handlers: plain functions of (event, unit of work), listed in HANDLERS."""

from __future__ import annotations

from datetime import UTC, datetime

from confirmation import service
from confirmation.repository import ConfirmationRepository
from mianshen_shared.events.catalog import (
    CreditAssessed,
    EntitlementDetermined,
    PaymentFailed,
    PaymentIssued,
)
from mianshen_shared.messaging import UnitOfWork


async def on_entitlement_determined(event: EntitlementDetermined, uow: UnitOfWork) -> None:
    await service.apply_determination(
        ConfirmationRepository(uow.session), determination=event, now=datetime.now(UTC), emit=uow.emit
    )


async def on_credit_assessed(event: CreditAssessed, uow: UnitOfWork) -> None:
    await service.apply_credit_assessment(ConfirmationRepository(uow.session), assessment=event, now=datetime.now(UTC))


async def on_payment_issued(event: PaymentIssued, uow: UnitOfWork) -> None:
    await service.apply_payment_issued(ConfirmationRepository(uow.session), payment=event, now=datetime.now(UTC))


async def on_payment_failed(event: PaymentFailed, uow: UnitOfWork) -> None:
    await service.apply_payment_failed(ConfirmationRepository(uow.session), payment=event, now=datetime.now(UTC))


HANDLERS = {
    "entitlement.determined": on_entitlement_determined,
    "credit.assessed": on_credit_assessed,
    "payment.issued": on_payment_issued,
    "payment.failed": on_payment_failed,
}
CONSUMED_TOPICS = ["entitlements", "credit-assessments", "payments"]
