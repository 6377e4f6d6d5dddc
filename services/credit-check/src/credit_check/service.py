"""守信激励、失信惩戒 — the credit gate in front of every payment.

A listed (失信) enterprise is held, not paid: each acceptance is assessed against
the credit records in force on the day, and the decision keeps the records it
rested on (black ones as reasons, red ones — 守信激励 — alongside).

Validity of a credit record: in force on every day d with effective_date <= d <
expires_on — the effective date counts, the expiry date (失效日期) is the first day
it no longer does; payment's replica applies the same rule. Without `expires_on` it
counts until the credit department removes it. A record whose expiry is not after
its effective date would never be in force and is refused.

A hold is released, with a new assessment of the same acceptance, as soon as no
black record is in force any more: at once when a record is removed or corrected
(in the same transaction), by the periodic sweep when one expires. Every change to
an enterprise's records is announced as `credit.standing_changed` with every record
in force or scheduled, so payment keeps a replica and decides by date itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, Protocol

from credit_check.models import Acceptance, Assessment, CreditRecord
from mianshen_shared.city import City
from mianshen_shared.events.catalog import (
    ConfirmationAccepted,
    ConfirmationRevoked,
    CreditAssessed,
    CreditRecordRef,
    CreditStandingChanged,
    DepartmentRecordSubmitted,
)
from mianshen_shared.messaging import Rejected
from mianshen_shared.problems import ProblemError

Decision = Literal["cleared", "held"]
CreditEvent = CreditStandingChanged | CreditAssessed


class Repository(Protocol):
    async def get_record(self, record_id: str) -> CreditRecord | None: ...
    async def add_record(self, record: CreditRecord) -> None: ...
    async def records_for(self, uscc: str) -> list[CreditRecord]: ...
    async def active_records(self, uscc: str, on: date, list_kind: str) -> list[CreditRecord]: ...
    async def standing_records(self, uscc: str, on: date) -> list[CreditRecord]: ...
    async def get_acceptance(self, acceptance_id: uuid.UUID) -> Acceptance | None: ...
    async def add_acceptance(self, acceptance: Acceptance) -> None: ...
    async def get_assessment(self, assessment_id: uuid.UUID) -> Assessment | None: ...
    async def add_assessment(self, assessment: Assessment) -> None: ...
    async def held_acceptances_of(self, uscc: str) -> list[Acceptance]: ...
    async def releasable_acceptances(self, on: date, *, limit: int) -> list[Acceptance]: ...
    async def assessments_for(self, uscc: str) -> list[Assessment]: ...
    async def assessments_of_entitlement(
        self, entitlement_id: uuid.UUID, uscc: str | None = None
    ) -> list[Assessment]: ...


def is_credit_record(city: City, record_type: str) -> bool:
    rt = city.record_types.get(record_type)
    return rt is not None and rt.credit_list is not None


def in_force(record: CreditRecord, on: date) -> bool:
    """The validity rule of the module docstring, for one record on one day."""
    return (
        record.revoked_at is None
        and record.effective_date <= on
        and (record.expires_on is None or record.expires_on > on)
    )


def ref(record: CreditRecord) -> CreditRecordRef:
    return CreditRecordRef(
        record_id=record.record_id,
        list_type=record.record_type,
        department=record.department,
        effective_date=record.effective_date,
        expires_on=record.expires_on,
    )


def _expiry(record: DepartmentRecordSubmitted) -> date | None:
    raw = record.attributes.get("expires_on")
    if not raw:
        return None
    try:
        expires = date.fromisoformat(str(raw))
    except ValueError as exc:
        raise Rejected("invalid_attributes", f"信用记录 {record.record_id} 的失效日期格式应为YYYY-MM-DD") from exc
    if expires <= record.effective_date:
        raise Rejected(
            "invalid_validity",
            f"信用记录 {record.record_id} 的失效日期（{expires.isoformat()}）应晚于生效日期"
            f"（{record.effective_date.isoformat()}），否则该记录从未生效",
        )
    return expires


# --- records -----------------------------------------------------------------------


async def record_credit(
    repo: Repository, *, city: City, record: DepartmentRecordSubmitted, today: date, now: datetime
) -> list[CreditEvent]:
    """Store, correct or remove one credit record; returns what to announce: the
    standing of each enterprise whose records changed, and the holds this released.
    A record told again unchanged announces nothing."""
    existing = await repo.get_record(record.record_id)
    if record.action == "revoke":
        if existing is None or existing.revoked_at is not None:
            return []
        existing.revoked_at = now
        return await _changed(repo, {existing.uscc}, today=today, now=now)
    list_kind = city.record_types[record.record_type].credit_list
    assert list_kind is not None
    errors = city.attribute_errors(record.record_type, record.attributes)
    if errors:
        raise Rejected("invalid_attributes", "信用记录属性不合法：" + "；".join(errors))
    fields: dict[str, Any] = {
        "uscc": record.uscc,
        "record_type": record.record_type,
        "list_kind": list_kind,
        "department": record.department,
        "effective_date": record.effective_date,
        "expires_on": _expiry(record),
        "attributes": record.attributes,
        "revoked_at": None,
    }
    if existing is None:
        await repo.add_record(CreditRecord(record_id=record.record_id, received_at=now, **fields))
        return await _changed(repo, {record.uscc}, today=today, now=now)
    if all(getattr(existing, key) == value for key, value in fields.items()):
        return []
    # A correction may move a record to another enterprise: both standings changed.
    affected = {existing.uscc, record.uscc}
    for key, value in fields.items():
        setattr(existing, key, value)
    existing.received_at = now
    return await _changed(repo, affected, today=today, now=now)


async def _changed(repo: Repository, usccs: set[str], *, today: date, now: datetime) -> list[CreditEvent]:
    out: list[CreditEvent] = []
    for uscc in sorted(usccs):
        out.append(await standing(repo, uscc=uscc, today=today, now=now))
        out += await release_held(repo, uscc=uscc, today=today, now=now)
    return out


async def standing(repo: Repository, *, uscc: str, today: date, now: datetime) -> CreditStandingChanged:
    """Every record of the enterprise in force today or starting later, with its dates."""
    records = await repo.standing_records(uscc, today)
    return CreditStandingChanged(
        uscc=uscc,
        black_records=[ref(r) for r in records if r.list_kind == "black"],
        red_records=[ref(r) for r in records if r.list_kind == "red"],
        changed_at=now,
    )


# --- assessments ------------------------------------------------------------------


async def assess(repo: Repository, *, accepted: ConfirmationAccepted, today: date, now: datetime) -> CreditAssessed:
    """Decide cleared / held for one acceptance. The same acceptance told again gets the
    decision in force for it (the first, or the release that followed), never a new one."""
    held = await repo.get_acceptance(accepted.acceptance_id)
    if held is not None:
        current = await repo.get_assessment(held.assessment_id)
        assert current is not None
        return _announce(ConfirmationAccepted.model_validate(held.accepted), current)
    black = await repo.active_records(accepted.uscc, today, "black")
    red = await repo.active_records(accepted.uscc, today, "red")
    assessment = _assessment(accepted, "held" if black else "cleared", black, red, now=now, supersedes=None)
    await repo.add_assessment(assessment)
    await repo.add_acceptance(
        Acceptance(
            acceptance_id=accepted.acceptance_id,
            confirmation_id=accepted.confirmation_id,
            entitlement_id=accepted.entitlement_id,
            uscc=accepted.uscc,
            accepted=accepted.model_dump(mode="json"),
            decision=assessment.decision,
            assessment_id=assessment.assessment_id,
            revoked_at=None,
            updated_at=now,
        )
    )
    return _announce(accepted, assessment)


async def acceptance_revoked(repo: Repository, *, revoked: ConfirmationRevoked) -> None:
    """The enterprise withdrew its acceptance: a hold on it is never released."""
    acceptance = await repo.get_acceptance(revoked.acceptance_id)
    if acceptance is None:
        return  # never assessed (its acceptance was refused): nothing is held
    if (acceptance.uscc, acceptance.entitlement_id) != (revoked.uscc, revoked.entitlement_id):
        raise Rejected(
            "acceptance_mismatch",
            f"撤回的确认 {revoked.acceptance_id} 与已登记的企业或待遇（{acceptance.uscc}，"
            f"{acceptance.entitlement_id}）不一致",
        )
    if acceptance.revoked_at is None:
        acceptance.revoked_at = revoked.revoked_at


async def release_held(repo: Repository, *, uscc: str, today: date, now: datetime) -> list[CreditAssessed]:
    """Release the enterprise's holds if no black record is in force today."""
    held = await repo.held_acceptances_of(uscc)
    if not held or await repo.active_records(uscc, today, "black"):
        return []
    red = await repo.active_records(uscc, today, "red")
    return [await _release(repo, acceptance, red, now=now) for acceptance in held]


