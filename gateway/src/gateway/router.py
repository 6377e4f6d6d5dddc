"""The gateway's /v1 API. Thin: validate at the door, then publish or forward.

Each router declares its audience (see access.py), so access control lands on
every route of it at once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from gateway import service
from gateway.access import Audience, access
from gateway.bootstrap import GatewayDep, UpstreamsDep
from gateway.schemas import (
    ConfirmationAccept,
    ConfirmationDecline,
    ConfirmationList,
    ConfirmationRead,
    CreditStatusRead,
    DataEventBatch,
    DataEventsAccepted,
    DeterminationRead,
    EligibilitySummaryRead,
    EntitlementList,
    EntitlementRead,
    PaymentRead,
    PolicyRead,
    PolicySummaryRead,
    Problem,
)
from mianshen_shared.api import Items
from mianshen_shared.problems import ProblemError
from mianshen_shared.web import CorrelationId, EnterpriseUSCC

_PROBLEM_DESCRIPTIONS = {
    400: "请求体不是合法的JSON（malformed_json）",
    404: "资源不存在，或不属于该企业",
    409: "与当前状态冲突",
    413: "请求体过大（payload_too_large）",
    415: "内容类型不是 application/json",
    422: "请求数据校验未通过",
    502: "上游服务不可用或返回了无法识别的错误",
    503: "消息服务暂不可用，整批未接收",
    504: "上游服务超时",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error answers; main.py files them under application/problem+json."""
    return {s: {"model": Problem, "description": _PROBLEM_DESCRIPTIONS[s]} for s in statuses}


def require_json(request: Request) -> None:
    mime = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if mime != "application/json" and not (mime.startswith("application/") and mime.endswith("+json")):
        raise ProblemError(415, "unsupported_media_type", "请求体应为JSON（Content-Type: application/json）")


JsonBody = Depends(require_json)
PolicyId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$", description="政策编号")]
ConfirmationStatus = Annotated[
    str | None, Query(pattern=r"^[a-z_]{1,32}$", description="按状态筛选，如 pending、accepted、declined、closed")
]

# --- departments ---------------------------------------------------------------------

departments = APIRouter(prefix="/v1", tags=["departments"], dependencies=[access(Audience.department)])

# The body is read and validated by hand so that one answer lists every fault of every
# record; the schema is still published from the model.
_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DataEventBatch"}}},
    }
}
REQUEST_MODELS = [DataEventBatch]


@departments.post(
    "/data-events",
    status_code=202,
    response_model=DataEventsAccepted,
    summary="部门推送数据（整批校验，全部接收或全部拒绝）",
    dependencies=[JsonBody],
    openapi_extra=_BATCH_BODY,
    responses=problem_responses(400, 413, 415, 422, 503),
)
async def submit_data_events(
    request: Request, gateway: GatewayDep, correlation_id: CorrelationId
) -> DataEventsAccepted:
    records = service.validate_batch(
        service.parse_json(await request.body()),
        city=gateway.city,
        max_records=gateway.settings.max_batch_records,
        received_at=datetime.now(UTC),
    )
    correlation_id = correlation_id[: service.MAX_CORRELATION_ID]
    await service.publish_records(
        gateway.producer,
        records,
        topic=gateway.records_topic,
        correlation_id=correlation_id,
        timeout=gateway.settings.publish_timeout_seconds,
    )
    return DataEventsAccepted(
        accepted=len(records), record_ids=[r.record_id for r in records], correlation_id=correlation_id
    )


# --- enterprises (亲清在线 / 郑好办 acting for one enterprise) ----------------------------

enterprises = APIRouter(prefix="/v1/enterprises", tags=["enterprises"], dependencies=[access(Audience.enterprise)])
_READ_ERRORS = problem_responses(404, 422, 502, 504)
_ANSWER_ERRORS = problem_responses(400, 404, 409, 413, 415, 422, 502, 504)


@enterprises.get(
    "/{uscc}/entitlements",
    response_model=EntitlementList,
    responses=_READ_ERRORS,
    summary="企业的待遇清单（从比对到兑现的状态）",
)
async def list_entitlements(request: Request, upstreams: UpstreamsDep, uscc: EnterpriseUSCC) -> Response:
    return await upstreams.forward("confirmation", "GET", f"/enterprises/{uscc}/entitlements", request=request)


