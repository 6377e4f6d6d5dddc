"""payment's internal API for 公示 (reached only through the gateway): the public
notice and its batches, anyone's objection, and the operators' decisions on them."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query

from mianshen_shared.api import Items, Offset
from mianshen_shared.events import Payload
from mianshen_shared.money import format_yuan
from mianshen_shared.problems import ProblemError
from mianshen_shared.web import CorrelationId, DbSession, RuntimeDep
from payment import notice
from payment.models import Payment
from payment.repository import NoticeRepository
from payment.schemas import (
    NoticeBatchRead,
    NoticeEntryRead,
    NoticePage,
    ObjectionCreate,
    ObjectionDecisionCreate,
    ObjectionRead,
    ObjectionReceipt,
)

router = APIRouter(tags=["notices"])
ACTOR_HEADER = "X-Actor"
_ACTOR = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")

PolicyFilter = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$", description="按政策编号筛选")]
BatchFilter = Annotated[
    str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,159}$", description="公示批次，如 <政策编号>-20261125")
]
Limit = Annotated[int, Query(ge=1, le=200)]
ObjectionStatus = Annotated[str | None, Query(pattern=r"^(open|upheld|dismissed)$", description="按处理状态筛选")]


async def get_actor(
    x_actor: Annotated[str | None, Header(alias=ACTOR_HEADER, description="操作人员编号")] = None,
) -> str:
    if x_actor is None or not x_actor.strip():
        raise ProblemError(400, "actor_required", f"请在请求头 {ACTOR_HEADER} 中注明操作人员编号")
    if not _ACTOR.fullmatch(x_actor):
        raise ProblemError(400, "actor_invalid", f"请求头 {ACTOR_HEADER} 格式不正确：应为1至64位字母、数字或 . _ @ -")
    return x_actor


async def get_emit(session: DbSession, runtime: RuntimeDep, correlation_id: CorrelationId) -> notice.Emit:
    """Emitting writes to the outbox in the request's own transaction."""

    async def emit(payload: Payload, *, key: str, correlation_id: str = correlation_id) -> Any:
        return await runtime.outbox.add(session, payload, key=key, correlation_id=correlation_id)

    return emit


Actor = Annotated[str, Depends(get_actor)]
Emitter = Annotated[notice.Emit, Depends(get_emit)]


@router.get("/notices", response_model=NoticePage)
async def list_notices(
    session: DbSession,
    policy_id: PolicyFilter = None,
    batch: BatchFilter = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> NoticePage:
    repo = NoticeRepository(session)
    payments, total = await repo.notice_entries(policy_id=policy_id, batch=batch, limit=limit, offset=offset)
    titles = await repo.policy_titles([p.policy_id for p in payments])
    now = datetime.now(UTC)
    return NoticePage(items=[_entry(p, titles, now) for p in payments], total=total, limit=limit, offset=offset)


def _entry(payment: Payment, titles: dict[str, str], now: datetime) -> NoticeEntryRead:
    assert payment.notice_batch and payment.notice_started_on and payment.notice_until and payment.notice_ends_at
    first_day = notice.working_calendar().notice_period(payment.notice_started_on, 1).until
    return NoticeEntryRead(
        payment_id=payment.payment_id,
        batch=payment.notice_batch,
        policy_id=payment.policy_id,
        policy_title=titles.get(payment.policy_id),
        enterprise_name=payment.enterprise_name,
        uscc=payment.uscc,
        amount_fen=payment.amount_fen,
        amount_text=format_yuan(payment.amount_fen),
        notice_starts_on=first_day,
        notice_until=payment.notice_until,
        open_for_objection=payment.stage in notice.OBJECTABLE_STAGES and now < payment.notice_ends_at,
    )


@router.get("/notices/batches", response_model=Items[NoticeBatchRead])
async def list_notice_batches(
    session: DbSession, policy_id: PolicyFilter = None, limit: Limit = 50, offset: Offset = 0
) -> Items[NoticeBatchRead]:
    repo = NoticeRepository(session)
    rows = await repo.notice_batches(policy_id=policy_id, limit=limit, offset=offset)
    titles = await repo.policy_titles([policy for _b, policy, *_rest in rows])
    return Items(
        items=[
            NoticeBatchRead(
                batch=batch,
                policy_id=policy,
                policy_title=titles.get(policy),
                started_on=started_on,
                until=until,
                count=count,
                total_fen=total,
                total_text=format_yuan(total),
            )
            for batch, policy, started_on, until, count, total in rows
            if started_on is not None and until is not None
        ]
    )


@router.post("/notices/{payment_id}/objections", status_code=201, response_model=ObjectionReceipt)
async def raise_objection(
    session: DbSession, emit: Emitter, payment_id: uuid.UUID, body: ObjectionCreate
) -> ObjectionReceipt:
    objection = await notice.raise_objection(
        NoticeRepository(session),
        payment_id=payment_id,
        reason=body.reason,
        contact=body.contact or None,
        now=datetime.now(UTC),
        emit=emit,
    )
    return ObjectionReceipt(
        objection_id=objection.objection_id,
        payment_id=objection.payment_id,
        status=objection.status,
        raised_at=objection.raised_at,
    )


@router.get("/objections", response_model=Items[ObjectionRead])
async def list_objections(
    session: DbSession, status: ObjectionStatus = None, limit: Limit = 50, offset: Offset = 0
) -> Items[ObjectionRead]:
    rows = await NoticeRepository(session).objections(status=status, limit=limit, offset=offset)
    return Items(items=[ObjectionRead.of(o, p) for o, p in rows])


@router.post("/objections/{objection_id}/decision", response_model=ObjectionRead)
async def decide_objection(
    session: DbSession, emit: Emitter, actor: Actor, objection_id: uuid.UUID, body: ObjectionDecisionCreate
) -> ObjectionRead:
    repo, now = NoticeRepository(session), datetime.now(UTC)
    objection = await notice.decide_objection(
        repo,
        objection_id=objection_id,
        decision=body.decision,
        reason=body.reason,
        actor=actor,
        now=now,
        emit=emit,
        release=notice.budget_release(session, now),
    )
    payment = await repo.get(objection.payment_id)
    assert payment is not None
    return ObjectionRead.of(objection, payment)
