"""政策库 — the catalogue of structured policy documents and each version's lifecycle.

    draft ──submit──▶ submitted ──publish──▶ published ──retire──▶ retired
      ▲                  │
      └─withdraw/reject──┘

A document enters as a draft once it compiles, and may be replaced while it is a
draft. Submitting freezes it: the catalogue compiles it again and runs the test
cases written inside it, and a document whose cases fail stays a draft. Publishing
— by someone who neither edited nor submitted that version (separation of duties)
— fixes the day it takes effect; retiring ends it. Every step names its actor and is
kept in the version's history (`policy_transitions`).

Announcing waits for that day. Eligibility applies every `policy.published` it
receives at once, replacing the version it held, and keeps no calendar of its own;
the catalogue is the one place that knows from which day a version counts. So a
version taking effect today is announced on `policies` through the outbox in the
publishing transaction, and one taking effect later stays published but unannounced
(`announced_at` empty) until the announcer (announcer.py) finds its day has come.
A version retired before it took effect is never announced, and its retirement is
not announced either: nobody applied it.

In force on a day D: among the versions ever published whose effective date is on
or before D (leaving out any retired before it took effect), the newest one — if it
had not been retired by D. Retiring the newest version takes the policy out of force
rather than reviving an older one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from pydantic_core import to_jsonable_python

import mianshen_shared.rules as rules
from mianshen_shared.events.catalog import Payload, PolicyPublished, PolicyRetired
from mianshen_shared.problems import ProblemError
from policy_catalog.models import PolicyAction, PolicyStatus, PolicyTransition, PolicyVersion

Emit = Callable[..., Awaitable[Any]]  # emit(payload, *, key=...) inside the caller's transaction
SHANGHAI = ZoneInfo("Asia/Shanghai")
SEPARATION_OF_DUTIES = "编辑或提交该政策的人员不能发布该政策"
STATUS_NAMES = {
    PolicyStatus.DRAFT: "草稿",
    PolicyStatus.SUBMITTED: "待审核",
    PolicyStatus.PUBLISHED: "已发布",
    PolicyStatus.RETIRED: "已废止",
}
# Whoever took one of these steps on a version wrote what would be published.
_AUTHORING = frozenset({PolicyAction.CREATE, PolicyAction.EDIT, PolicyAction.SUBMIT})


class Repository(Protocol):
    async def get(self, policy_id: str, version: int) -> PolicyVersion | None: ...
    async def add(self, policy: PolicyVersion) -> None: ...
    async def versions(self, policy_id: str) -> list[PolicyVersion]: ...
    async def in_force(self, on: date, policy_id: str | None = None) -> list[PolicyVersion]: ...
    async def next_due_announcement(self, today: date) -> PolicyVersion | None: ...
    async def add_transition(self, transition: PolicyTransition) -> None: ...
    async def transitions(self, policy_id: str, version: int) -> list[PolicyTransition]: ...


def as_utc(moment: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they were stored in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def shanghai_date(moment: datetime) -> date:
    return as_utc(moment).astimezone(SHANGHAI).date()


def normalise(document: dict[str, Any]) -> dict[str, Any]:
    """The document as it will be stored and sent: plain JSON (YAML dates become ISO strings)."""
    plain = to_jsonable_python(document)
    if not isinstance(plain, dict):
        raise ProblemError(422, "policy_invalid", "政策文件应为JSON对象", errors=field_errors(["<root>: 应为对象"]))
    return plain


def compile_document(document: dict[str, Any]) -> rules.CompiledPolicy:
    try:
        return rules.compile_policy(document)
    except rules.PolicyInvalid as exc:
        raise ProblemError(422, "policy_invalid", "政策文件不合法", errors=field_errors(exc.errors)) from exc


def field_errors(lines: Iterable[str]) -> list[dict[str, str]]:
    """The compiler's and the case runner's "<path>: <fault>" lines in the shape every
    problem answer gives its field errors, so a client reads one format everywhere."""
    out = []
    for line in lines:
        path, sep, fault = line.partition(": ")
        out.append(
            {"field": path, "code": "policy_invalid", "message": fault}
            if sep
            else {"field": "<document>", "code": "policy_invalid", "message": line}
        )
    return out


def submission_errors(document: dict[str, Any]) -> list[str]:
    """Everything that keeps a document from being submitted: schema, CEL and city
    faults, then every failing test case written in the document."""
    try:
        compiled = rules.compile_policy(document)
    except rules.PolicyInvalid as exc:
        return list(exc.errors)
    try:
        return list(rules.run_cases(compiled))
    except rules.PolicyEvaluationError as exc:
        return [f"cases: {exc}"]


def _label(policy: PolicyVersion) -> str:
    return f"政策 {policy.policy_id} 第 {policy.version} 版"


def _status_name(policy: PolicyVersion) -> str:
    return STATUS_NAMES[PolicyStatus(policy.status)]


def status_text(status: str, *, effective_from: date | None, announced_at: datetime | None) -> str:
    """The version's status as an operator reads it; a published version still waiting
    for its day says which day that is."""
    name = STATUS_NAMES[PolicyStatus(status)]
    if status == PolicyStatus.PUBLISHED and announced_at is None and effective_from is not None:
        return f"{name}，{effective_from.isoformat()}起施行"
    return name


async def _move(
    repo: Repository,
    policy: PolicyVersion,
    *,
    action: PolicyAction,
    to: PolicyStatus,
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> None:
    """Change the version's status and write the step into its history."""
    transition = PolicyTransition(
        policy_id=policy.policy_id,
        version=policy.version,
        action=action.value,
        from_status=policy.status,
        to_status=to.value,
        actor=actor,
        at=now,
        reason=reason,
    )
    policy.status = to.value
    await repo.add_transition(transition)


