"""payment's internal API (reached only through the gateway)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from mianshen_shared.api import Items
from mianshen_shared.web import DbSession, EnterpriseUSCC
from payment import service
from payment.repository import PaymentRepository
from payment.schemas import PaymentRead

router = APIRouter(tags=["payments"])


@router.get("/enterprises/{uscc}/payments", response_model=Items[PaymentRead])
async def enterprise_payments(session: DbSession, uscc: EnterpriseUSCC) -> Items[PaymentRead]:
    payments = await service.payments_for(PaymentRepository(session), uscc=uscc)
    return Items(items=[PaymentRead.of(p) for p in payments])


@router.get("/enterprises/{uscc}/payments/{payment_id}", response_model=PaymentRead)
async def enterprise_payment(session: DbSession, payment_id: uuid.UUID, uscc: EnterpriseUSCC) -> PaymentRead:
    payment = await service.get_payment(PaymentRepository(session), payment_id=payment_id, uscc=uscc)
    return PaymentRead.of(payment)


@router.get("/payments/{payment_id}", response_model=PaymentRead)
async def get_payment(session: DbSession, payment_id: uuid.UUID) -> PaymentRead:
    return PaymentRead.of(await service.get_payment(PaymentRepository(session), payment_id=payment_id))
