"""policy-catalog's internal API (reached only through the gateway).

Public reads: the policies in force, one policy's version in force, its 办事指南.
Operator calls: drafting, the review lifecycle and its history. Every state change
names its operator in the `X-Actor` header until the gateway authenticates operators.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Response, status

from mianshen_shared.api import Items
from mianshen_shared.events.catalog import Payload
from mianshen_shared.problems import ProblemError
from mianshen_shared.web import CorrelationId, DbSession, RuntimeDep
from policy_catalog import guide, service
from policy_catalog.repository import PolicyRepository
from policy_catalog.schemas import (
    PolicyPublish,
    PolicyRead,
    PolicyRetire,
    PolicyReturn,
    PolicySummaryRead,
    PolicyTransitionRead,
    PolicyVersionDetailRead,
    PolicyVersionRead,
)

router = APIRouter(prefix="/policies", tags=["policies"])
PolicyId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$", description="政策编号")]
Version = Annotated[int, Path(ge=1, le=100_000, description="版本号")]
OnDate = Annotated[date | None, Query(description="查询该日（Asia/Shanghai）施行的版本，缺省为今天")]
ACTOR_HEADER = "X-Actor"
_ACTOR = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


async def get_actor(
    x_actor: Annotated[str | None, Header(alias=ACTOR_HEADER, description="操作人员编号")] = None,
) -> str:
    """The operator taking a step; required on every state change (separation of duties rests on it)."""
    if x_actor is None or not x_actor.strip():
        raise ProblemError(400, "actor_required", f"请在请求头 {ACTOR_HEADER} 中注明操作人员编号")
    if not _ACTOR.fullmatch(x_actor):
        raise ProblemError(
            400,
            "actor_invalid",
            f"请求头 {ACTOR_HEADER} 格式不正确：应为1至64位字母、数字或 . _ @ -",
            errors=[{"field": ACTOR_HEADER, "code": "string_pattern_mismatch", "message": "格式不正确"}],
        )
    return x_actor


async def get_emit(session: DbSession, runtime: RuntimeDep, correlation_id: CorrelationId) -> service.Emit:
    """Emitting writes to the outbox in the request's own transaction."""

    async def emit(payload: Payload, *, key: str) -> Any:
        return await runtime.outbox.add(session, payload, key=key, correlation_id=correlation_id)

    return emit


Emitter = Annotated[service.Emit, Depends(get_emit)]
Actor = Annotated[str, Depends(get_actor)]


def _today() -> date:
    return service.shanghai_date(datetime.now(UTC))