async def create_policy(
    repo: Repository, *, document: dict[str, Any], actor: str, now: datetime
) -> tuple[PolicyVersion, bool]:
    """Store a draft, or replace the document of a version that is still a draft;
    returns the stored version and whether it is new.

    Sending the identical document again is a no-op. Once a version has been
    submitted its document is frozen: a different one under the same id and version
    is refused, since a review or published facts may rest on it.
    """
    document = normalise(document)
    compiled = compile_document(document)
    existing = await repo.get(compiled.id, compiled.version)
    if existing is None:
        policy = PolicyVersion(
            policy_id=compiled.id,
            version=compiled.version,
            status=PolicyStatus.DRAFT.value,
            title=compiled.title,
            benefit_kind=compiled.benefit_kind,
            document=document,
            created_at=now,
            created_by=actor,
        )
        await repo.add(policy)
        await repo.add_transition(
            PolicyTransition(
                policy_id=policy.policy_id,
                version=policy.version,
                action=PolicyAction.CREATE.value,
                from_status=None,
                to_status=PolicyStatus.DRAFT.value,
                actor=actor,
                at=now,
            )
        )
        return policy, True
    if existing.document == document:
        return existing, False
    if existing.status != PolicyStatus.DRAFT:
        raise ProblemError(
            409,
            "policy_version_conflict",
            f"{_label(existing)}{_status_name(existing)}，内容不能再修改；修订政策请提交新版本",
            policy_status=existing.status,
        )
    existing.document = document
    existing.title = compiled.title
    existing.benefit_kind = compiled.benefit_kind
    await _move(repo, existing, action=PolicyAction.EDIT, to=PolicyStatus.DRAFT, actor=actor, now=now)
    return existing, False


async def _existing(repo: Repository, policy_id: str, version: int) -> PolicyVersion:
    policy = await repo.get(policy_id, version)
    if policy is None:
        raise ProblemError(404, "policy_not_found", f"政策 {policy_id} 第 {version} 版不存在")
    return policy


def _refuse(policy: PolicyVersion, code: str, detail: str) -> ProblemError:
    return ProblemError(409, code, f"{_label(policy)}{_status_name(policy)}：{detail}", policy_status=policy.status)


