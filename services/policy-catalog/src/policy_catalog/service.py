"""政策库 — the catalogue of structured policy documents.

A document enters as a draft once it compiles; publishing announces it on the
`policies` topic (through the outbox, in the same transaction) so 数据比对 starts
applying it; retiring announces that it no longer applies. A stored version's
document never changes: a revised policy is a new version.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from pydantic_core import to_jsonable_python

from mianshen_shared import rules
from mianshen_shared.events.catalog import Payload, PolicyPublished, PolicyRetired
from mianshen_shared.problems import ProblemError
from policy_catalog.models import PolicyVersion

Emit = Callable[..., Awaitable[Any]]  # emit(payload, *, key=...) inside the caller's transaction


class Repository(Protocol):
    async def get(self, policy_id: str, version: int) -> PolicyVersion | None: ...
    async def add(self, policy: PolicyVersion) -> None: ...
    async def versions(self, policy_id: str) -> list[PolicyVersion]: ...
    async def in_force(self, policy_id: str | None = None) -> list[PolicyVersion]: ...


def normalise(document: dict[str, Any]) -> dict[str, Any]:
    """The document as it will be stored and sent: plain JSON (YAML dates become ISO strings)."""
    plain = to_jsonable_python(document)
    if not isinstance(plain, dict):
        raise ProblemError(422, "policy_invalid", "政策文件应为JSON对象", errors=["<root>: 应为对象"])
    return plain


def compile_document(document: dict[str, Any]) -> rules.CompiledPolicy:
    try:
        return rules.compile_policy(document)
    except rules.PolicyInvalid as exc:
        raise ProblemError(422, "policy_invalid", "政策文件不合法", errors=list(exc.errors)) from exc


async def create_policy(repo: Repository, *, document: dict[str, Any], now: datetime) -> tuple[PolicyVersion, bool]:
    """Store a draft; returns the stored version and whether it is new.

    Resubmitting the identical document is a no-op; a different document under an
    existing id and version is refused, since published facts may rest on it.
    """
    document = normalise(document)
    compiled = compile_document(document)
    existing = await repo.get(compiled.id, compiled.version)
    if existing is not None:
        if existing.document != document:
            raise ProblemError(
                409,
                "policy_version_conflict",
                f"政策 {compiled.id} 第 {compiled.version} 版已存在且内容不同；修订政策请提交新版本",
            )
        return existing, False
    policy = PolicyVersion(
        policy_id=compiled.id,
        version=compiled.version,
        status="draft",
        title=compiled.title,
        benefit_kind=compiled.benefit_kind,
        document=document,
        created_at=now,
    )
    await repo.add(policy)
    return policy, True


async def _existing(repo: Repository, policy_id: str, version: int) -> PolicyVersion:
    policy = await repo.get(policy_id, version)
    if policy is None:
        raise ProblemError(404, "policy_not_found", f"政策 {policy_id} 第 {version} 版不存在")
    return policy


async def publish_policy(repo: Repository, *, policy_id: str, version: int, emit: Emit, now: datetime) -> PolicyVersion:
    """Publish a draft. Publishing an already published version changes nothing and emits nothing."""
    policy = await _existing(repo, policy_id, version)
    if policy.status == "published":
        return policy
    if policy.status == "retired":
        raise ProblemError(409, "policy_retired", f"政策 {policy_id} 第 {version} 版已废止，不能再发布")
    policy.status = "published"
    policy.published_at = now
    event: Payload = PolicyPublished(
        policy_id=policy.policy_id,
        version=policy.version,
        title=policy.title,
        document=policy.document,
        published_at=now,
    )
    await emit(event, key=policy.policy_id)
    return policy


async def retire_policy(
    repo: Repository, *, policy_id: str, version: int, reason: str, emit: Emit, now: datetime
) -> PolicyVersion:
    """Retire a version. Only a published version was ever applied, so only its retirement is announced."""
    policy = await _existing(repo, policy_id, version)
    if policy.status == "retired":
        return policy
    was_published = policy.status == "published"
    policy.status = "retired"
    policy.retired_at = now
    policy.retired_reason = reason
    if was_published:
        event: Payload = PolicyRetired(policy_id=policy_id, version=version, retired_at=now, reason=reason)
        await emit(event, key=policy_id)
    return policy


async def policies_in_force(repo: Repository) -> list[PolicyVersion]:
    return await repo.in_force()


async def policy_in_force(repo: Repository, policy_id: str) -> PolicyVersion:
    found = await repo.in_force(policy_id)
    if not found:
        raise ProblemError(404, "policy_not_found", f"政策 {policy_id} 不存在或未发布")
    return found[0]


async def policy_versions(repo: Repository, policy_id: str) -> list[PolicyVersion]:
    versions = await repo.versions(policy_id)
    if not versions:
        raise ProblemError(404, "policy_not_found", f"政策 {policy_id} 不存在")
    return versions
