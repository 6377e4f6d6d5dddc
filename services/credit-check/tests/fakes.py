from __future__ import annotations

import uuid
from datetime import date

from credit_check import service
from credit_check.models import Acceptance, Assessment, CreditRecord


class FakeCreditRepository:
    """In-memory stand-in for CreditRepository with the same rules of visibility."""

    def __init__(self) -> None:
        self.records: dict[str, CreditRecord] = {}
        self.acceptances: dict[uuid.UUID, Acceptance] = {}
        self.assessments: dict[uuid.UUID, Assessment] = {}

    async def get_record(self, record_id: str) -> CreditRecord | None:
        return self.records.get(record_id)

    async def add_record(self, record: CreditRecord) -> None:
        self.records[record.record_id] = record

    async def records_for(self, uscc: str) -> list[CreditRecord]:
        return sorted(
            (r for r in self.records.values() if r.uscc == uscc), key=lambda r: (r.effective_date, r.record_id)
        )

    async def active_records(self, uscc: str, on: date, list_kind: str) -> list[CreditRecord]:
        return [r for r in await self.records_for(uscc) if r.list_kind == list_kind and service.in_force(r, on)]

    async def standing_records(self, uscc: str, on: date) -> list[CreditRecord]:
        return [
            r
            for r in await self.records_for(uscc)
            if r.revoked_at is None and (r.expires_on is None or r.expires_on > on)
        ]

    async def get_acceptance(self, acceptance_id: uuid.UUID) -> Acceptance | None:
        return self.acceptances.get(acceptance_id)

    async def add_acceptance(self, acceptance: Acceptance) -> None:
        self.acceptances[acceptance.acceptance_id] = acceptance

    async def get_assessment(self, assessment_id: uuid.UUID) -> Assessment | None:
        return self.assessments.get(assessment_id)

    async def add_assessment(self, assessment: Assessment) -> None:
        self.assessments[assessment.assessment_id] = assessment

    async def held_acceptances_of(self, uscc: str) -> list[Acceptance]:
        return sorted(
            (a for a in self.acceptances.values() if a.uscc == uscc and a.decision == "held" and a.revoked_at is None),
            key=lambda a: a.acceptance_id,
        )

    async def releasable_acceptances(self, on: date, *, limit: int) -> list[Acceptance]:
        held = sorted(
            (a for a in self.acceptances.values() if a.decision == "held" and a.revoked_at is None),
            key=lambda a: a.acceptance_id,
        )
        return [a for a in held if not await self.active_records(a.uscc, on, "black")][:limit]

    async def assessments_for(self, uscc: str) -> list[Assessment]:
        return [a for a in self.assessments.values() if a.uscc == uscc]

    async def assessments_of_entitlement(self, entitlement_id: uuid.UUID, uscc: str | None = None) -> list[Assessment]:
        return [
            a
            for a in self.assessments.values()
            if a.entitlement_id == entitlement_id and (uscc is None or a.uscc == uscc)
        ]