@enterprises.get(
    "/{uscc}/entitlements/{entitlement_id}",
    response_model=EntitlementRead,
    responses=_READ_ERRORS,
    summary="一项待遇的详情与依据",
)
async def get_entitlement(
    request: Request, upstreams: UpstreamsDep, uscc: EnterpriseUSCC, entitlement_id: uuid.UUID
) -> Response:
    path = f"/enterprises/{uscc}/entitlements/{entitlement_id}"
    return await upstreams.forward("confirmation", "GET", path, request=request)


@enterprises.get(
    "/{uscc}/confirmations", response_model=ConfirmationList, responses=_READ_ERRORS, summary="企业的意愿确认请求"
)
async def list_confirmations(
    request: Request, upstreams: UpstreamsDep, uscc: EnterpriseUSCC, status: ConfirmationStatus = None
) -> Response:
    params = {"status": status} if status else None
    return await upstreams.forward(
        "confirmation", "GET", f"/enterprises/{uscc}/confirmations", request=request, params=params
    )


@enterprises.post(
    "/{uscc}/confirmations/{confirmation_id}/accept",
    response_model=ConfirmationRead,
    responses=_ANSWER_ERRORS,
    dependencies=[JsonBody],
    summary="确认申领，并提供收款账户",
)
async def accept_confirmation(
    request: Request,
    upstreams: UpstreamsDep,
    uscc: EnterpriseUSCC,
    confirmation_id: uuid.UUID,
    body: ConfirmationAccept,
) -> Response:
    path = f"/enterprises/{uscc}/confirmations/{confirmation_id}/accept"
    return await upstreams.forward("confirmation", "POST", path, request=request, json=body.model_dump())


@enterprises.post(
    "/{uscc}/confirmations/{confirmation_id}/decline",
    response_model=ConfirmationRead,
    responses=_ANSWER_ERRORS,
    dependencies=[JsonBody],
    summary="放弃申领",
)
async def decline_confirmation(
    request: Request,
    upstreams: UpstreamsDep,
    uscc: EnterpriseUSCC,
    confirmation_id: uuid.UUID,
    body: ConfirmationDecline,
) -> Response:
    path = f"/enterprises/{uscc}/confirmations/{confirmation_id}/decline"
    return await upstreams.forward("confirmation", "POST", path, request=request, json=body.model_dump())


@enterprises.get(
    "/{uscc}/payments", response_model=Items[PaymentRead], responses=_READ_ERRORS, summary="企业的兑现记录"
)
async def list_payments(request: Request, upstreams: UpstreamsDep, uscc: EnterpriseUSCC) -> Response:
    return await upstreams.forward("payment", "GET", f"/enterprises/{uscc}/payments", request=request)


@enterprises.get(
    "/{uscc}/determinations",
    response_model=Items[DeterminationRead],
    responses=_READ_ERRORS,
    summary="数据比对结果（含计算依据）",
)
async def list_determinations(request: Request, upstreams: UpstreamsDep, uscc: EnterpriseUSCC) -> Response:
    return await upstreams.forward("eligibility", "GET", f"/enterprises/{uscc}/entitlements", request=request)


@enterprises.get(
    "/{uscc}/eligibility-summary",
    response_model=EligibilitySummaryRead,
    responses=_READ_ERRORS,
    summary="企业的比对概况",
)
async def eligibility_summary(request: Request, upstreams: UpstreamsDep, uscc: EnterpriseUSCC) -> Response:
    return await upstreams.forward("eligibility", "GET", f"/enterprises/{uscc}/eligibility-summary", request=request)


@enterprises.get(
    "/{uscc}/credit", response_model=CreditStatusRead, responses=_READ_ERRORS, summary="企业的信用核查状态"
)
async def credit_status(request: Request, upstreams: UpstreamsDep, uscc: EnterpriseUSCC) -> Response:
    return await upstreams.forward("credit-check", "GET", f"/enterprises/{uscc}/credit", request=request)


# --- policies -------------------------------------------------------------------------

policies = APIRouter(prefix="/v1/policies", tags=["policies"], dependencies=[access(Audience.public)])


@policies.get(
    "", response_model=Items[PolicySummaryRead], responses=problem_responses(502, 504), summary="现行政策清单"
)
async def list_policies(request: Request, upstreams: UpstreamsDep) -> Response:
    return await upstreams.forward("policy-catalog", "GET", "/policies", request=request)


@policies.get(
    "/{policy_id}",
    response_model=PolicyRead,
    responses=problem_responses(404, 422, 502, 504),
    summary="一项政策的现行版本",
)
async def get_policy(request: Request, upstreams: UpstreamsDep, policy_id: PolicyId) -> Response:
    return await upstreams.forward("policy-catalog", "GET", f"/policies/{policy_id}", request=request)


ROUTERS = [departments, enterprises, policies]