async def release_expired(repo: Repository, *, today: date, now: datetime, limit: int) -> list[CreditAssessed]:
    """The sweep: holds whose black records have all expired (today or earlier), up to `limit`."""
    out = []
    for acceptance in await repo.releasable_acceptances(today, limit=limit):
        red = await repo.active_records(acceptance.uscc, today, "red")
        out.append(await _release(repo, acceptance, red, now=now))
    return out


async def _release(
    repo: Repository, acceptance: Acceptance, red: Sequence[CreditRecord], *, now: datetime
) -> CreditAssessed:
    accepted = ConfirmationAccepted.model_validate(acceptance.accepted)
    assessment = _assessment(accepted, "cleared", [], red, now=now, supersedes=acceptance.assessment_id)
    await repo.add_assessment(assessment)
    acceptance.decision, acceptance.assessment_id, acceptance.updated_at = "cleared", assessment.assessment_id, now
    return _announce(accepted, assessment)


def _assessment(
    accepted: ConfirmationAccepted,
    decision: Decision,
    black: Sequence[CreditRecord],
    red: Sequence[CreditRecord],
    *,
    now: datetime,
    supersedes: uuid.UUID | None,
) -> Assessment:
    return Assessment(
        assessment_id=uuid.uuid4(),
        confirmation_id=accepted.confirmation_id,
        acceptance_id=accepted.acceptance_id,
        entitlement_id=accepted.entitlement_id,
        uscc=accepted.uscc,
        decision=decision,
        reasons=[ref(r).model_dump(mode="json") for r in black],
        red_records=[ref(r).model_dump(mode="json") for r in red],
        supersedes=supersedes,
        assessed_at=now,
    )


