"""The gateway's /v1 API. Thin: validate at the door, then publish or forward.

Each router declares its audience (see access.py), so access control lands on
every route of it at once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from gateway import service
from gateway.access import Actor, Audience, access
from gateway.bootstrap import GatewayDep, UpstreamsDep
from gateway.schemas import (
    AssessmentRead,
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
    FeedDepartmentRead,
    FeedOverdueRead,
    FeedOverviewRead,
    PaymentRead,
    PerformanceRead,
    PolicyPublish,
    PolicyRead,
    PolicySummaryRead,
    PolicyVersionDetailRead,
    Problem,
    ReevaluationCreate,
    ReevaluationPage,
    ReevaluationRead,
    TransitionRead,
    TransitionReason,
)
from mianshen_shared.api import Items, Offset
from mianshen_shared.problems import ProblemError
from mianshen_shared.web import CorrelationId, EnterpriseUSCC

_PROBLEM_DESCRIPTIONS = {
    400: "请求体不是合法的JSON（malformed_json）",
    403: "无权执行该操作（如违反职责分离：编辑或提交者不能发布）",
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


async def require_json(request: Request) -> None:
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
    payload = body.model_dump(mode="json", exclude_none=True)
    return await upstreams.forward("confirmation", "POST", path, request=request, json=payload)


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
    "/{uscc}/policies/{policy_id}/assessment",
    response_model=AssessmentRead,
    responses=_READ_ERRORS,
    summary="一项政策对本企业的比对说明（为什么符合或不符合）",
)
async def assess_policy(
    request: Request, upstreams: UpstreamsDep, uscc: EnterpriseUSCC, policy_id: PolicyId
) -> Response:
    path = f"/enterprises/{uscc}/policies/{policy_id}/assessment"
    return await upstreams.forward("eligibility", "GET", path, request=request)


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


GuideFormat = Annotated[
    str, Query(pattern=r"^(html|markdown)$", description="html（缺省，可打印的完整页面）或 markdown")
]
_GUIDE_CONTENT = {
    "description": "办事指南：HTML 页面（text/html）或 Markdown（text/markdown），中文",
    "content": {"text/html": {"schema": {"type": "string"}}, "text/markdown": {"schema": {"type": "string"}}},
}


@policies.get(
    "/{policy_id}/guide",
    response_class=Response,
    responses={200: _GUIDE_CONTENT, **problem_responses(404, 422, 502, 504)},
    summary="一项政策的办事指南（现行版本）",
)
async def get_policy_guide(
    request: Request, upstreams: UpstreamsDep, policy_id: PolicyId, format: GuideFormat = "html"
) -> Response:
    path = f"/policies/{policy_id}/guide"
    return await upstreams.forward("policy-catalog", "GET", path, request=request, params={"format": format})


# --- operators (policy clerks, publishers, the operations team) -----------------------

operators = APIRouter(prefix="/v1/operator", tags=["operators"], dependencies=[access(Audience.operator)])
Version = Annotated[int, Path(ge=1, le=100_000, description="版本号")]
_CHANGE_ERRORS = problem_responses(400, 403, 404, 409, 413, 415, 422, 502, 504)


@operators.post(
    "/policies",
    response_model=PolicyVersionDetailRead,
    status_code=201,
    responses=_CHANGE_ERRORS,
    dependencies=[JsonBody],
    summary="新建或修改政策草稿（政策文档）",
)
async def create_policy_draft(
    request: Request, upstreams: UpstreamsDep, actor: Actor, document: Annotated[dict[str, Any], Body()]
) -> Response:
    return await upstreams.forward("policy-catalog", "POST", "/policies", request=request, json=document, actor=actor)


async def _transition(
    request: Request, upstreams: UpstreamsDep, actor: str, policy_id: str, version: int, step: str, body: Any
) -> Response:
    path = f"/policies/{policy_id}/versions/{version}/{step}"
    return await upstreams.forward("policy-catalog", "POST", path, request=request, json=body, actor=actor)


@operators.post(
    "/policies/{policy_id}/versions/{version}/submit",
    response_model=PolicyVersionDetailRead,
    responses=_CHANGE_ERRORS,
    summary="提交审核：校验文档、编译规则、运行文档内的测试用例",
)
async def submit_policy(
    request: Request, upstreams: UpstreamsDep, actor: Actor, policy_id: PolicyId, version: Version
) -> Response:
    return await _transition(request, upstreams, actor, policy_id, version, "submit", None)


@operators.post(
    "/policies/{policy_id}/versions/{version}/withdraw",
    response_model=PolicyVersionDetailRead,
    responses=_CHANGE_ERRORS,
    dependencies=[JsonBody],
    summary="撤回提交，退回草稿",
)
async def withdraw_policy(
    request: Request,
    upstreams: UpstreamsDep,
    actor: Actor,
    policy_id: PolicyId,
    version: Version,
    body: TransitionReason,
) -> Response:
    return await _transition(request, upstreams, actor, policy_id, version, "withdraw", body.model_dump())


@operators.post(
    "/policies/{policy_id}/versions/{version}/reject",
    response_model=PolicyVersionDetailRead,
    responses=_CHANGE_ERRORS,
    dependencies=[JsonBody],
    summary="审核退回，退回草稿",
)
async def reject_policy(
    request: Request,
    upstreams: UpstreamsDep,
    actor: Actor,
    policy_id: PolicyId,
    version: Version,
    body: TransitionReason,
) -> Response:
    return await _transition(request, upstreams, actor, policy_id, version, "reject", body.model_dump())


@operators.post(
    "/policies/{policy_id}/versions/{version}/publish",
    response_model=PolicyVersionDetailRead,
    responses=_CHANGE_ERRORS,
    dependencies=[JsonBody],
    summary="发布（编辑或提交该版本的人员不能发布）",
)
async def publish_policy(
    request: Request,
    upstreams: UpstreamsDep,
    actor: Actor,
    policy_id: PolicyId,
    version: Version,
    body: PolicyPublish,
) -> Response:
    payload = body.model_dump(mode="json", exclude_none=True)
    return await _transition(request, upstreams, actor, policy_id, version, "publish", payload)


@operators.post(
    "/policies/{policy_id}/versions/{version}/retire",
    response_model=PolicyVersionDetailRead,
    responses=_CHANGE_ERRORS,
    dependencies=[JsonBody],
    summary="废止（兑现前撤回不再符合的待遇）",
)
async def retire_policy(
    request: Request,
    upstreams: UpstreamsDep,
    actor: Actor,
    policy_id: PolicyId,
    version: Version,
    body: TransitionReason,
) -> Response:
    return await _transition(request, upstreams, actor, policy_id, version, "retire", body.model_dump())


@operators.get(
    "/policies/{policy_id}/versions",
    response_model=Items[PolicyVersionDetailRead],
    responses=_READ_ERRORS,
    summary="政策的全部版本及经办人员",
)
async def list_policy_versions(request: Request, upstreams: UpstreamsDep, policy_id: PolicyId) -> Response:
    return await upstreams.forward("policy-catalog", "GET", f"/policies/{policy_id}/versions", request=request)


@operators.get(
    "/policies/{policy_id}/versions/{version}/history",
    response_model=Items[TransitionRead],
    responses=_READ_ERRORS,
    summary="一个版本的流转记录（谁、何时、做了什么）",
)
async def policy_version_history(
    request: Request, upstreams: UpstreamsDep, policy_id: PolicyId, version: Version
) -> Response:
    path = f"/policies/{policy_id}/versions/{version}/history"
    return await upstreams.forward("policy-catalog", "GET", path, request=request)


@operators.get(
    "/reevaluations",
    response_model=ReevaluationPage,
    responses=_READ_ERRORS,
    summary="重新比对任务及进度（最新在前）",
)
async def list_reevaluations(
    request: Request,
    upstreams: UpstreamsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Offset = 0,
) -> Response:
    params = {"limit": str(limit), "offset": str(offset)}
    return await upstreams.forward("eligibility", "GET", "/reevaluations", request=request, params=params)


@operators.get(
    "/reevaluations/{job_id}",
    response_model=ReevaluationRead,
    responses=_READ_ERRORS,
    summary="一个重新比对任务的进度",
)
async def get_reevaluation(request: Request, upstreams: UpstreamsDep, job_id: uuid.UUID) -> Response:
    return await upstreams.forward("eligibility", "GET", f"/reevaluations/{job_id}", request=request)


@operators.post(
    "/reevaluations",
    response_model=ReevaluationRead,
    status_code=202,
    responses=_CHANGE_ERRORS,
    dependencies=[JsonBody],
    summary="对一项政策重新比对全部企业（如部门更正数据后）",
)
async def start_reevaluation(
    request: Request, upstreams: UpstreamsDep, actor: Actor, body: ReevaluationCreate
) -> Response:
    return await upstreams.forward(
        "eligibility", "POST", "/reevaluations", request=request, json=body.model_dump(), actor=actor
    )


@operators.get(
    "/enterprises/{uscc}/policies/{policy_id}/assessment",
    response_model=AssessmentRead,
    responses=_READ_ERRORS,
    summary="任一企业在一项政策下的比对说明（供核查）",
)
async def operator_assessment(
    request: Request, upstreams: UpstreamsDep, uscc: EnterpriseUSCC, policy_id: PolicyId
) -> Response:
    path = f"/enterprises/{uscc}/policies/{policy_id}/assessment"
    return await upstreams.forward("eligibility", "GET", path, request=request)


# --- 绩效评估 and data-feed supervision --------------------------------------------------

PerformanceFrom = Annotated[date | None, Query(alias="from", description="起始日期（含），缺省为本年1月1日")]
PerformanceTo = Annotated[date | None, Query(alias="to", description="截止日期（含），缺省为今天")]
StuckDays = Annotated[int, Query(ge=1, le=365, description="超过多少天无进展视为滞留")]
_REPORT_CONTENT = {
    "description": "绩效评估报告：CSV（text/csv，UTF-8 带 BOM）或可打印的 HTML 页面（text/html）",
    "content": {"text/csv": {"schema": {"type": "string"}}, "text/html": {"schema": {"type": "string"}}},
}


def _performance_params(start: date | None, end: date | None, policy_id: str | None, stuck_days: int) -> dict[str, str]:
    params = {"stuck_days": str(stuck_days)}
    if start is not None:
        params["from"] = start.isoformat()
    if end is not None:
        params["to"] = end.isoformat()
    if policy_id is not None:
        params["policy_id"] = policy_id
    return params


@operators.get(
    "/performance",
    response_model=PerformanceRead,
    responses=_READ_ERRORS,
    summary="绩效评估：按政策、按期间的比对、确认、兑现、享受率与时效",
)
async def performance(
    request: Request,
    upstreams: UpstreamsDep,
    start: PerformanceFrom = None,
    end: PerformanceTo = None,
    policy_id: Annotated[str | None, Query(max_length=120)] = None,
    stuck_days: StuckDays = 7,
) -> Response:
    params = _performance_params(start, end, policy_id, stuck_days)
    return await upstreams.forward("confirmation", "GET", "/performance", request=request, params=params)


@operators.get(
    "/performance/report",
    response_class=Response,
    responses={200: _REPORT_CONTENT, **_READ_ERRORS},
    summary="下载绩效评估报告（csv 或可打印的 html）",
)
async def performance_report(
    request: Request,
    upstreams: UpstreamsDep,
    format: Annotated[str, Query(pattern=r"^(csv|html)$", description="csv 或 html")] = "html",
    start: PerformanceFrom = None,
    end: PerformanceTo = None,
    policy_id: Annotated[str | None, Query(max_length=120)] = None,
    stuck_days: StuckDays = 7,
) -> Response:
    params = _performance_params(start, end, policy_id, stuck_days)
    return await upstreams.forward("confirmation", "GET", f"/performance.{format}", request=request, params=params)


@operators.get("/feeds", response_model=FeedOverviewRead, responses=_READ_ERRORS, summary="各部门数据推送情况（督办）")
async def feeds(request: Request, upstreams: UpstreamsDep) -> Response:
    return await upstreams.forward("eligibility", "GET", "/feeds", request=request)


@operators.get(
    "/feeds/overdue",
    response_model=FeedOverdueRead,
    responses=_READ_ERRORS,
    summary="未按约定推送数据的部门（通报清单）",
)
async def feeds_overdue(request: Request, upstreams: UpstreamsDep) -> Response:
    return await upstreams.forward("eligibility", "GET", "/feeds/overdue", request=request)


@operators.get(
    "/feeds/{department}",
    response_model=FeedDepartmentRead,
    responses=_READ_ERRORS,
    summary="一个部门最近90天的逐日推送量与拒收原因",
)
async def feed_of(
    request: Request,
    upstreams: UpstreamsDep,
    department: Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,31}$", description="部门代码")],
) -> Response:
    return await upstreams.forward("eligibility", "GET", f"/feeds/{department}", request=request)


ROUTERS = [departments, enterprises, policies, operators]
