"""数据比对 — department data matched against published policies.

Each department record becomes a fact about one enterprise. Whenever an
enterprise's facts or a policy change, the policy is evaluated again for that
enterprise and the result is compared with what was determined before: only a
difference (a new award, a different amount or different supporting facts, an
award no longer due) is stored and announced as `entitlement.determined`, so a
redelivered or repeated push announces nothing.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from eligibility.models import Entitlement, Fact, Policy
from mianshen_shared import rules
from mianshen_shared.city import City
from mianshen_shared.events.catalog import (
    DepartmentRecordSubmitted,
    EntitlementDetermined,
    Explanation,
    PolicyPublished,
    PolicyRetired,
)
from mianshen_shared.messaging import Rejected
from mianshen_shared.money import format_yuan

# Fixed forever: entitlement ids derive from it, and other services key on those ids.
ENTITLEMENT_NAMESPACE = uuid.UUID("5f0c7d2e-8a61-4c1b-9e3a-2d4b6f81a9c7")
# Enterprises re-evaluated per query round when a policy is published.
REEVALUATION_BATCH = 500

Change = Literal["new", "changed", "withdrawn"]


class Repository(Protocol):
    async def get_fact(self, record_id: str) -> Fact | None: ...
    async def add_fact(self, fact: Fact) -> None: ...
    async def add_facts(self, facts: Sequence[Fact]) -> None: ...
    async def facts_by_ids(self, record_ids: Sequence[str]) -> list[Fact]: ...
    async def active_facts(self, uscc: str) -> list[Fact]: ...
    async def active_facts_in(self, usccs: Sequence[str]) -> list[Fact]: ...
    async def active_facts_of(self, usccs: Sequence[str], record_types: Iterable[str]) -> list[Fact]: ...
    async def enterprises_with(self, record_types: Iterable[str]) -> list[str]: ...
    async def get_policy(self, policy_id: str) -> Policy | None: ...
    async def add_policy(self, policy: Policy) -> None: ...
    async def published_policy_versions(self) -> list[tuple[str, int]]: ...
    async def policy_documents(self, policy_ids: Sequence[str]) -> dict[tuple[str, int], dict[str, Any]]: ...
    async def entitlements_of(self, usccs: Sequence[str], policy_ids: Sequence[str]) -> list[Entitlement]: ...
    async def enterprises_entitled_under(self, policy_id: str) -> list[str]: ...
    async def active_entitlements_under(self, policy_id: str) -> list[Entitlement]: ...
    async def add_entitlement(self, entitlement: Entitlement) -> None: ...
    async def entitlements_for(self, uscc: str) -> list[Entitlement]: ...


class EntitlementSink(Protocol):
    async def add_entitlement(self, entitlement: Entitlement) -> None: ...


def entitlement_id(uscc: str, policy_id: str, award_key: str) -> uuid.UUID:
    return uuid.uuid5(ENTITLEMENT_NAMESPACE, f"{uscc}|{policy_id}|{award_key}")


# --- compiled policies ------------------------------------------------------------

# A policy version's document never changes (policy-catalog refuses that), so a
# compiled version stays valid for the life of the process.
_compiled: dict[tuple[str, int], rules.CompiledPolicy] = {}


def compile_and_cache(document: dict[str, Any]) -> rules.CompiledPolicy:
    policy = rules.compile_policy(document)
    _compiled[(policy.id, policy.version)] = policy
    return policy


async def published_policies(repo: Repository) -> list[rules.CompiledPolicy]:
    """Every published policy, compiled; documents are read only for versions not yet cached."""
    versions = await repo.published_policy_versions()
    missing = [policy_id for policy_id, version in versions if (policy_id, version) not in _compiled]
    if missing:
        for document in (await repo.policy_documents(missing)).values():
            compile_and_cache(document)
    return [_compiled[key] for key in versions if key in _compiled]


# --- the diff -----------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """One way the evaluation now differs from what was determined before."""

    change: Change
    award_key: str
    amount_fen: int
    previous_amount_fen: int | None
    explanation: Explanation


def diff(
    awards: Sequence[rules.Award], determined: Mapping[str, Entitlement], *, withdrawal_reason: str
) -> list[Difference]:
    """Compare one policy's awards for one enterprise with its stored entitlements (by award key).

    A withdrawn entitlement that is awarded again is new; an amount or a set of
    supporting facts that moved is a change; an active entitlement no longer
    awarded is withdrawn, with its last explanation and why it was withdrawn.
    """
    out: list[Difference] = []
    awarded = {award.award_key: award for award in awards}
    for key in sorted(awarded):
        award = awarded[key]
        before = determined.get(key)
        if before is None or before.status == "withdrawn":
            out.append(Difference("new", key, award.amount_fen, None, award.explanation))
        elif before.amount_fen != award.amount_fen or _facts(before.explanation) != _facts(
            award.explanation.model_dump(mode="json")
        ):
            out.append(Difference("changed", key, award.amount_fen, before.amount_fen, award.explanation))
    for key in sorted(determined.keys() - awarded.keys()):
        before = determined[key]
        if before.status == "active":
            last = Explanation.model_validate(before.explanation)
            note = f"{withdrawal_reason}原认定金额{format_yuan(before.amount_fen)}撤回。"
            out.append(
                Difference("withdrawn", key, 0, before.amount_fen, last.model_copy(update={"computation": note}))
            )
    return out


def _facts(explanation: Mapping[str, Any]) -> list[Any]:
    return sorted(explanation.get("facts", []), key=lambda f: (f.get("record_id", ""), str(f)))


# --- applying differences --------------------------------------------------------------


@dataclass(frozen=True)
class PolicyRef:
    policy_id: str
    version: int
    title: str
    benefit_kind: str

    @classmethod
    def of(cls, policy: rules.CompiledPolicy) -> PolicyRef:
        return cls(policy.id, policy.version, policy.title, policy.benefit_kind)


async def _apply(
    repo: EntitlementSink,
    *,
    uscc: str,
    enterprise_name: str | None,
    policy: PolicyRef,
    differences: Sequence[Difference],
    determined: Mapping[str, Entitlement],
    now: datetime,
) -> list[EntitlementDetermined]:
    events = []
    for d in differences:
        row = determined.get(d.award_key)
        explanation = d.explanation.model_dump(mode="json")
        if row is None:
            row = Entitlement(
                entitlement_id=entitlement_id(uscc, policy.policy_id, d.award_key),
                uscc=uscc,
                policy_id=policy.policy_id,
                award_key=d.award_key,
            )
            await repo.add_entitlement(row)
        if d.change != "withdrawn":
            # A withdrawal keeps the version and title the award was made under.
            row.policy_version = policy.version
            row.policy_title = policy.title
            row.benefit_kind = policy.benefit_kind
        row.amount_fen = d.amount_fen
        row.status = "withdrawn" if d.change == "withdrawn" else "active"
        row.explanation = explanation
        row.determined_at = now
        events.append(
            EntitlementDetermined(
                entitlement_id=row.entitlement_id,
                uscc=uscc,
                enterprise_name=enterprise_name,
                policy_id=row.policy_id,
                policy_version=row.policy_version,
                policy_title=row.policy_title,
                award_key=row.award_key,
                change=d.change,
                amount_fen=d.amount_fen,
                previous_amount_fen=d.previous_amount_fen,
                benefit_kind=row.benefit_kind,  # type: ignore[arg-type]
                explanation=d.explanation,
                determined_at=now,
            )
        )
    return events


def _as_rule_facts(facts: Iterable[Fact]) -> list[rules.Fact]:
    return [
        rules.Fact(
            record_id=f.record_id,
            department=f.department,
            record_type=f.record_type,
            effective_date=f.effective_date,
            attributes=f.attributes,
        )
        for f in facts
    ]


def _evaluate(policy: rules.CompiledPolicy, uscc: str, facts: Sequence[rules.Fact]) -> list[rules.Award]:
    try:
        return rules.evaluate(policy, uscc=uscc, facts=facts)
    except rules.PolicyEvaluationError as exc:
        raise Rejected(
            "policy_evaluation_failed", f"政策 {policy.id} 第 {policy.version} 版无法适用于企业 {uscc} 的数据：{exc}"
        ) from exc


async def _redetermine(
    repo: EntitlementSink,
    *,
    uscc: str,
    enterprise_name: str | None,
    policies: Sequence[rules.CompiledPolicy],
    facts: Sequence[Fact],
    entitlements: Iterable[Entitlement],
    now: datetime,
    withdrawal_reason: str,
) -> list[EntitlementDetermined]:
    by_policy: dict[str, dict[str, Entitlement]] = defaultdict(dict)
    for row in entitlements:
        by_policy[row.policy_id][row.award_key] = row
    rule_facts = _as_rule_facts(facts)
    events: list[EntitlementDetermined] = []
    for policy in policies:
        determined = by_policy.get(policy.id, {})
        differences = diff(_evaluate(policy, uscc, rule_facts), determined, withdrawal_reason=withdrawal_reason)
        if differences:
            events += await _apply(
                repo,
                uscc=uscc,
                enterprise_name=enterprise_name,
                policy=PolicyRef.of(policy),
                differences=differences,
                determined=determined,
                now=now,
            )
    return events


def _name_from(facts: Iterable[Fact]) -> str | None:
    named = [f for f in facts if f.enterprise_name]
    return max(named, key=lambda f: f.updated_at).enterprise_name if named else None


# --- department records -----------------------------------------------------------


def validate_record(city: City, record: DepartmentRecordSubmitted) -> bool:
    """Whether eligibility keeps this record: False for credit records (credit-check's),
    Rejected for anything the city's configuration does not allow."""
    record_type = city.record_types.get(record.record_type)
    if record_type is None:
        raise Rejected("unknown_record_type", f"未登记的数据类型：{record.record_type}")
    if record_type.credit_list is not None:
        return False
    department = city.departments.get(record.department)
    if department is None:
        raise Rejected("unknown_department", f"未登记的部门：{record.department}")
    if record.record_type not in department.record_types:
        raise Rejected(
            "record_type_not_allowed", f"{department.name}无权推送“{record_type.name}”（{record.record_type}）数据"
        )
    if record.action == "upsert":
        errors = city.attribute_errors(record.record_type, record.attributes)
        if errors:
            raise Rejected("invalid_attributes", f"“{record_type.name}”数据属性不合法：" + "；".join(errors))
    return True


@dataclass(frozen=True)
class FactChange:
    """What applying one record did: the fact it created (if none existed), and the
    enterprises and record types whose evaluation it may change (both empty when
    nothing that matters changed)."""

    created: Fact | None
    usccs: set[str]
    record_types: set[str]


def _change_fact(fact: Fact | None, record: DepartmentRecordSubmitted, now: datetime) -> FactChange:
    """Apply the record to the stored fact of its record id (None: there is none yet)."""
    if record.action == "revoke":
        if fact is None or fact.revoked:
            return FactChange(None, set(), set())
        fact.revoked = True
        fact.updated_at = now
        return FactChange(None, {fact.uscc}, {fact.record_type})
    if fact is None:
        created = Fact(
            record_id=record.record_id,
            uscc=record.uscc,
            department=record.department,
            record_type=record.record_type,
            effective_date=record.effective_date,
            attributes=record.attributes,
            enterprise_name=record.enterprise_name,
            revoked=False,
            received_at=record.received_at,
            updated_at=now,
        )
        return FactChange(created, {record.uscc}, {record.record_type})
    before = (fact.uscc, fact.department, fact.record_type, fact.effective_date, fact.attributes, fact.revoked)
    after = (record.uscc, record.department, record.record_type, record.effective_date, record.attributes, False)
    if record.enterprise_name and record.enterprise_name != fact.enterprise_name:
        fact.enterprise_name = record.enterprise_name
        fact.updated_at = now
    if before == after:
        return FactChange(None, set(), set())
    usccs, types = {fact.uscc, record.uscc}, {fact.record_type, record.record_type}
    fact.uscc, fact.department, fact.record_type = record.uscc, record.department, record.record_type
    fact.effective_date, fact.attributes, fact.revoked = record.effective_date, record.attributes, False
    fact.received_at, fact.updated_at = record.received_at, now
    return FactChange(None, usccs, types)


async def _store_fact(repo: Repository, record: DepartmentRecordSubmitted, now: datetime) -> tuple[set[str], set[str]]:
    """Apply the record to the facts; returns the enterprises and record types whose
    evaluation it may change (both empty when nothing that matters changed)."""
    change = _change_fact(await repo.get_fact(record.record_id), record, now)
    if change.created is not None:
        await repo.add_fact(change.created)
    return change.usccs, change.record_types


async def record_submitted(
    repo: Repository, *, city: City, record: DepartmentRecordSubmitted, now: datetime
) -> list[EntitlementDetermined]:
    """Store one department record and announce every entitlement it changes."""
    if not validate_record(city, record):
        return []
    usccs, record_types = await _store_fact(repo, record, now)
    if not usccs:
        return []
    policies = [p for p in await published_policies(repo) if p.input_record_types & record_types]
    if not policies:
        return []
    events: list[EntitlementDetermined] = []
    for uscc in sorted(usccs):
        facts = await repo.active_facts(uscc)
        events += await _redetermine(
            repo,
            uscc=uscc,
            enterprise_name=record.enterprise_name if uscc == record.uscc else _name_from(facts),
            policies=policies,
            facts=facts,
            entitlements=await repo.entitlements_of([uscc], [p.id for p in policies]),
            now=now,
            withdrawal_reason="企业数据已更新或撤销，不再符合政策条件，",
        )
    return events


class _BatchState:
    """The facts and entitlements of every enterprise a run of records may touch,
    loaded once and kept current in memory while the run is applied record by record."""

    def __init__(self, repo: Repository, facts: Iterable[Fact], entitlements: Iterable[Entitlement]) -> None:
        self._repo = repo
        self.facts: dict[str, dict[str, Fact]] = defaultdict(dict)  # uscc -> record id -> fact
        for fact in facts:
            self.facts[fact.uscc][fact.record_id] = fact
        self.entitlements: dict[str, list[Entitlement]] = defaultdict(list)
        for row in entitlements:
            self.entitlements[row.uscc].append(row)

    def place(self, fact: Fact, previous_uscc: str | None) -> None:
        if previous_uscc is not None and previous_uscc != fact.uscc:
            self.facts[previous_uscc].pop(fact.record_id, None)
        self.facts[fact.uscc][fact.record_id] = fact

    def active_facts(self, uscc: str) -> list[Fact]:
        held = self.facts[uscc]
        return [held[record_id] for record_id in sorted(held) if not held[record_id].revoked]

    async def add_entitlement(self, entitlement: Entitlement) -> None:
        await self._repo.add_entitlement(entitlement)
        self.entitlements[entitlement.uscc].append(entitlement)


async def records_submitted(
    repo: Repository, *, city: City, records: Sequence[DepartmentRecordSubmitted], now: datetime
) -> list[list[EntitlementDetermined]]:
    """Store a run of department records and announce every entitlement each one
    changes: the same determinations, in the same order, as `record_submitted`
    called on each record in turn, but with a fixed number of queries for the run.

    Returns one list of determinations per record, in the order of `records`.
    """
    keeps = [validate_record(city, record) for record in records]
    kept = [record for record, keep in zip(records, keeps, strict=True) if keep]
    out: list[list[EntitlementDetermined]] = [[] for _ in records]
    if not kept:
        return out
    stored = {fact.record_id: fact for fact in await repo.facts_by_ids(sorted({r.record_id for r in kept}))}
    # Every enterprise and record type the run may touch: a record's own, and those of
    # the fact it replaces (a correction may move a record to another enterprise).
    usccs = {r.uscc for r in kept} | {f.uscc for f in stored.values()}
    record_types = {r.record_type for r in kept} | {f.record_type for f in stored.values()}
    policies = [p for p in await published_policies(repo) if p.input_record_types & record_types]
    state: _BatchState | None = None
    if policies:
        ordered = sorted(usccs)
        state = _BatchState(
            repo,
            [*await repo.active_facts_in(ordered), *stored.values()],
            await repo.entitlements_of(ordered, [p.id for p in policies]),
        )
    created: list[Fact] = []
    for index, record in enumerate(records):
        if not keeps[index]:
            continue
        fact = stored.get(record.record_id)
        previous_uscc = fact.uscc if fact is not None else None
        change = _change_fact(fact, record, now)
        if change.created is not None:
            fact = stored[record.record_id] = change.created
            created.append(fact)
        if state is None or fact is None:
            continue
        state.place(fact, previous_uscc)
        applying = [p for p in policies if p.input_record_types & change.record_types]
        if not applying:
            continue
        for uscc in sorted(change.usccs):
            facts = state.active_facts(uscc)
            out[index] += await _redetermine(
                state,
                uscc=uscc,
                enterprise_name=record.enterprise_name if uscc == record.uscc else _name_from(facts),
                policies=applying,
                facts=facts,
                entitlements=list(state.entitlements[uscc]),
                now=now,
                withdrawal_reason="企业数据已更新或撤销，不再符合政策条件，",
            )
    if created:
        await repo.add_facts(created)
    return out


# --- policies -----------------------------------------------------------------------


async def policy_published(repo: Repository, *, event: PolicyPublished, now: datetime) -> list[EntitlementDetermined]:
    """Apply a newly published policy version to every enterprise it may concern.

    An older or repeated version than the one held is ignored: versions only move forward.
    """
    held = await repo.get_policy(event.policy_id)
    if held is not None and held.version >= event.version:
        return []
    try:
        # Compiled afresh, not taken from the cache: the event's document is the one to trust.
        policy = rules.compile_policy(event.document)
    except rules.PolicyInvalid as exc:
        raise Rejected("invalid_policy", "政策文档不合法：" + "；".join(exc.errors)) from exc
    if (policy.id, policy.version) != (event.policy_id, event.version):
        raise Rejected(
            "policy_mismatch",
            f"事件中的政策 {event.policy_id} 第 {event.version} 版与文档（{policy.id} 第 {policy.version} 版）不一致",
        )
    _compiled[(policy.id, policy.version)] = policy
    if held is None:
        held = Policy(policy_id=policy.id)
        await repo.add_policy(held)
    held.version, held.title, held.document = policy.version, policy.title, event.document
    held.status, held.updated_at = "published", now

    # Enterprises with matching facts may now qualify; those already entitled may no longer.
    usccs = set(await repo.enterprises_with(policy.input_record_types))
    usccs |= set(await repo.enterprises_entitled_under(policy.id))
    events: list[EntitlementDetermined] = []
    ordered = sorted(usccs)
    for start in range(0, len(ordered), REEVALUATION_BATCH):
        chunk = ordered[start : start + REEVALUATION_BATCH]
        facts_by_uscc: dict[str, list[Fact]] = defaultdict(list)
        for fact in await repo.active_facts_of(chunk, policy.input_record_types):
            facts_by_uscc[fact.uscc].append(fact)
        entitlements_by_uscc: dict[str, list[Entitlement]] = defaultdict(list)
        for row in await repo.entitlements_of(chunk, [policy.id]):
            entitlements_by_uscc[row.uscc].append(row)
        for uscc in chunk:
            facts = facts_by_uscc.get(uscc, [])
            events += await _redetermine(
                repo,
                uscc=uscc,
                enterprise_name=_name_from(facts),
                policies=[policy],
                facts=facts,
                entitlements=entitlements_by_uscc.get(uscc, []),
                now=now,
                withdrawal_reason=f"依据政策第{policy.version}版重新比对，企业不再符合条件，",
            )
    return events


async def policy_retired(repo: Repository, *, event: PolicyRetired, now: datetime) -> list[EntitlementDetermined]:
    """Withdraw every active entitlement under the policy. Retiring a version older than
    the one held changes nothing: the newer version supersedes it."""
    held = await repo.get_policy(event.policy_id)
    if held is None or held.version > event.version or held.status == "retired":
        return []
    held.status, held.updated_at = "retired", now
    events: list[EntitlementDetermined] = []
    for row in await repo.active_entitlements_under(event.policy_id):
        differences = diff([], {row.award_key: row}, withdrawal_reason=f"政策已废止（{event.reason}），")
        events += await _apply(
            repo,
            uscc=row.uscc,
            enterprise_name=None,
            policy=PolicyRef(row.policy_id, row.policy_version, row.policy_title, row.benefit_kind),
            differences=differences,
            determined={row.award_key: row},
            now=now,
        )
    return events


# --- reading --------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyAmount:
    policy_id: str
    policy_title: str
    amount_fen: int


async def entitled_amounts(repo: Repository, *, uscc: str) -> list[PolicyAmount]:
    """The amount currently determined under each policy (all its award keys together)."""
    totals: dict[str, int] = defaultdict(int)
    titles: dict[str, str] = {}
    for row in await repo.entitlements_for(uscc):
        if row.status == "active":
            totals[row.policy_id] += row.amount_fen
            titles[row.policy_id] = row.policy_title
    return [PolicyAmount(policy_id, titles[policy_id], totals[policy_id]) for policy_id in sorted(totals)]