@router.post("", response_model=PolicyVersionDetailRead, status_code=status.HTTP_201_CREATED)
async def create_policy(
    session: DbSession, response: Response, actor: Actor, document: Annotated[dict[str, Any], Body()]
) -> PolicyVersionDetailRead:
    """Store a draft (201), or replace a draft's document (200); the same document again is a no-op (200)."""
    policy, created = await service.create_policy(
        PolicyRepository(session), document=document, actor=actor, now=datetime.now(UTC)
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return PolicyVersionDetailRead.model_validate(policy)


@router.post("/{policy_id}/versions/{version}/submit", response_model=PolicyVersionDetailRead)
async def submit_policy(
    session: DbSession, actor: Actor, policy_id: PolicyId, version: Version
) -> PolicyVersionDetailRead:
    policy = await service.submit_policy(
        PolicyRepository(session), policy_id=policy_id, version=version, actor=actor, now=datetime.now(UTC)
    )
    return PolicyVersionDetailRead.model_validate(policy)


@router.post("/{policy_id}/versions/{version}/withdraw", response_model=PolicyVersionDetailRead)
async def withdraw_submission(
    session: DbSession, actor: Actor, policy_id: PolicyId, version: Version, body: PolicyReturn
) -> PolicyVersionDetailRead:
    policy = await service.withdraw_submission(
        PolicyRepository(session),
        policy_id=policy_id,
        version=version,
        actor=actor,
        reason=body.reason,
        now=datetime.now(UTC),
    )
    return PolicyVersionDetailRead.model_validate(policy)


@router.post("/{policy_id}/versions/{version}/reject", response_model=PolicyVersionDetailRead)
async def reject_submission(
    session: DbSession, actor: Actor, policy_id: PolicyId, version: Version, body: PolicyReturn
) -> PolicyVersionDetailRead:
    policy = await service.reject_submission(
        PolicyRepository(session),
        policy_id=policy_id,
        version=version,
        actor=actor,
        reason=body.reason,
        now=datetime.now(UTC),
    )
    return PolicyVersionDetailRead.model_validate(policy)


@router.post("/{policy_id}/versions/{version}/publish", response_model=PolicyVersionDetailRead)
async def publish_policy(
    session: DbSession,
    emit: Emitter,
    actor: Actor,
    policy_id: PolicyId,
    version: Version,
    body: PolicyPublish | None = None,
) -> PolicyVersionDetailRead:
    policy = await service.publish_policy(
        PolicyRepository(session),
        policy_id=policy_id,
        version=version,
        actor=actor,
        emit=emit,
        now=datetime.now(UTC),
        effective_from=body.effective_from if body else None,
    )
    return PolicyVersionDetailRead.model_validate(policy)


@router.post("/{policy_id}/versions/{version}/retire", response_model=PolicyVersionDetailRead)
async def retire_policy(
    session: DbSession, emit: Emitter, actor: Actor, policy_id: PolicyId, version: Version, body: PolicyRetire
) -> PolicyVersionDetailRead:
    policy = await service.retire_policy(
        PolicyRepository(session),
        policy_id=policy_id,
        version=version,
        actor=actor,
        reason=body.reason,
        emit=emit,
        now=datetime.now(UTC),
    )
    return PolicyVersionDetailRead.model_validate(policy)


@router.get("", response_model=Items[PolicySummaryRead])
async def list_policies(session: DbSession, on: OnDate = None) -> Items[PolicySummaryRead]:
    policies = await service.policies_in_force(PolicyRepository(session), on=on or _today())
    return Items(items=[PolicySummaryRead.of(p) for p in policies])


@router.get("/{policy_id}", response_model=PolicyRead)
async def get_policy(session: DbSession, policy_id: PolicyId, on: OnDate = None) -> PolicyRead:
    return PolicyRead.of(await service.policy_in_force(PolicyRepository(session), policy_id, on=on or _today()))


@router.get(
    "/{policy_id}/guide",
    response_class=Response,
    responses={200: {"content": {"text/html": {}, "text/markdown": {}}, "description": "办事指南"}},
)
async def get_guide(
    session: DbSession,
    policy_id: PolicyId,
    format: Annotated[Literal["html", "markdown"], Query(description="html（缺省）或 markdown")] = "html",
    on: OnDate = None,
) -> Response:
    """办事指南 of the version in force (today, or on `on`)."""
    policy = await service.policy_in_force(PolicyRepository(session), policy_id, on=on or _today())
    if format == "markdown":
        text = guide.render_markdown(policy.document, version_effective_from=policy.effective_from)
        return Response(text, media_type="text/markdown; charset=utf-8")
    page = guide.render_html(policy.document, version_effective_from=policy.effective_from)
    return Response(page, media_type="text/html; charset=utf-8")


@router.get("/{policy_id}/versions", response_model=Items[PolicyVersionRead])
async def list_versions(session: DbSession, policy_id: PolicyId) -> Items[PolicyVersionRead]:
    versions = await service.policy_versions(PolicyRepository(session), policy_id)
    return Items(items=[PolicyVersionRead.model_validate(v) for v in versions])


@router.get("/{policy_id}/versions/{version}", response_model=PolicyVersionDetailRead)
async def get_version(session: DbSession, policy_id: PolicyId, version: Version) -> PolicyVersionDetailRead:
    return PolicyVersionDetailRead.model_validate(
        await service.policy_version(PolicyRepository(session), policy_id, version)
    )


@router.get("/{policy_id}/versions/{version}/history", response_model=Items[PolicyTransitionRead])
async def get_history(session: DbSession, policy_id: PolicyId, version: Version) -> Items[PolicyTransitionRead]:
    transitions = await service.policy_history(PolicyRepository(session), policy_id, version)
    return Items(items=[PolicyTransitionRead.model_validate(t) for t in transitions])
