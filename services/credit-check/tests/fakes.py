from __future__ import annotations

import uuid
from datetime import date

from credit_check.models import Assessment, CreditRecord


class FakeCreditRepository:
    """In-memory stand-in for CreditRepository with the same rules of visibility."""

    def __init__(self) -> None:
        self.records: dict[str, CreditRecord] = {}
        self.assessments: dict[uuid.UUID, Assessment] = {}

    async def get_record(self, record_id: str) -> CreditRecord | None:
        return self.records.get(record_id)

    async def add_record(self, record: CreditRecord) -> None:
        self.records[record.record_id] = record

    async def active_records(self, uscc: str, on: date, list_kind: str) -> list[CreditRecord]:
        return [
            r
            for r in self.records.values()
            if r.uscc == uscc
            and r.list_kind == list_kind
            and r.revoked_at is None
            and r.effective_date <= on
            and (r.expires_on is None or r.expires_on > on)
        ]

    async def assessment_for_confirmation(self, confirmation_id: uuid.UUID) -> Assessment | None:
        return self.assessments.get(confirmation_id)

    async def add_assessment(self, assessment: Assessment) -> None:
        self.assessments[assessment.confirmation_id] = assessment
