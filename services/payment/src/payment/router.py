"""payment's internal API (reached only through the gateway)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Path

from mianshen_shared import uscc as uscc_rules
from mianshen_shared.api import Items
from mianshen_shared.problems import ProblemError
from mianshen_shared.web import DbSession
from payment import service
from payment.repository import PaymentRepository
from payment.schemas import PaymentRead

router = APIRouter(tags=["payments"])
USCC = Path(description="统一社会信用代码")


def _valid_uscc(code: str) -> str:
    try:
        return uscc_rules.validate(code)
    except uscc_rules.InvalidUSCC as exc:
        raise ProblemError(422, exc.reason, exc.message) from exc


@router.get("/enterprises/{uscc}/payments", response_model=Items[PaymentRead])
async def enterprise_payments(session: DbSession, uscc: str = USCC) -> Items[PaymentRead]:
    payments = await service.payments_for(PaymentRepository(session), uscc=_valid_uscc(uscc))
    return Items(items=[PaymentRead.of(p) for p in payments])


@router.get("/enterprises/{uscc}/payments/{payment_id}", response_model=PaymentRead)
async def enterprise_payment(session: DbSession, payment_id: uuid.UUID, uscc: str = USCC) -> PaymentRead:
    payment = await service.get_payment(PaymentRepository(session), payment_id=payment_id, uscc=_valid_uscc(uscc))
    return PaymentRead.of(payment)


@router.get("/payments/{payment_id}", response_model=PaymentRead)
async def get_payment(session: DbSession, payment_id: uuid.UUID) -> PaymentRead:
    return PaymentRead.of(await service.get_payment(PaymentRepository(session), payment_id=payment_id))
