"""policy-catalog's internal API (reached only through the gateway)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Response, status

from mianshen_shared.api import Items
from mianshen_shared.events.catalog import Payload
from mianshen_shared.web import CorrelationId, DbSession, RuntimeDep
from policy_catalog import service
from policy_catalog.repository import PolicyRepository
from policy_catalog.schemas import PolicyRead, PolicyRetire, PolicySummaryRead, PolicyVersionRead

router = APIRouter(prefix="/policies", tags=["policies"])
PolicyId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$", description="政策编号")]
Version = Annotated[int, Path(ge=1, le=100_000, description="版本号")]


def get_emit(session: DbSession, runtime: RuntimeDep, correlation_id: CorrelationId) -> service.Emit:
    """Emitting writes to the outbox in the request's own transaction."""

    async def emit(payload: Payload, *, key: str) -> Any:
        return await runtime.outbox.add(session, payload, key=key, correlation_id=correlation_id)

    return emit


Emitter = Annotated[service.Emit, Depends(get_emit)]


@router.post("", response_model=PolicyRead, status_code=status.HTTP_201_CREATED)
async def create_policy(
    session: DbSession, response: Response, document: Annotated[dict[str, Any], Body()]
) -> PolicyRead:
    policy, created = await service.create_policy(PolicyRepository(session), document=document, now=datetime.now(UTC))
    if not created:
        response.status_code = status.HTTP_200_OK
    return PolicyRead.of(policy)


@router.post("/{policy_id}/versions/{version}/publish", response_model=PolicyRead)
async def publish_policy(session: DbSession, emit: Emitter, policy_id: PolicyId, version: Version) -> PolicyRead:
    policy = await service.publish_policy(
        PolicyRepository(session), policy_id=policy_id, version=version, emit=emit, now=datetime.now(UTC)
    )
    return PolicyRead.of(policy)


@router.post("/{policy_id}/versions/{version}/retire", response_model=PolicyRead)
async def retire_policy(
    session: DbSession, emit: Emitter, policy_id: PolicyId, version: Version, body: PolicyRetire
) -> PolicyRead:
    policy = await service.retire_policy(
        PolicyRepository(session),
        policy_id=policy_id,
        version=version,
        reason=body.reason,
        emit=emit,
        now=datetime.now(UTC),
    )
    return PolicyRead.of(policy)


@router.get("", response_model=Items[PolicySummaryRead])
async def list_policies(session: DbSession) -> Items[PolicySummaryRead]:
    return Items(items=[PolicySummaryRead.of(p) for p in await service.policies_in_force(PolicyRepository(session))])


@router.get("/{policy_id}", response_model=PolicyRead)
async def get_policy(session: DbSession, policy_id: PolicyId) -> PolicyRead:
    return PolicyRead.of(await service.policy_in_force(PolicyRepository(session), policy_id))


@router.get("/{policy_id}/versions", response_model=Items[PolicyVersionRead])
async def list_versions(session: DbSession, policy_id: PolicyId) -> Items[PolicyVersionRead]:
    versions = await service.policy_versions(PolicyRepository(session), policy_id)
    return Items(items=[PolicyVersionRead.model_validate(v) for v in versions])