def _announce(accepted: ConfirmationAccepted, assessment: Assessment) -> CreditAssessed:
    return CreditAssessed(
        assessment_id=assessment.assessment_id,
        confirmation_id=accepted.confirmation_id,
        acceptance_id=accepted.acceptance_id,
        entitlement_id=accepted.entitlement_id,
        uscc=accepted.uscc,
        enterprise_name=accepted.enterprise_name,
        policy_id=accepted.policy_id,
        policy_version=accepted.policy_version,
        amount_fen=accepted.amount_fen,
        benefit_kind=accepted.benefit_kind,
        bank_account=accepted.bank_account,
        decision=assessment.decision,  # type: ignore[arg-type]
        reasons=[CreditRecordRef.model_validate(r) for r in assessment.reasons],
        red_records=[CreditRecordRef.model_validate(r) for r in assessment.red_records or []],
        assessed_at=assessment.assessed_at,
    )


# --- reading ------------------------------------------------------------------------


@dataclass(frozen=True)
class CreditStatus:
    uscc: str
    today: date
    records: list[CreditRecord]
    assessments: list[Assessment]

    def in_force(self, list_kind: str) -> list[CreditRecord]:
        return [r for r in self.records if r.list_kind == list_kind and in_force(r, self.today)]

    def standing(self, list_kind: str) -> list[CreditRecord]:
        return [
            r
            for r in self.records
            if r.list_kind == list_kind and r.revoked_at is None and (r.expires_on is None or r.expires_on > self.today)
        ]


async def credit_status(repo: Repository, *, uscc: str, today: date) -> CreditStatus:
    return CreditStatus(uscc, today, await repo.records_for(uscc), await repo.assessments_for(uscc))


async def entitlement_assessments(
    repo: Repository, *, entitlement_id: uuid.UUID, uscc: str | None = None
) -> list[Assessment]:
    """Every decision on the entitlement, oldest first; 404 when there is none (for an
    enterprise: none of its own)."""
    found = await repo.assessments_of_entitlement(entitlement_id, uscc)
    if not found:
        raise ProblemError(404, "assessment_not_found", "未找到该待遇的信用核查记录")
    return found
