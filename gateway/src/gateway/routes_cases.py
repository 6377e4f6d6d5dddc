"""The gateway's routes for 减免指令 (non-cash benefits carried out by a department)
and 回头看 recovery cases: the executing department reads and answers its
instructions, operators decide recovery cases, the enterprise reads its own.
Bodies are checked at the door; the payment service decides."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.access import Actor, Audience, access
from gateway.bootstrap import UpstreamsDep
from gateway.router import JsonBody, problem_responses
from mianshen_shared.api import Items
from mianshen_shared.web import EnterpriseUSCC

_REFERENCE = r"^[A-Za-z0-9][A-Za-z0-9._/()（）-]{0,99}$"
DepartmentCode = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{1,31}$", description="部门编码，如 gzw（市国资委）")]
InstructionStatus = Annotated[
    Literal["held", "issued", "acknowledged", "refused", "cancelled"] | None,
    Query(description="按状态筛选：issued 待办理、acknowledged 已办理、refused 已退回、cancelled 已撤销"),
]
CaseStatus = Annotated[
    Literal["open", "proposed", "recovering", "recovered", "waived"] | None,
    Query(description="按状态筛选：open 待处理、proposed 待审核、recovering 追回中、recovered 已退回、waived 免于追回"),
]
_READ_ERRORS = problem_responses(404, 422, 502, 504)
_ANSWER_ERRORS = problem_responses(400, 404, 409, 413, 415, 422, 502, 504)
_DECISION_ERRORS = problem_responses(400, 403, 404, 409, 413, 415, 422, 502, 504)


# --- request bodies ------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class InstructionAcknowledgement(_Body):
    """实施部门的办理回执。"""

    reference: str = Field(min_length=1, max_length=100, pattern=_REFERENCE, description="本部门的办理编号")
    executed_on: date = Field(description="减免实施日期（Asia/Shanghai）")
    amount_fen: int = Field(ge=0, description="实际减免金额（分），须与指令金额一致")
    note: str | None = Field(default=None, max_length=500, description="备注")


class InstructionRefusal(_Body):
    reason: str = Field(min_length=1, max_length=500, description="未予办理的原因")


class RecoveryProposal(_Body):
    action: Literal["recover", "waive"] = Field(description="recover 追回 / waive 免于追回")
    reason: str = Field(min_length=1, max_length=1000, description="理由")


class RecoveryDecision(_Body):
    reason: str = Field(min_length=1, max_length=1000, description="审核意见")


class RepaymentCreate(_Body):
    amount_fen: int = Field(gt=0, description="退回金额（分）")
    received_on: date = Field(description="到账日期（Asia/Shanghai）")
    reference: str = Field(min_length=1, max_length=100, pattern=_REFERENCE, description="银行回款流水号")


# --- what the payment service answers (mirrored, extra fields pass through) --------------------


class _Mirrored(BaseModel):
    model_config = ConfigDict(extra="allow")


class InstructionRead(_Mirrored):
    """减免指令 — a non-cash benefit the executing department carries out."""

    instruction_id: uuid.UUID
    entitlement_id: uuid.UUID
    acceptance_id: uuid.UUID | None = None
    uscc: str
    enterprise_name: str | None = None
    policy_id: str
    policy_version: int | None = None
    benefit_kind: str | None = None
    amount_fen: int = Field(description="减免金额（分）")
    amount_text: str | None = None
    executing_department: str
    status: str
    status_text: str | None = None
    reference: str | None = None
    executed_on: date | None = None
    refusal_reason: str | None = None
    cancel_reason: str | None = None
    issued_at: datetime | None = None
    answered_at: datetime | None = None


class RecoveryEntryRead(_Mirrored):
    action: str
    actor: str
    reason: str
    detail: dict[str, Any] = Field(default_factory=dict)
    at: datetime


class RepaymentRead(_Mirrored):
    reference: str
    amount_fen: int
    received_on: date
    recorded_by: str | None = None
    journal_id: str | None = None
    recorded_at: datetime | None = None


class RecoveryCaseRead(_Mirrored):
    """回头看追回案件：多付金额、依据、处理意见与全部经过。"""

    case_id: uuid.UUID
    entitlement_id: uuid.UUID
    payment_id: uuid.UUID | None = None
    uscc: str | None = None
    policy_id: str
    paid_fen: int
    due_fen: int
    overpaid_fen: int
    recovered_fen: int
    reason: str
    explanation: dict[str, Any] | None = None
    status: str
    status_text: str
    proposed_action: str | None = None
    proposed_by: str | None = None
    decided_by: str | None = None
    history: list[RecoveryEntryRead] = Field(default_factory=list)
    repayments: list[RepaymentRead] = Field(default_factory=list)


class EnterpriseRecoveryCaseRead(_Mirrored):
    """企业看到的追回案件。"""

    case_id: uuid.UUID
    entitlement_id: uuid.UUID
    policy_id: str
    paid_fen: int
    due_fen: int
    overpaid_fen: int
    overpaid_text: str | None = None
    recovered_fen: int
    reason: str
    explanation: dict[str, Any] | None = None
    status: str
    status_text: str


# --- departments -------------------------------------------------------------------------------

departments = APIRouter(prefix="/v1/departments", tags=["departments"], dependencies=[access(Audience.department)])


@departments.get(
    "/{department}/instructions",
    response_model=Items[InstructionRead],
    responses=_READ_ERRORS,
    summary="本部门收到的减免指令",
)
async def department_instructions(
    request: Request, upstreams: UpstreamsDep, department: DepartmentCode, status: InstructionStatus = None
) -> Response:
    params: dict[str, str] | None = {"status": status} if status else None
    path = f"/departments/{department}/instructions"
    return await upstreams.forward("payment", "GET", path, request=request, params=params)


@departments.post(
    "/{department}/instructions/{instruction_id}/acknowledgement",
    response_model=InstructionRead,
    responses=_ANSWER_ERRORS,
    dependencies=[JsonBody],
    summary="回执：减免已办理（同一回执重复提交结果相同）",
)
async def acknowledge_instruction(
    request: Request,
    upstreams: UpstreamsDep,
    department: DepartmentCode,
    instruction_id: uuid.UUID,
    body: InstructionAcknowledgement,
) -> Response:
    path = f"/departments/{department}/instructions/{instruction_id}/acknowledgement"
    return await upstreams.forward("payment", "POST", path, request=request, json=body.model_dump(mode="json"))


@departments.post(
    "/{department}/instructions/{instruction_id}/refusal",
    response_model=InstructionRead,
    responses=_ANSWER_ERRORS,
    dependencies=[JsonBody],
    summary="退回：不能办理该减免（注明原因）",
)
async def refuse_instruction(
    request: Request,
    upstreams: UpstreamsDep,
    department: DepartmentCode,
    instruction_id: uuid.UUID,
    body: InstructionRefusal,
) -> Response:
    path = f"/departments/{department}/instructions/{instruction_id}/refusal"
    return await upstreams.forward("payment", "POST", path, request=request, json=body.model_dump(mode="json"))


# --- operators ---------------------------------------------------------------------------------

operators = APIRouter(prefix="/v1/operator", tags=["operators"], dependencies=[access(Audience.operator)])


@operators.get(
    "/instructions", response_model=Items[InstructionRead], responses=_READ_ERRORS, summary="减免指令（含被退回的）"
)
async def all_instructions(request: Request, upstreams: UpstreamsDep, status: InstructionStatus = None) -> Response:
    params: dict[str, str] | None = {"status": status} if status else None
    return await upstreams.forward("payment", "GET", "/instructions", request=request, params=params)


@operators.get(
    "/recovery-cases", response_model=Items[RecoveryCaseRead], responses=_READ_ERRORS, summary="回头看追回案件"
)
async def recovery_cases(request: Request, upstreams: UpstreamsDep, status: CaseStatus = None) -> Response:
    params: dict[str, str] | None = {"status": status} if status else None
    return await upstreams.forward("payment", "GET", "/recovery-cases", request=request, params=params)


@operators.get(
    "/recovery-cases/{case_id}",
    response_model=RecoveryCaseRead,
    responses=_READ_ERRORS,
    summary="追回案件详情：依据、处理意见、回款与全部经过",
)
async def recovery_case(request: Request, upstreams: UpstreamsDep, case_id: uuid.UUID) -> Response:
    return await upstreams.forward("payment", "GET", f"/recovery-cases/{case_id}", request=request)


async def _step(
    request: Request, upstreams: UpstreamsDep, actor: str, case_id: uuid.UUID, step: str, body: Any
) -> Response:
    path = f"/recovery-cases/{case_id}/{step}"
    return await upstreams.forward("payment", "POST", path, request=request, json=body, actor=actor)


@operators.post(
    "/recovery-cases/{case_id}/proposal",
    response_model=RecoveryCaseRead,
    responses=_DECISION_ERRORS,
    dependencies=[JsonBody],
    summary="提出处理意见：追回或免于追回（须由另一人审核）",
)
async def propose(
    request: Request, upstreams: UpstreamsDep, actor: Actor, case_id: uuid.UUID, body: RecoveryProposal
) -> Response:
    return await _step(request, upstreams, actor, case_id, "proposal", body.model_dump(mode="json"))


@operators.post(
    "/recovery-cases/{case_id}/approval",
    response_model=RecoveryCaseRead,
    responses=_DECISION_ERRORS,
    dependencies=[JsonBody],
    summary="审核通过处理意见（提出人不能审核自己的意见）",
)
async def approve(
    request: Request, upstreams: UpstreamsDep, actor: Actor, case_id: uuid.UUID, body: RecoveryDecision
) -> Response:
    return await _step(request, upstreams, actor, case_id, "approval", body.model_dump(mode="json"))


@operators.post(
    "/recovery-cases/{case_id}/rejection",
    response_model=RecoveryCaseRead,
    responses=_DECISION_ERRORS,
    dependencies=[JsonBody],
    summary="退回处理意见，案件重新待处理",
)
async def reject(
    request: Request, upstreams: UpstreamsDep, actor: Actor, case_id: uuid.UUID, body: RecoveryDecision
) -> Response:
    return await _step(request, upstreams, actor, case_id, "rejection", body.model_dump(mode="json"))


@operators.post(
    "/recovery-cases/{case_id}/repayments",
    response_model=RecoveryCaseRead,
    responses=_DECISION_ERRORS,
    dependencies=[JsonBody],
    summary="登记企业退回的资金（按流水号只登记一次）",
)
async def record_repayment(
    request: Request, upstreams: UpstreamsDep, actor: Actor, case_id: uuid.UUID, body: RepaymentCreate
) -> Response:
    return await _step(request, upstreams, actor, case_id, "repayments", body.model_dump(mode="json"))


# --- enterprises -------------------------------------------------------------------------------

enterprises = APIRouter(prefix="/v1/enterprises", tags=["enterprises"], dependencies=[access(Audience.enterprise)])


@enterprises.get(
    "/{uscc}/recovery-cases",
    response_model=Items[EnterpriseRecoveryCaseRead],
    responses=_READ_ERRORS,
    summary="回头看：多付待退回的资金及处理进度",
)
async def enterprise_recovery_cases(request: Request, upstreams: UpstreamsDep, uscc: EnterpriseUSCC) -> Response:
    return await upstreams.forward("payment", "GET", f"/enterprises/{uscc}/recovery-cases", request=request)


@enterprises.get(
    "/{uscc}/instructions",
    response_model=Items[InstructionRead],
    responses=_READ_ERRORS,
    summary="企业的减免待遇（已通知实施部门的减免指令及办理结果）",
)
async def enterprise_instructions(request: Request, upstreams: UpstreamsDep, uscc: EnterpriseUSCC) -> Response:
    return await upstreams.forward("payment", "GET", f"/enterprises/{uscc}/instructions", request=request)


ROUTERS = [departments, operators, enterprises]
