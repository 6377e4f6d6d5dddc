"""confirmation's internal API, reached through the gateway by 亲清在线 / 郑好办
acting for the enterprise whose 统一社会信用代码 is in the path."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from confirmation import service
from confirmation.repository import ConfirmationRepository
from confirmation.schemas import (
    ConfirmationAccept,
    ConfirmationDecline,
    ConfirmationList,
    ConfirmationRead,
    ConfirmationSummary,
    EntitlementList,
    EntitlementRead,
    EntitlementSummary,
)
from confirmation.service import ConfirmationStatus
from mianshen_shared.events import Envelope, Payload
from mianshen_shared.web import CorrelationId, DbSession, EnterpriseUSCC, RuntimeDep

router = APIRouter(prefix="/enterprises", tags=["confirmation"])


def outbox_emitter(session: DbSession, runtime: RuntimeDep, request_correlation: CorrelationId) -> service.Emit:
    async def emit(payload: Payload, *, key: str, correlation_id: str | None = None) -> Envelope:
        # The entitlement's own correlation id (from the department push) wins over
        # the request's, so one push can be followed to its payment.
        return await runtime.outbox.add(session, payload, key=key, correlation_id=correlation_id or request_correlation)

    return emit


USCC = EnterpriseUSCC
Emitter = Annotated[service.Emit, Depends(outbox_emitter)]


@router.get("/{uscc}/confirmations", response_model=ConfirmationList)
async def list_confirmations(
    session: DbSession, uscc: USCC, status: ConfirmationStatus | None = None
) -> ConfirmationList:
    views = await service.list_confirmations(
        ConfirmationRepository(session), uscc=uscc, status=status, now=datetime.now(UTC)
    )
    return ConfirmationList(items=[ConfirmationSummary.of(v) for v in views])


@router.post("/{uscc}/confirmations/{confirmation_id}/accept", response_model=ConfirmationRead)
async def accept_confirmation(
    body: ConfirmationAccept, session: DbSession, emit: Emitter, uscc: USCC, confirmation_id: uuid.UUID
) -> ConfirmationRead:
    view = await service.accept(
        ConfirmationRepository(session),
        uscc=uscc,
        confirmation_id=confirmation_id,
        bank_account=body.bank_account.to_event(),
        now=datetime.now(UTC),
        emit=emit,
    )
    return ConfirmationRead.of(view)


@router.post("/{uscc}/confirmations/{confirmation_id}/decline", response_model=ConfirmationRead)
async def decline_confirmation(
    body: ConfirmationDecline, session: DbSession, emit: Emitter, uscc: USCC, confirmation_id: uuid.UUID
) -> ConfirmationRead:
    view = await service.decline(
        ConfirmationRepository(session),
        uscc=uscc,
        confirmation_id=confirmation_id,
        reason=body.reason,
        now=datetime.now(UTC),
        emit=emit,
    )
    return ConfirmationRead.of(view)


@router.get("/{uscc}/entitlements", response_model=EntitlementList)
async def list_entitlements(session: DbSession, uscc: USCC) -> EntitlementList:
    entitlements = await service.list_entitlements(ConfirmationRepository(session), uscc=uscc)
    return EntitlementList(items=[EntitlementSummary.of(e) for e in entitlements])


@router.get("/{uscc}/entitlements/{entitlement_id}", response_model=EntitlementRead)
async def get_entitlement(session: DbSession, uscc: USCC, entitlement_id: uuid.UUID) -> EntitlementRead:
    detail = await service.entitlement_detail(
        ConfirmationRepository(session), uscc=uscc, entitlement_id=entitlement_id, now=datetime.now(UTC)
    )
    return EntitlementRead.of_detail(detail)
