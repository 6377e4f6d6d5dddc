"""守信激励、失信惩戒 through the gateway: the credit decisions on one entitlement,
for the enterprise (its own only) and for operators. An enterprise's credit
standing stays at GET /v1/enterprises/{uscc}/credit (router.py)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.access import Audience, access
from gateway.bootstrap import UpstreamsDep
from gateway.router import problem_responses
from mianshen_shared.web import EnterpriseUSCC


class _Mirrored(BaseModel):
    # Mirrors credit-check's answer, which passes through; a field it adds is no break.
    model_config = ConfigDict(extra="allow")


class CreditRecordRefRead(_Mirrored):
    record_id: str
    list_type: str = Field(description="记录类型，如 credit.dishonest_judgment_debtor")
    department: str
    effective_date: date = Field(description="生效日期（含当日）")
    expires_on: date | None = Field(default=None, description="失效日期（自当日起不再有效）；为空表示直至移出")


class CreditDecisionRead(_Mirrored):
    assessment_id: uuid.UUID
    acceptance_id: uuid.UUID | None = Field(default=None, description="所核查的那一次确认")
    confirmation_id: uuid.UUID
    entitlement_id: uuid.UUID
    decision: str = Field(description="cleared 通过 / held 暂缓")
    reasons: list[CreditRecordRefRead] = Field(description="暂缓所依据的失信记录")
    red_records: list[CreditRecordRefRead] = Field(description="核查时有效的红名单记录（守信激励）")
    supersedes: uuid.UUID | None = Field(default=None, description="解除暂缓时：被取代的暂缓核查")
    assessed_at: datetime


class EntitlementCreditRead(_Mirrored):
    entitlement_id: uuid.UUID
    decision: str = Field(description="现行的核查结论（最新一次）")
    assessments: list[CreditDecisionRead] = Field(
        description="该待遇的全部信用核查，先后为序；失信记录移出或到期后解除暂缓"
    )


_READ_ERRORS = problem_responses(404, 422, 502, 504)

enterprise_credit = APIRouter(
    prefix="/v1/enterprises", tags=["enterprises"], dependencies=[access(Audience.enterprise)]
)


@enterprise_credit.get(
    "/{uscc}/entitlements/{entitlement_id}/credit-assessments",
    response_model=EntitlementCreditRead,
    responses=_READ_ERRORS,
    summary="一项待遇的信用核查（暂缓依据、解除暂缓）",
)
async def enterprise_entitlement_credit(
    request: Request, upstreams: UpstreamsDep, uscc: EnterpriseUSCC, entitlement_id: uuid.UUID
) -> Response:
    path = f"/enterprises/{uscc}/entitlements/{entitlement_id}/credit-assessments"
    return await upstreams.forward("credit-check", "GET", path, request=request)


operator_credit = APIRouter(prefix="/v1/operator", tags=["operators"], dependencies=[access(Audience.operator)])


@operator_credit.get(
    "/entitlements/{entitlement_id}/credit-assessments",
    response_model=EntitlementCreditRead,
    responses=_READ_ERRORS,
    summary="一项待遇的信用核查（运营人员）",
)
async def operator_entitlement_credit(request: Request, upstreams: UpstreamsDep, entitlement_id: uuid.UUID) -> Response:
    path = f"/entitlements/{entitlement_id}/credit-assessments"
    return await upstreams.forward("credit-check", "GET", path, request=request)


ROUTERS = [enterprise_credit, operator_credit]
