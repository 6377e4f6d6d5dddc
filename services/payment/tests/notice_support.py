"""Factories and an in-memory repository for the 公示 / objection / cancellation tests."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from mianshen_shared import testing
from mianshen_shared.events.catalog import (
    ConfirmationRevoked,
    CreditAssessed,
    CreditRecordRef,
    PolicyPublished,
    SealedBankAccount,
)
from mianshen_shared.sealing import Sealer, mask_account_number
from payment.models import (
    IN_NOTICE,
    OBJECTION_OPEN,
    UNCLAIMABLE_STAGES,
    NoticeObjection,
    Payment,
    PolicyTerms,
    RevokedAcceptance,
)

from .fakes import FakePaymentRepository

POLICY_ID = "zz-2022-02-specialized-sme-award"
_SEALER = Sealer.from_config("")


def account(number: str = "6222020200001234567", *, name: str = "郑州示例科技有限公司") -> SealedBankAccount:
    return SealedBankAccount(
        account_name=name,
        account_number_masked=mask_account_number(number),
        account_number_sealed=_SEALER.seal(number),
        bank_name="中国工商银行郑州分行",
    )


def red_record() -> CreditRecordRef:
    return CreditRecordRef(
        record_id="red-8", list_type="credit.a_level_taxpayer", department="tax", effective_date=date(2025, 4, 1)
    )


def assessed(
    uscc: str | None = None,
    *,
    decision: str = "cleared",
    entitlement_id: uuid.UUID | None = None,
    acceptance_id: uuid.UUID | None = None,
    amount_fen: int = 150_000,
    policy_id: str = POLICY_ID,
    policy_version: int = 1,
    red: bool = False,
    bank_account: SealedBankAccount | None = None,
) -> CreditAssessed:
    held = [
        CreditRecordRef(
            record_id="credit-77",
            list_type="credit.dishonest_judgment_debtor",
            department="credit",
            effective_date=date(2022, 1, 1),
        )
    ]
    return CreditAssessed(
        assessment_id=uuid.uuid4(),
        confirmation_id=uuid.uuid4(),
        acceptance_id=acceptance_id or uuid.uuid4(),
        entitlement_id=entitlement_id or uuid.uuid4(),
        uscc=uscc or testing.make_uscc(),
        enterprise_name="郑州示例科技有限公司",
        policy_id=policy_id,
        policy_version=policy_version,
        amount_fen=amount_fen,
        bank_account=bank_account or account(),
        decision=decision,  # type: ignore[arg-type]
        reasons=held if decision == "held" else [],
        red_records=[red_record()] if red else [],
        assessed_at=datetime.now(UTC),
    )


def published(
    *,
    policy_id: str = POLICY_ID,
    version: int = 1,
    procedure: dict[str, Any] | None = None,
    kind: str = "cash_award",
    title: str = "郑州市专精特新中小企业奖励",
) -> PolicyPublished:
    document: dict[str, Any] = {"benefit": {"kind": kind}}
    if procedure is not None:
        document["procedure"] = procedure
    return PolicyPublished(
        policy_id=policy_id, version=version, title=title, document=document, published_at=datetime.now(UTC)
    )


def revoked(of: CreditAssessed, *, reason: str = "企业决定暂不申领") -> ConfirmationRevoked:
    return ConfirmationRevoked(
        uscc=of.uscc,
        confirmation_id=of.confirmation_id,
        acceptance_id=of.acceptance_id,
        entitlement_id=of.entitlement_id,
        reason=reason,
        revoked_at=datetime.now(UTC),
    )


class FakeNoticeRepository(FakePaymentRepository):
    """FakePaymentRepository plus what notice and terms ask, with the same answers as
    NoticeRepository: a payment in notice or under objection is never claimed."""

    def __init__(self) -> None:
        super().__init__()
        self.objections: dict[uuid.UUID, NoticeObjection] = {}
        self.revoked: dict[uuid.UUID, RevokedAcceptance] = {}
        self.policy_terms: dict[tuple[str, int], PolicyTerms] = {}

    async def by_entitlement_for_update(self, entitlement_id: uuid.UUID) -> Payment | None:
        return await self.by_entitlement(entitlement_id)

    async def claim_due(self, now: datetime, limit: int) -> list[Payment]:
        due = await super().claim_due(now, len(self.payments) + 1)
        gated = [
            p
            for p in due
            if p.stage not in UNCLAIMABLE_STAGES and (p.notice_ends_at is None or p.notice_ends_at <= now)
        ]
        return gated[:limit]

    async def notices_ended(self, now: datetime, limit: int) -> list[Payment]:
        ended = [
            p
            for p in self.payments.values()
            if p.stage == IN_NOTICE and p.notice_ends_at is not None and p.notice_ends_at <= now
        ]
        return ended[:limit]

    async def add_objection(self, objection: NoticeObjection) -> None:
        self.objections[objection.objection_id] = objection

    async def objection_for_update(self, objection_id: uuid.UUID) -> NoticeObjection | None:
        return self.objections.get(objection_id)

    async def open_objections(self, payment_id: uuid.UUID) -> list[NoticeObjection]:
        return [o for o in self.objections.values() if o.payment_id == payment_id and o.status == OBJECTION_OPEN]

    async def add_revoked(self, revoked: RevokedAcceptance) -> None:
        self.revoked[revoked.acceptance_id] = revoked

    async def is_revoked(self, acceptance_id: uuid.UUID) -> bool:
        return acceptance_id in self.revoked

    async def terms(self, policy_id: str, version: int) -> PolicyTerms | None:
        return self.policy_terms.get((policy_id, version))

    async def latest_terms(self, policy_id: str) -> PolicyTerms | None:
        versions = [t for (p, _v), t in self.policy_terms.items() if p == policy_id]
        return max(versions, key=lambda t: t.version, default=None)

    async def add_terms(self, terms: PolicyTerms) -> None:
        self.policy_terms[(terms.policy_id, terms.version)] = terms
