"""守信激励、失信惩戒 — the credit gate in front of every payment.

A listed (失信) enterprise is held, not paid: an accepted entitlement is assessed
against the credit records in force on the day, and the decision keeps the
records it rested on.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Protocol

from credit_check.models import Assessment, CreditRecord
from mianshen_shared.city import City
from mianshen_shared.events.catalog import (
    ConfirmationAccepted,
    CreditAssessed,
    CreditRecordRef,
    DepartmentRecordSubmitted,
)
from mianshen_shared.messaging import Rejected


class Repository(Protocol):
    async def get_record(self, record_id: str) -> CreditRecord | None: ...
    async def add_record(self, record: CreditRecord) -> None: ...
    async def active_records(self, uscc: str, on: date, list_kind: str) -> list[CreditRecord]: ...
    async def assessment_for_confirmation(self, confirmation_id: uuid.UUID) -> Assessment | None: ...
    async def add_assessment(self, assessment: Assessment) -> None: ...


def is_credit_record(city: City, record_type: str) -> bool:
    rt = city.record_types.get(record_type)
    return rt is not None and rt.credit_list is not None


async def record_credit(repo: Repository, *, city: City, record: DepartmentRecordSubmitted, now: datetime) -> None:
    """Store (or revoke) one credit record. Later versions of a record replace earlier ones."""
    list_kind = city.record_types[record.record_type].credit_list
    assert list_kind is not None
    errors = city.attribute_errors(record.record_type, record.attributes)
    if errors:
        raise Rejected("invalid_attributes", "信用记录属性不合法：" + "；".join(errors))
    existing = await repo.get_record(record.record_id)
    if record.action == "revoke":
        if existing is not None and existing.revoked_at is None:
            existing.revoked_at = now
        return
    expires = record.attributes.get("expires_on")
    fields = {
        "uscc": record.uscc,
        "record_type": record.record_type,
        "list_kind": list_kind,
        "department": record.department,
        "effective_date": record.effective_date,
        "expires_on": date.fromisoformat(expires) if expires else None,
        "attributes": record.attributes,
        "revoked_at": None,
        "received_at": now,
    }
    if existing is None:
        await repo.add_record(CreditRecord(record_id=record.record_id, **fields))
    else:
        for key, value in fields.items():
            setattr(existing, key, value)


async def assess(repo: Repository, *, accepted: ConfirmationAccepted, today: date, now: datetime) -> CreditAssessed:
    """Decide cleared / held for one accepted entitlement. Re-assessing the same
    confirmation returns the decision already made, so a redelivery cannot flip it."""
    previous = await repo.assessment_for_confirmation(accepted.confirmation_id)
    if previous is not None:
        decision, reasons, assessment_id, at = (
            previous.decision,
            [CreditRecordRef.model_validate(r) for r in previous.reasons],
            previous.assessment_id,
            previous.assessed_at,
        )
    else:
        listed = await repo.active_records(accepted.uscc, today, "black")
        reasons = [
            CreditRecordRef(
                record_id=r.record_id,
                list_type=r.record_type,
                department=r.department,
                effective_date=r.effective_date,
                expires_on=r.expires_on,
            )
            for r in listed
        ]
        decision = "held" if reasons else "cleared"
        assessment_id, at = uuid.uuid4(), now
        await repo.add_assessment(
            Assessment(
                assessment_id=assessment_id,
                confirmation_id=accepted.confirmation_id,
                entitlement_id=accepted.entitlement_id,
                uscc=accepted.uscc,
                decision=decision,
                reasons=[r.model_dump(mode="json") for r in reasons],
                assessed_at=at,
            )
        )
    return CreditAssessed(
        assessment_id=assessment_id,
        confirmation_id=accepted.confirmation_id,
        entitlement_id=accepted.entitlement_id,
        uscc=accepted.uscc,
        enterprise_name=accepted.enterprise_name,
        policy_id=accepted.policy_id,
        policy_version=accepted.policy_version,
        amount_fen=accepted.amount_fen,
        bank_account=accepted.bank_account,
        decision=decision,  # type: ignore[arg-type]
        reasons=reasons,
        assessed_at=at,
    )
