"""confirmation's internal API, reached through the gateway by 亲清在线 / 郑好办
acting for the enterprise whose 统一社会信用代码 is in the path."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, Response

from confirmation import performance, service
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
    NotificationList,
    NotificationRead,
    PerformanceParams,
    PerformanceRead,
    SavedBankAccountList,
    SavedBankAccountRead,
)
from confirmation.service import ConfirmationStatus
from mianshen_shared.api import Offset
from mianshen_shared.events import Envelope, Payload
from mianshen_shared.sealing import Sealer
from mianshen_shared.web import CorrelationId, DbSession, EnterpriseUSCC, RuntimeDep

router = APIRouter(prefix="/enterprises", tags=["confirmation"])


async def outbox_emitter(session: DbSession, runtime: RuntimeDep, request_correlation: CorrelationId) -> service.Emit:
    async def emit(payload: Payload, *, key: str, correlation_id: str | None = None) -> Envelope:
        # The entitlement's own correlation id (from the department push) wins over
        # the request's, so one push can be followed to its payment.
        return await runtime.outbox.add(session, payload, key=key, correlation_id=correlation_id or request_correlation)

    return emit


async def account_sealer(runtime: RuntimeDep) -> Sealer:
    settings = runtime.settings
    return Sealer.from_config(getattr(settings, "account_keys", ""), environment=settings.environment)


USCC = EnterpriseUSCC
Emitter = Annotated[service.Emit, Depends(outbox_emitter)]
AccountSealer = Annotated[Sealer, Depends(account_sealer)]


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
    body: ConfirmationAccept,
    session: DbSession,
    emit: Emitter,
    sealer: AccountSealer,
    uscc: USCC,
    confirmation_id: uuid.UUID,
) -> ConfirmationRead:
    view = await service.accept(
        ConfirmationRepository(session),
        uscc=uscc,
        confirmation_id=confirmation_id,
        account=body.to_choice(),
        sealer=sealer,
        now=datetime.now(UTC),
        emit=emit,
    )
    return ConfirmationRead.of(view)


@router.get("/{uscc}/bank-accounts", response_model=SavedBankAccountList)
async def list_bank_accounts(session: DbSession, uscc: USCC) -> SavedBankAccountList:
    accounts = await service.list_bank_accounts(ConfirmationRepository(session), uscc=uscc)
    return SavedBankAccountList(items=[SavedBankAccountRead.of(a) for a in accounts])


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


# --- front-end notifications, for operators (the gateway exposes them under /v1/operator) ---

notifications_router = APIRouter(tags=["notifications"])
NotificationStatus = Literal["pending", "delivered", "failed"]


@notifications_router.get("/notifications", response_model=NotificationList)
async def list_notifications(
    session: DbSession,
    status: NotificationStatus | None = None,
    uscc: Annotated[str | None, Query(pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> NotificationList:
    rows = await ConfirmationRepository(session).notifications(status=status, uscc=uscc, limit=limit, offset=offset)
    return NotificationList(items=[NotificationRead.of(n) for n in rows])


# --- 绩效评估, for operators (the gateway exposes these under /v1/operator) ---------------

performance_router = APIRouter(tags=["performance"])
PerformanceQueryString = Annotated[PerformanceParams, Query()]


async def _report(session: DbSession, params: PerformanceParams) -> performance.PerformanceReport:
    now = datetime.now(UTC)
    query = params.to_query(today=service.shanghai_today(now))
    return await performance.build_report(ConfirmationRepository(session), query=query, now=now)


def _download_name(report: performance.PerformanceReport, extension: str) -> str:
    q = report.query
    return f"performance-{q.date_from.isoformat()}-{q.date_to.isoformat()}.{extension}"


@performance_router.get("/performance", response_model=PerformanceRead)
async def get_performance(session: DbSession, params: PerformanceQueryString) -> PerformanceRead:
    return PerformanceRead.of(await _report(session, params))


@performance_router.get(
    "/performance.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "绩效评估表（UTF-8，带BOM，可用Excel打开）"}},
)
async def get_performance_csv(session: DbSession, params: PerformanceQueryString) -> Response:
    report = await _report(session, params)
    return Response(
        performance.render_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_download_name(report, "csv")}"'},
    )


@performance_router.get("/performance.html", response_class=HTMLResponse)
async def get_performance_html(session: DbSession, params: PerformanceQueryString) -> HTMLResponse:
    report = await _report(session, params)
    return HTMLResponse(
        performance.render_html(report),
        headers={"Content-Disposition": f'inline; filename="{_download_name(report, "html")}"'},
    )