async def submit_policy(repo: Repository, *, policy_id: str, version: int, actor: str, now: datetime) -> PolicyVersion:
    """Submit a draft for review. It must compile and pass every case written in it;
    otherwise it stays a draft and the answer lists each fault. Submitting a version
    already awaiting review changes nothing."""
    policy = await _existing(repo, policy_id, version)
    if policy.status == PolicyStatus.SUBMITTED:
        return policy
    if policy.status != PolicyStatus.DRAFT:
        raise _refuse(policy, "policy_not_draft", "只有草稿可以提交审核")
    errors = submission_errors(policy.document)
    if errors:
        raise ProblemError(
            422, "policy_invalid", f"{_label(policy)}未通过提交检查，仍为草稿", errors=field_errors(errors)
        )
    policy.submitted_at = now
    policy.submitted_by = actor
    await _move(repo, policy, action=PolicyAction.SUBMIT, to=PolicyStatus.SUBMITTED, actor=actor, now=now)
    return policy


async def _return_to_draft(
    repo: Repository,
    *,
    policy_id: str,
    version: int,
    action: PolicyAction,
    actor: str,
    reason: str,
    now: datetime,
) -> PolicyVersion:
    policy = await _existing(repo, policy_id, version)
    if policy.status != PolicyStatus.SUBMITTED:
        raise _refuse(policy, "policy_not_submitted", "只有待审核的版本可以撤回或退回")
    policy.submitted_at = None
    policy.submitted_by = None
    await _move(repo, policy, action=action, to=PolicyStatus.DRAFT, actor=actor, now=now, reason=reason)
    return policy


async def withdraw_submission(
    repo: Repository, *, policy_id: str, version: int, actor: str, reason: str, now: datetime
) -> PolicyVersion:
    """The author takes a submitted version back to draft (撤回)."""
    return await _return_to_draft(
        repo, policy_id=policy_id, version=version, action=PolicyAction.WITHDRAW, actor=actor, reason=reason, now=now
    )


async def reject_submission(
    repo: Repository, *, policy_id: str, version: int, actor: str, reason: str, now: datetime
) -> PolicyVersion:
    """The reviewer sends a submitted version back to draft (退回), saying why."""
    return await _return_to_draft(
        repo, policy_id=policy_id, version=version, action=PolicyAction.REJECT, actor=actor, reason=reason, now=now
    )


async def authors(repo: Repository, policy: PolicyVersion) -> set[str]:
    """Everyone who created, edited or submitted this version, across every review round."""
    found = {t.actor for t in await repo.transitions(policy.policy_id, policy.version) if t.action in _AUTHORING}
    found.update(a for a in (policy.created_by, policy.submitted_by) if a is not None)
    return found


def default_effective_from(document: dict[str, Any], today: date) -> date:
    """The day a version takes effect when the publisher names none: today or the
    document's own start date, whichever is later.

    Not earlier than today, because the catalogue has already answered "which version
    is in force on day D" for past days and determinations recorded the version they
    used; a publication must not rewrite that. Not earlier than the document's start,
    because before it the version would be "in force" while no fact could yet count
    under it, which reads as a mistake in every listing.
    """
    return max(today, date.fromisoformat(document["effective"]["from"]))


async def publish_policy(
    repo: Repository,
    *,
    policy_id: str,
    version: int,
    actor: str,
    emit: Emit,
    now: datetime,
    effective_from: date | None = None,
) -> PolicyVersion:
    """Publish a submitted version, taking effect from `effective_from` (default: see
    `default_effective_from`; an explicit day may not lie before today). The publisher
    may not be anyone who created, edited or submitted the version. A version taking
    effect today is announced now; a later one when its day comes (`announce_next_due`).
    Publishing an already published version again changes nothing and emits nothing."""
    policy = await _existing(repo, policy_id, version)
    if policy.status == PolicyStatus.PUBLISHED:
        if effective_from is not None and effective_from != policy.effective_from:
            raise _refuse(policy, "policy_already_published", f"已定于 {policy.effective_from} 生效，不能更改生效日期")
        return policy
    if policy.status == PolicyStatus.RETIRED:
        raise _refuse(policy, "policy_retired", "不能再发布")
    if policy.status != PolicyStatus.SUBMITTED:
        raise _refuse(policy, "policy_not_submitted", "须先提交审核，方可发布")
    if actor in await authors(repo, policy):
        raise ProblemError(403, "separation_of_duties", SEPARATION_OF_DUTIES, actor=actor)
    today = shanghai_date(now)
    if effective_from is None:
        effective_from = default_effective_from(policy.document, today)
    elif effective_from < today:
        raise ProblemError(
            422,
            "effective_from_in_past",
            f"生效日期 {effective_from} 早于今天（{today}）：新版本不能追溯生效",
            errors=[{"field": "effective_from", "code": "in_past", "message": "生效日期不能早于今天"}],
        )
    policy.published_at = now
    policy.published_by = actor
    policy.effective_from = effective_from
    await _move(repo, policy, action=PolicyAction.PUBLISH, to=PolicyStatus.PUBLISHED, actor=actor, now=now)
    if effective_from <= today:
        await _announce(policy, emit=emit, now=now)
    return policy


