"""The gateway's routes for 公示 (public notice before payment): anyone reads the notice
and its batches and may object while it runs; operators decide objections. Bodies are
checked at the door; the payment service decides."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.access import Actor, Audience, access
from gateway.bootstrap import UpstreamsDep
from gateway.router import JsonBody, problem_responses
from mianshen_shared.api import Items, Offset

PolicyFilter = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$", description="按政策编号筛选")]
BatchFilter = Annotated[
    str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,159}$", description="公示批次，如 <政策编号>-20261125")
]
Limit = Annotated[int, Query(ge=1, le=100)]
ObjectionStatus = Annotated[
    Literal["open", "upheld", "dismissed"] | None,
    Query(description="按处理状态筛选：open 待处理、upheld 异议成立、dismissed 异议不成立"),
]
_READ_ERRORS = problem_responses(422, 502, 504)
_OBJECTION_ERRORS = problem_responses(400, 404, 409, 413, 415, 422, 502, 504)


# --- request bodies ------------------------------------------------------------------------


class ObjectionCreate(BaseModel):
    """对公示对象提出异议（任何人均可，公示期内）。"""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=10, max_length=500, description="异议理由（10至500字）")
    contact: str | None = Field(default=None, max_length=100, description="联系方式（选填，仅经办人员可见）")


class ObjectionDecisionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    decision: Literal["uphold", "dismiss"] = Field(description="uphold 异议成立（撤销兑现）/ dismiss 异议不成立")
    reason: str = Field(min_length=1, max_length=1000, description="核实情况与处理意见")


# --- what the payment service answers (mirrored, extra fields pass through) --------------------


class _Mirrored(BaseModel):
    model_config = ConfigDict(extra="allow")


class NoticeEntryRead(_Mirrored):
    """公示名单中的一条：企业、政策、金额与公示期；不含银行账户与测算说明。"""

    payment_id: uuid.UUID
    batch: str
    policy_id: str
    policy_title: str | None
    enterprise_name: str | None
    uscc: str
    amount_fen: int
    amount_text: str
    notice_starts_on: date
    notice_until: date
    open_for_objection: bool


class NoticePage(_Mirrored):
    items: list[NoticeEntryRead]
    total: int
    limit: int
    offset: int


class NoticeBatchRead(_Mirrored):
    batch: str
    policy_id: str
    policy_title: str | None
    started_on: date
    until: date
    count: int
    total_fen: int
    total_text: str


class ObjectionReceipt(_Mirrored):
    objection_id: uuid.UUID
    payment_id: uuid.UUID
    status: str
    raised_at: datetime


class ObjectionRead(_Mirrored):
    """异议及其处理（经办人员视图）。"""

    objection_id: uuid.UUID
    payment_id: uuid.UUID
    uscc: str
    policy_id: str
    amount_fen: int
    reason: str
    contact: str | None
    status: str
    raised_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None


# --- anyone -----------------------------------------------------------------------------------------

notices = APIRouter(prefix="/v1/notices", tags=["notices"], dependencies=[access(Audience.public)])


def _params(**values: object) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if v is not None}


@notices.get("", response_model=NoticePage, responses=_READ_ERRORS, summary="拨付前公示名单（可按政策、批次筛选）")
async def list_notices(
    request: Request,
    upstreams: UpstreamsDep,
    policy_id: PolicyFilter = None,
    batch: BatchFilter = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    params = _params(policy_id=policy_id, batch=batch, limit=limit, offset=offset)
    return await upstreams.forward("payment", "GET", "/notices", request=request, params=params)


@notices.get(
    "/batches", response_model=Items[NoticeBatchRead], responses=_READ_ERRORS, summary="公示批次（按政策、按日）"
)
async def list_notice_batches(
    request: Request, upstreams: UpstreamsDep, policy_id: PolicyFilter = None, limit: Limit = 50, offset: Offset = 0
) -> Response:
    params = _params(policy_id=policy_id, limit=limit, offset=offset)
    return await upstreams.forward("payment", "GET", "/notices/batches", request=request, params=params)


@notices.post(
    "/{payment_id}/objections",
    status_code=201,
    response_model=ObjectionReceipt,
    responses=_OBJECTION_ERRORS,
    dependencies=[JsonBody],
    summary="对公示对象提出异议（公示期内，任何人）",
)
async def raise_objection(
    request: Request, upstreams: UpstreamsDep, payment_id: uuid.UUID, body: ObjectionCreate
) -> Response:
    path = f"/notices/{payment_id}/objections"
    return await upstreams.forward("payment", "POST", path, request=request, json=body.model_dump())


# --- operators --------------------------------------------------------------------------------------

operators = APIRouter(prefix="/v1/operator", tags=["operators"], dependencies=[access(Audience.operator)])


@operators.get(
    "/objections", response_model=Items[ObjectionRead], responses=_READ_ERRORS, summary="公示异议（可按处理状态筛选）"
)
async def list_objections(
    request: Request,
    upstreams: UpstreamsDep,
    status: ObjectionStatus = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    params = _params(status=status, limit=limit, offset=offset)
    return await upstreams.forward("payment", "GET", "/objections", request=request, params=params)


@operators.post(
    "/objections/{objection_id}/decision",
    response_model=ObjectionRead,
    responses=_OBJECTION_ERRORS,
    dependencies=[JsonBody],
    summary="处理公示异议：uphold 成立（撤销兑现）/ dismiss 不成立",
)
async def decide_objection(
    request: Request, upstreams: UpstreamsDep, actor: Actor, objection_id: uuid.UUID, body: ObjectionDecisionCreate
) -> Response:
    path = f"/objections/{objection_id}/decision"
    return await upstreams.forward("payment", "POST", path, request=request, json=body.model_dump(), actor=actor)


ROUTERS = [notices, operators]
