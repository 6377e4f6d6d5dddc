"""数据比对 — department data matched against published policies.

Each department record becomes a fact about one enterprise. Whenever an
enterprise's facts or a policy change, the policy is evaluated again for that
enterprise and the result is compared with what was determined before: only a
difference (a new award, a different amount or different supporting facts, an
award no longer due) is stored and announced as `entitlement.determined`, so a
redelivered or repeated push announces nothing.

What a policy has already paid an enterprise (`award_history`, kept from
`payment.issued`) goes into every evaluation, so 级差, caps, 首次 and 不重复 are
decided against real payments; a paid (settled) entitlement is never changed or
withdrawn here — an overpayment found later is for 回头看 to recover: when a record
behind a paid entitlement is corrected or revoked and the policy now owes less than
was paid, `entitlement.overpaid` is announced (once per entitlement and amount due).

Publishing or retiring a policy (or an operator's request) creates a re-evaluation
job; a background worker runs it in chunks (see `reevaluate_next_chunk`).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from eligibility.models import AwardHistory, Entitlement, Fact, Overpayment, Policy, ReevaluationJob
from mianshen_shared import rules
from mianshen_shared.city import City
from mianshen_shared.events.catalog import (
    DepartmentRecordSubmitted,
    EntitlementDetermined,
    EntitlementOverpaid,
    Explanation,
    PaymentIssued,
    PolicyPublished,
    PolicyRetired,
)
from mianshen_shared.messaging import Rejected
from mianshen_shared.money import format_yuan
from mianshen_shared.problems import ProblemError
from mianshen_shared.rules.settlement import TRANCHE_SEPARATOR, group_of

# Fixed forever: entitlement ids derive from it, and other services key on those ids.
ENTITLEMENT_NAMESPACE = uuid.UUID("5f0c7d2e-8a61-4c1b-9e3a-2d4b6f81a9c7")
# Enterprises re-evaluated per chunk (one transaction each) of a re-evaluation job.
REEVALUATION_BATCH = 500
SHANGHAI = ZoneInfo("Asia/Shanghai")

Change = Literal["new", "changed", "withdrawn"]
# What handling department records may announce.
Announcement = EntitlementDetermined | EntitlementOverpaid


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
    async def get_entitlement(self, entitlement_id: uuid.UUID) -> Entitlement | None: ...
    async def add_entitlement(self, entitlement: Entitlement) -> None: ...
    async def entitlements_for(self, uscc: str) -> list[Entitlement]: ...
    async def history_of(self, usccs: Sequence[str], policy_ids: Sequence[str]) -> list[AwardHistory]: ...
    async def get_award(self, entitlement_id: uuid.UUID) -> AwardHistory | None: ...
    async def add_award(self, award: AwardHistory) -> None: ...
    async def count_enterprises_to_reevaluate(self, policy_id: str, record_types: Iterable[str]) -> int: ...
    async def enterprises_to_reevaluate(
        self, policy_id: str, record_types: Iterable[str], *, after: str | None, limit: int
    ) -> list[str]: ...
    async def add_job(self, job: ReevaluationJob) -> None: ...
    async def get_job(self, job_id: uuid.UUID) -> ReevaluationJob | None: ...
    async def open_jobs_for(self, policy_id: str) -> list[ReevaluationJob]: ...
    async def lock_open_job(self, job_id: uuid.UUID) -> ReevaluationJob | None: ...
    async def get_overpayment(self, entitlement_id: uuid.UUID, due_fen: int) -> Overpayment | None: ...
    async def add_overpayment(self, overpayment: Overpayment) -> None: ...


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


_confirmation_days: dict[tuple[str, int], int | None] = {}


def confirmation_days(policy: rules.CompiledPolicy) -> int | None:
    """The policy's 意愿确认期限 (`procedure.confirmation_days`); None when it sets none."""
    key = (policy.id, policy.version)
    if key not in _confirmation_days:
        days = (policy.document.get("procedure") or {}).get("confirmation_days")
        _confirmation_days[key] = days if isinstance(days, int) else None
    return _confirmation_days[key]


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
    A settled (paid) entitlement is left as it is, whatever the awards say: what
    the policy still owes on top of it comes under a new award key.
    """
    out: list[Difference] = []
    settled = {key for key, row in determined.items() if row.settled_at is not None}
    awarded = {award.award_key: award for award in awards if award.award_key not in settled}
    determined = {key: row for key, row in determined.items() if key not in settled}
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
    confirmation_days: int | None = None

    @classmethod
    def of(cls, policy: rules.CompiledPolicy) -> PolicyRef:
        return cls(policy.id, policy.version, policy.title, policy.benefit_kind, confirmation_days(policy))


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
                confirmation_days=policy.confirmation_days,
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


def prior_awards(rows: Iterable[AwardHistory]) -> dict[str, dict[str, list[rules.PriorAward]]]:
    """Award history as the engine takes it: enterprise -> policy -> what was paid."""
    out: dict[str, dict[str, list[rules.PriorAward]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        out[row.uscc][row.policy_id].append(
            rules.PriorAward(
                award_key=row.award_key,
                amount_fen=row.amount_fen,
                paid_on=row.paid_on,
                policy_version=row.policy_version,
            )
        )
    return out


def _evaluate(
    policy: rules.CompiledPolicy, uscc: str, facts: Sequence[rules.Fact], history: Sequence[rules.PriorAward]
) -> list[rules.Award]:
    try:
        return rules.evaluate(policy, uscc=uscc, facts=facts, history=history)
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
    history: Mapping[str, Sequence[rules.PriorAward]],
    now: datetime,
    withdrawal_reason: str,
) -> list[EntitlementDetermined]:
    """`history`: what each policy (by id) already paid this enterprise."""
    by_policy: dict[str, dict[str, Entitlement]] = defaultdict(dict)
    for row in entitlements:
        by_policy[row.policy_id][row.award_key] = row
    rule_facts = _as_rule_facts(facts)
    events: list[EntitlementDetermined] = []
    for policy in policies:
        determined = by_policy.get(policy.id, {})
        awards = _evaluate(policy, uscc, rule_facts, history.get(policy.id, ()))
        differences = diff(awards, determined, withdrawal_reason=withdrawal_reason)
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


# --- 回头看: what a corrected record means for what was already paid ----------------------


def _rests_on(row: Entitlement, record_id: str) -> bool:
    return any(f.get("record_id") == record_id for f in row.explanation.get("facts", []))


def _tranche(award_key: str) -> int:
    _, sep, number = award_key.partition(TRANCHE_SEPARATOR)
    return int(number) if sep and number.isdigit() else 1


async def detect_overpayments(
    repo: Repository,
    *,
    uscc: str,
    enterprise_name: str | None,
    policies: Sequence[rules.CompiledPolicy],
    facts: Sequence[Fact],
    entitlements: Iterable[Entitlement],
    record: DepartmentRecordSubmitted,
    record_label: str,
    now: datetime,
) -> list[EntitlementOverpaid]:
    """Paid entitlements resting on `record` (just corrected or revoked) that the
    policy, evaluated on the corrected facts, now owes less than was paid.

    What is due for an award is what the facts support as if nothing had been paid;
    it is shared out over the group's paid tranches in the order they were paid, so a
    later top-up is the first to fall. A finding is announced once per entitlement
    and amount due. The settled entitlement itself is left as it is: recovering the
    difference is a case for an operator, not a re-determination.
    """
    settled = [row for row in entitlements if row.settled_at is not None and row.paid_fen is not None]
    if not any(_rests_on(row, record.record_id) for row in settled):
        return []
    rule_facts = _as_rule_facts(facts)
    verb = "撤销" if record.action == "revoke" else "更正"
    out: list[EntitlementOverpaid] = []
    for policy in policies:
        paid = [row for row in settled if row.policy_id == policy.id]
        groups = {group_of(row.award_key) for row in paid if _rests_on(row, record.record_id)}
        if not groups:
            continue
        awards = {a.award_key: a for a in _evaluate(policy, uscc, rule_facts, ())}
        for group in sorted(groups):
            award = awards.get(group)
            remaining = award.amount_fen if award is not None else 0
            tranches = sorted((r for r in paid if group_of(r.award_key) == group), key=lambda r: _tranche(r.award_key))
            for row in tranches:
                paid_fen = row.paid_fen or 0
                due = min(paid_fen, remaining)
                remaining -= due
                if due >= paid_fen or await repo.get_overpayment(row.entitlement_id, due) is not None:
                    continue
                reason = (
                    f"{record_label}（{record.record_id}）已{verb}，按{verb}后的数据本项应得{format_yuan(due)}，"
                    f"已兑现{format_yuan(paid_fen)}，多兑现{format_yuan(paid_fen - due)}，待核实处理。"
                )
                await repo.add_overpayment(
                    Overpayment(
                        entitlement_id=row.entitlement_id,
                        due_fen=due,
                        uscc=uscc,
                        policy_id=row.policy_id,
                        paid_fen=paid_fen,
                        record_id=record.record_id,
                        reason=reason,
                        detected_at=now,
                    )
                )
                out.append(
                    EntitlementOverpaid(
                        entitlement_id=row.entitlement_id,
                        uscc=uscc,
                        enterprise_name=enterprise_name,
                        policy_id=row.policy_id,
                        policy_version=row.policy_version,
                        award_key=row.award_key,
                        paid_fen=paid_fen,
                        due_fen=due,
                        explanation=award.explanation if award is not None and due > 0 else None,
                        reason=reason,
                        detected_at=now,
                    )
                )
    return out


def _record_label(city: City, record: DepartmentRecordSubmitted) -> str:
    record_type = city.record_types.get(record.record_type)
    department = city.departments.get(record.department)
    name = f"“{record_type.name}”数据" if record_type is not None else f"{record.record_type}数据"
    return f"{department.name}报送的{name}" if department is not None else name


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
) -> list[Announcement]:
    """Store one department record and announce every entitlement it changes, and
    every paid entitlement it shows was overpaid."""
    if not validate_record(city, record):
        return []
    usccs, record_types = await _store_fact(repo, record, now)
    if not usccs:
        return []
    policies = [p for p in await published_policies(repo) if p.input_record_types & record_types]
    if not policies:
        return []
    events: list[Announcement] = []
    policy_ids = [p.id for p in policies]
    history = prior_awards(await repo.history_of(sorted(usccs), policy_ids))
    for uscc in sorted(usccs):
        facts = await repo.active_facts(uscc)
        entitlements = await repo.entitlements_of([uscc], policy_ids)
        name = record.enterprise_name if uscc == record.uscc else _name_from(facts)
        events += await _redetermine(
            repo,
            uscc=uscc,
            enterprise_name=name,
            policies=policies,
            facts=facts,
            entitlements=entitlements,
            history=history.get(uscc, {}),
            now=now,
            withdrawal_reason="企业数据已更新或撤销，不再符合政策条件，",
        )
        events += await detect_overpayments(
            repo,
            uscc=uscc,
            enterprise_name=name,
            policies=policies,
            facts=facts,
            entitlements=entitlements,
            record=record,
            record_label=_record_label(city, record),
            now=now,
        )
    return events


class _BatchState:
    """The facts and entitlements of every enterprise a run of records may touch,
    loaded once and kept current in memory while the run is applied record by record."""

    def __init__(
        self,
        repo: Repository,
        facts: Iterable[Fact],
        entitlements: Iterable[Entitlement],
        history: Iterable[AwardHistory],
    ) -> None:
        self._repo = repo
        # Payments do not happen during a run of records: loaded once, read only.
        self.history = prior_awards(history)
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
) -> list[list[Announcement]]:
    """Store a run of department records and announce every entitlement each one
    changes: the same determinations, in the same order, as `record_submitted`
    called on each record in turn, but with a fixed number of queries for the run.

    Returns one list of determinations per record, in the order of `records`.
    """
    keeps = [validate_record(city, record) for record in records]
    kept = [record for record, keep in zip(records, keeps, strict=True) if keep]
    out: list[list[Announcement]] = [[] for _ in records]
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
        ordered, policy_ids = sorted(usccs), [p.id for p in policies]
        state = _BatchState(
            repo,
            [*await repo.active_facts_in(ordered), *stored.values()],
            await repo.entitlements_of(ordered, policy_ids),
            await repo.history_of(ordered, policy_ids),
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
            name = record.enterprise_name if uscc == record.uscc else _name_from(facts)
            out[index] += await _redetermine(
                state,
                uscc=uscc,
                enterprise_name=name,
                policies=applying,
                facts=facts,
                entitlements=list(state.entitlements[uscc]),
                history=state.history.get(uscc, {}),
                now=now,
                withdrawal_reason="企业数据已更新或撤销，不再符合政策条件，",
            )
            out[index] += await detect_overpayments(
                repo,
                uscc=uscc,
                enterprise_name=name,
                policies=applying,
                facts=facts,
                entitlements=state.entitlements[uscc],
                record=record,
                record_label=_record_label(city, record),
                now=now,
            )
    if created:
        await repo.add_facts(created)
    return out


# --- policies and re-evaluation jobs -------------------------------------------------

JobReason = Literal["published", "retired", "manual"]


def _compiled_for(held: Policy) -> rules.CompiledPolicy:
    return _compiled.get((held.policy_id, held.version)) or compile_and_cache(held.document)


async def policy_published(
    repo: Repository, *, event: PolicyPublished, now: datetime, correlation_id: str
) -> ReevaluationJob | None:
    """Store a newly published policy version and queue its re-evaluation of every
    enterprise it may concern (run in the background, see `reevaluate_next_chunk`).

    An older or repeated version than the one held is ignored: versions only move forward.
    """
    held = await repo.get_policy(event.policy_id)
    if held is not None and held.version >= event.version:
        return None
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
    return await _queue_job(repo, held, reason="published", note=None, now=now, correlation_id=correlation_id)


async def policy_retired(
    repo: Repository, *, event: PolicyRetired, now: datetime, correlation_id: str
) -> ReevaluationJob | None:
    """Mark the policy retired and queue the withdrawal of its active, unpaid
    entitlements. Retiring a version older than the one held changes nothing: the
    newer version supersedes it."""
    held = await repo.get_policy(event.policy_id)
    if held is None or held.version > event.version or held.status == "retired":
        return None
    held.status, held.updated_at = "retired", now
    return await _queue_job(repo, held, reason="retired", note=event.reason, now=now, correlation_id=correlation_id)


async def request_reevaluation(
    repo: Repository, *, policy_id: str, now: datetime, correlation_id: str
) -> ReevaluationJob:
    """An operator's request to check one policy against every enterprise again
    (e.g. after a department corrected its feed)."""
    held = await repo.get_policy(policy_id)
    if held is None:
        raise ProblemError(404, "policy_not_found", f"未找到政策：{policy_id}")
    running = await repo.open_jobs_for(policy_id)
    if running:
        raise ProblemError(
            409,
            "reevaluation_in_progress",
            f"政策 {policy_id} 已有尚未完成的重新比对任务，请待其完成后再发起",
            job_id=str(running[0].job_id),
        )
    return await _queue_job(repo, held, reason="manual", note=None, now=now, correlation_id=correlation_id)


async def _queue_job(
    repo: Repository, held: Policy, *, reason: JobReason, note: str | None, now: datetime, correlation_id: str
) -> ReevaluationJob:
    # A newer job re-checks every enterprise against the newer state: the older one's
    # remaining chunks would only repeat (or contradict) it.
    for older in await repo.open_jobs_for(held.policy_id):
        older.status, older.finished_at, older.updated_at = "superseded", now, now
    job = ReevaluationJob(
        job_id=uuid.uuid4(),
        policy_id=held.policy_id,
        policy_version=held.version,
        reason=reason,
        note=note,
        status="queued",
        total=0,
        done=0,
        determinations=0,
        cursor=None,
        correlation_id=correlation_id,
        last_error=None,
        created_at=now,
        started_at=None,
        finished_at=None,
        updated_at=now,
    )
    await repo.add_job(job)
    return job


@dataclass(frozen=True)
class Chunk:
    """One chunk of a job done: the job as it now stands and what to announce."""

    job: ReevaluationJob
    determinations: list[EntitlementDetermined]


async def reevaluate_next_chunk(repo: Repository, *, job_id: uuid.UUID, batch: int, now: datetime) -> Chunk | None:
    """Re-evaluate the next `batch` enterprises of an open job (after its cursor) and
    move its progress on, all in the caller's transaction. None: the job is not open.

    A published policy is evaluated afresh for each enterprise; a retired one withdraws
    what is active and unpaid. Running a chunk again (its commit lost in a crash)
    announces nothing new: only differences from the stored entitlements are announced.
    """
    job = await repo.lock_open_job(job_id)
    if job is None:
        return None
    held = await repo.get_policy(job.policy_id)
    if held is None:
        raise Rejected("unknown_policy", f"重新比对任务所属的政策 {job.policy_id} 不存在")
    policy = _compiled_for(held) if held.status == "published" else None
    record_types = sorted(policy.input_record_types) if policy is not None else []
    if job.status == "queued":
        job.status, job.started_at = "running", now
        job.total = await repo.count_enterprises_to_reevaluate(job.policy_id, record_types)
    usccs = await repo.enterprises_to_reevaluate(job.policy_id, record_types, after=job.cursor, limit=batch)
    events: list[EntitlementDetermined] = []
    if usccs:
        if policy is not None:
            events = await _reevaluate(repo, policy, usccs, withdrawal_reason=_withdrawal_reason(job, held), now=now)
        else:
            events = await _withdraw_all(repo, job.policy_id, usccs, reason=_withdrawal_reason(job, held), now=now)
        job.cursor = usccs[-1]
        job.done += len(usccs)
        job.determinations += len(events)
    if len(usccs) < batch:
        job.status, job.finished_at = "done", now
        # Enterprises whose first facts arrived during the run were counted as they came.
        job.total = max(job.total, job.done)
    job.updated_at = now
    return Chunk(job, events)


async def fail_job(repo: Repository, *, job_id: uuid.UUID, error: str, now: datetime) -> None:
    """Stop a job that cannot go on; an operator may request the policy again."""
    job = await repo.lock_open_job(job_id)
    if job is not None:
        job.status, job.last_error, job.finished_at, job.updated_at = "failed", error[:4000], now, now


def _withdrawal_reason(job: ReevaluationJob, held: Policy) -> str:
    if held.status == "retired":
        return f"政策已废止（{job.note}），" if job.note else "政策已废止，"
    if job.reason == "manual":
        return f"依据政策第{held.version}版重新核查，企业不再符合条件，"
    return f"依据政策第{held.version}版重新比对，企业不再符合条件，"


async def _reevaluate(
    repo: Repository, policy: rules.CompiledPolicy, usccs: Sequence[str], *, withdrawal_reason: str, now: datetime
) -> list[EntitlementDetermined]:
    facts_by_uscc: dict[str, list[Fact]] = defaultdict(list)
    for fact in await repo.active_facts_of(usccs, policy.input_record_types):
        facts_by_uscc[fact.uscc].append(fact)
    entitlements_by_uscc: dict[str, list[Entitlement]] = defaultdict(list)
    for row in await repo.entitlements_of(usccs, [policy.id]):
        entitlements_by_uscc[row.uscc].append(row)
    history = prior_awards(await repo.history_of(usccs, [policy.id]))
    events: list[EntitlementDetermined] = []
    for uscc in usccs:
        facts = facts_by_uscc.get(uscc, [])
        events += await _redetermine(
            repo,
            uscc=uscc,
            enterprise_name=_name_from(facts),
            policies=[policy],
            facts=facts,
            entitlements=entitlements_by_uscc.get(uscc, []),
            history=history.get(uscc, {}),
            now=now,
            withdrawal_reason=withdrawal_reason,
        )
    return events


async def _withdraw_all(
    repo: Repository, policy_id: str, usccs: Sequence[str], *, reason: str, now: datetime
) -> list[EntitlementDetermined]:
    events: list[EntitlementDetermined] = []
    rows = sorted(await repo.entitlements_of(usccs, [policy_id]), key=lambda r: (r.uscc, r.award_key))
    for row in rows:
        differences = diff([], {row.award_key: row}, withdrawal_reason=reason)
        if differences:
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


# --- payments: the award history ----------------------------------------------------


def shanghai_date(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


async def payment_issued(
    repo: Repository, *, payment: PaymentIssued, event_id: str, now: datetime
) -> AwardHistory | None:
    """Record what the policy paid the enterprise, and settle the entitlement paid.

    The same payment told again records nothing (None); a different amount for an
    entitlement already paid is refused, never added: one history row per entitlement.
    """
    entitlement = await repo.get_entitlement(payment.entitlement_id)
    if entitlement is None:
        raise Rejected("unknown_entitlement", f"拨付对应的兑现资格 {payment.entitlement_id} 不存在")
    if (entitlement.uscc, entitlement.policy_id) != (payment.uscc, payment.policy_id):
        raise Rejected(
            "entitlement_mismatch",
            f"拨付记录的企业或政策（{payment.uscc}，{payment.policy_id}）与兑现资格 {payment.entitlement_id}"
            f"（{entitlement.uscc}，{entitlement.policy_id}）不一致",
        )
    recorded = await repo.get_award(payment.entitlement_id)
    if recorded is not None:
        if recorded.amount_fen == payment.amount_fen:
            return None
        raise Rejected(
            "conflicting_payment",
            f"兑现资格 {payment.entitlement_id} 已记录拨付{format_yuan(recorded.amount_fen)}"
            f"（支付单 {recorded.payment_id}），不能再记录拨付{format_yuan(payment.amount_fen)}",
        )
    award = AwardHistory(
        entitlement_id=entitlement.entitlement_id,
        uscc=entitlement.uscc,
        policy_id=entitlement.policy_id,
        award_key=entitlement.award_key,
        amount_fen=payment.amount_fen,
        paid_on=shanghai_date(payment.issued_at),
        policy_version=entitlement.policy_version,
        payment_id=payment.payment_id,
        payment_event_id=event_id,
        recorded_at=now,
    )
    await repo.add_award(award)
    entitlement.paid_fen, entitlement.settled_at = payment.amount_fen, payment.issued_at
    return award


async def redetermine_after_payment(
    repo: Repository, *, payment: PaymentIssued, now: datetime
) -> list[EntitlementDetermined]:
    """Evaluate the paid policy again for the enterprise, now that the history knows the payment.

    Usually nothing changes. But a record that raised the award while the payment
    was in flight changed an entitlement the enterprise had already confirmed at the
    lower amount; once that lower amount is paid, the difference is owed under a
    tranche of its own (`<group>#2`), and only this re-evaluation finds it.
    """
    held = await repo.get_policy(payment.policy_id)
    if held is None or held.status != "published":
        return []
    policy = _compiled_for(held)
    facts = await repo.active_facts_of([payment.uscc], policy.input_record_types)
    return await _redetermine(
        repo,
        uscc=payment.uscc,
        enterprise_name=_name_from(facts),
        policies=[policy],
        facts=facts,
        entitlements=await repo.entitlements_of([payment.uscc], [policy.id]),
        history=prior_awards(await repo.history_of([payment.uscc], [policy.id])).get(payment.uscc, {}),
        now=now,
        withdrawal_reason="兑现后重新比对，企业不再符合条件，",
    )


# --- "why (not)?" ---------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyAssessment:
    """The engine's answer for one enterprise under one policy, with what it rested on."""

    uscc: str
    assessment: rules.Assessment
    facts: list[Fact]
    history: list[AwardHistory]


async def assess(repo: Repository, *, uscc: str, policy_id: str) -> PolicyAssessment:
    held = await repo.get_policy(policy_id)
    if held is None or held.status != "published":
        raise ProblemError(404, "policy_not_found", f"未找到已发布的政策：{policy_id}")
    policy = _compiled_for(held)
    facts = sorted(
        await repo.active_facts_of([uscc], policy.input_record_types), key=lambda f: (f.effective_date, f.record_id)
    )
    history = await repo.history_of([uscc], [policy.id])
    prior = prior_awards(history).get(uscc, {}).get(policy.id, [])
    try:
        result = rules.assess(policy, uscc=uscc, facts=_as_rule_facts(facts), history=prior)
    except rules.PolicyEvaluationError as exc:
        raise ProblemError(
            500,
            "policy_evaluation_failed",
            f"政策 {policy.id} 第 {policy.version} 版无法适用于该企业的数据：{exc}",
        ) from exc
    return PolicyAssessment(uscc=uscc, assessment=result, facts=facts, history=history)


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
