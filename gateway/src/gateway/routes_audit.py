"""The audit log, read by auditors: GET /v1/operator/audit.

Answered by the gateway itself from its own database. Reading the log is itself
recorded (gateway.audit), so who looked at whose traces is on the chain too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict

from gateway import audit
from gateway.access import Audience, access
from gateway.bootstrap import GatewayDep
from gateway.principal import principal_of
from gateway.router import problem_responses
from mianshen_shared.problems import ProblemError

AUDIT_READ_SCOPE = "audit:read"
MAX_PAGE = 100


class AuditRecordRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    recorded_at: AwareDatetime
    client_id: str
    principal_kind: str
    actor: str
    department: str | None
    enterprise: str | None
    method: str
    route: str
    path: str
    query: str
    uscc: str | None
    status: int
    problem_code: str | None
    request_id: str
    client_ip: str | None
    # The audit key the hash is an HMAC under (null: a record from before keyed chains).
    key_id: str | None
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditRecordRead]
    # Pass as `after` to read on; null when this page was the last.
    next_after: int | None


async def require_auditor(request: Request) -> None:
    if not principal_of(request).has_scope(AUDIT_READ_SCOPE):
        raise ProblemError(403, "insufficient_scope", "需要审计员权限（audit:read）才能查阅审计日志")


audit_router = APIRouter(
    prefix="/v1/operator",
    tags=["operators"],
    dependencies=[access(Audience.operator), Depends(require_auditor)],
)


@audit_router.get(
    "/audit",
    response_model=AuditPage,
    responses=problem_responses(403, 422),
    summary="查阅审计日志（审计员）：按时间、调用方筛选，按链上顺序分页",
)
async def read_audit_log(
    gateway: GatewayDep,
    recorded_from: Annotated[AwareDatetime | None, Query(alias="from", description="起始时间（含），带时区")] = None,
    recorded_to: Annotated[AwareDatetime | None, Query(alias="to", description="截止时间（不含），带时区")] = None,
    client_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9:._-]{0,127}$")] = None,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="上一页最后一条记录的 seq")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> AuditPage:
    if recorded_from is not None and recorded_to is not None and recorded_from >= recorded_to:
        raise ProblemError(422, "invalid_time_range", "起始时间应早于截止时间")
    assert gateway.sessions is not None, "the gateway's lifespan has not started"
    async with gateway.sessions() as session:
        rows = await audit.search(
            session,
            recorded_from=recorded_from,
            recorded_to=recorded_to,
            client_id=client_id,
            after_seq=after,
            limit=limit + 1,
        )
    page = rows[:limit]
    return AuditPage(
        items=[AuditRecordRead.model_validate(audit.readable(row)) for row in page],
        next_after=page[-1].seq if len(rows) > limit else None,
    )


ROUTERS = [audit_router]