async def _announce(policy: PolicyVersion, *, emit: Emit, now: datetime) -> None:
    assert policy.published_at is not None and policy.effective_from is not None
    policy.announced_at = now
    event: Payload = PolicyPublished(
        policy_id=policy.policy_id,
        version=policy.version,
        title=policy.title,
        document=policy.document,
        published_at=as_utc(policy.published_at),
        effective_from=policy.effective_from,
    )
    await emit(event, key=policy.policy_id)


async def announce_next_due(repo: Repository, *, emit: Emit, today: date, now: datetime) -> PolicyVersion | None:
    """Announce one published, unannounced version whose effective date has come
    (`today` is the day in Asia/Shanghai): the lowest such version of the first such
    policy. Returns it, or None when nothing is due. One call is one version, so the
    caller can give each its own transaction; calling until None announces a
    policy's versions in version order."""
    policy = await repo.next_due_announcement(today)
    if policy is not None:
        await _announce(policy, emit=emit, now=now)
    return policy


async def retire_policy(
    repo: Repository, *, policy_id: str, version: int, actor: str, reason: str, emit: Emit, now: datetime
) -> PolicyVersion:
    """Retire a published version. Retiring it again changes nothing; a version never
    published cannot be retired (withdraw it, or leave the draft).

    The retirement is announced only if the version took effect — it was announced, or
    its effective date has come and the announcer has not reached it yet. Either way
    eligibility must stop applying the policy, since the catalogue no longer counts an
    older version as in force. One retired before its day was never applied by anyone,
    and announcing its retirement would make eligibility retire the older version it
    holds, which stays in force.
    """
    policy = await _existing(repo, policy_id, version)
    if policy.status == PolicyStatus.RETIRED:
        return policy
    if policy.status != PolicyStatus.PUBLISHED:
        raise _refuse(policy, "policy_not_published", "只有已发布的版本可以废止")
    retired_on = shanghai_date(now)
    policy.retired_at = now
    policy.retired_on = retired_on
    policy.retired_by = actor
    policy.retired_reason = reason
    await _move(repo, policy, action=PolicyAction.RETIRE, to=PolicyStatus.RETIRED, actor=actor, now=now, reason=reason)
    took_effect = policy.announced_at is not None or (
        policy.effective_from is not None and policy.effective_from <= retired_on
    )
    if took_effect:
        event: Payload = PolicyRetired(policy_id=policy_id, version=version, retired_at=now, reason=reason)
        await emit(event, key=policy_id)
    return policy


async def policies_in_force(repo: Repository, *, on: date) -> list[PolicyVersion]:
    return await repo.in_force(on)


async def policy_in_force(repo: Repository, policy_id: str, *, on: date) -> PolicyVersion:
    found = await repo.in_force(on, policy_id)
    if not found:
        raise ProblemError(404, "policy_not_found", f"政策 {policy_id} 不存在，或在 {on} 未施行")
    return found[0]


async def policy_version(repo: Repository, policy_id: str, version: int) -> PolicyVersion:
    return await _existing(repo, policy_id, version)


async def policy_versions(repo: Repository, policy_id: str) -> list[PolicyVersion]:
    versions = await repo.versions(policy_id)
    if not versions:
        raise ProblemError(404, "policy_not_found", f"政策 {policy_id} 不存在")
    return versions


async def policy_history(repo: Repository, policy_id: str, version: int) -> list[PolicyTransition]:
    await _existing(repo, policy_id, version)
    return await repo.transitions(policy_id, version)
