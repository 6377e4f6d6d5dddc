from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from confirmation.models import Confirmation, Entitlement, StatusEvent
from confirmation.service import ConfirmationView, EntitlementDetail, EntitlementStatus, mask_account_number
from mianshen_shared.events.catalog import BankAccount

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class BankAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_name: Text = Field(description="开户名称")
    account_number: str = Field(pattern=r"^[0-9]{8,32}$", description="银行账号（8至32位数字）")
    bank_name: Text = Field(description="开户银行")

    def to_event(self) -> BankAccount:
        return BankAccount(**self.model_dump())


class ConfirmationAccept(BaseModel):
    """The enterprise accepts; amount and status are never its to set."""

    model_config = ConfigDict(extra="forbid")

    bank_account: BankAccountIn


class ConfirmationDecline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] = Field(
        description="放弃申领的原因"
    )


class BankAccountMasked(BaseModel):
    account_name: str
    account_number: str = Field(description="脱敏后的银行账号")
    bank_name: str

    @classmethod
    def of(cls, confirmation: Confirmation) -> BankAccountMasked | None:
        if confirmation.account_number is None:
            return None
        return cls(
            account_name=confirmation.account_name or "",
            account_number=mask_account_number(confirmation.account_number),
            bank_name=confirmation.bank_name or "",
        )


class ConfirmationSummary(BaseModel):
    confirmation_id: uuid.UUID
    entitlement_id: uuid.UUID
    policy_id: str
    policy_title: str
    amount_fen: int
    deadline: date
    status: str

    @classmethod
    def of(cls, view: ConfirmationView) -> ConfirmationSummary:
        c, e = view.confirmation, view.entitlement
        return cls(
            confirmation_id=c.confirmation_id,
            entitlement_id=c.entitlement_id,
            policy_id=e.policy_id,
            policy_title=e.policy_title,
            amount_fen=c.amount_fen,
            deadline=c.deadline,
            status=view.status.value,
        )


class ConfirmationRead(ConfirmationSummary):
    bank_account: BankAccountMasked | None
    decline_reason: str | None
    close_reason: str | None
    answered_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, view: ConfirmationView) -> ConfirmationRead:
        c = view.confirmation
        return cls(
            **ConfirmationSummary.of(view).model_dump(),
            bank_account=BankAccountMasked.of(c),
            decline_reason=c.decline_reason,
            close_reason=c.close_reason,
            answered_at=c.answered_at,
            created_at=c.created_at,
        )


class ConfirmationList(BaseModel):
    items: list[ConfirmationSummary]


class EntitlementSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    entitlement_id: uuid.UUID
    policy_id: str
    policy_title: str
    policy_version: int
    award_key: str
    amount_fen: int
    status: str
    status_text: str = Field(description="状态的中文说明，供前端展示")
    updated_at: datetime

    @classmethod
    def of(cls, entitlement: Entitlement) -> EntitlementSummary:
        return cls(
            entitlement_id=entitlement.entitlement_id,
            policy_id=entitlement.policy_id,
            policy_title=entitlement.policy_title,
            policy_version=entitlement.policy_version,
            award_key=entitlement.award_key,
            amount_fen=entitlement.amount_fen,
            status=entitlement.status,
            status_text=EntitlementStatus(entitlement.status).text,
            updated_at=entitlement.updated_at,
        )


class EntitlementList(BaseModel):
    items: list[EntitlementSummary]


class StatusEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    status: str
    kind: str
    note: str
    details: dict[str, Any]
    occurred_at: datetime

    @classmethod
    def of(cls, event: StatusEvent) -> StatusEventRead:
        return cls.model_validate(event)


class EntitlementRead(EntitlementSummary):
    uscc: str
    enterprise_name: str | None
    benefit_kind: str
    explanation: dict[str, Any]
    determined_at: datetime
    payment_id: uuid.UUID | None
    finance_reference: str | None
    confirmation: ConfirmationRead | None
    history: list[StatusEventRead]

    @classmethod
    def of_detail(cls, detail: EntitlementDetail) -> EntitlementRead:
        return cls(
            **EntitlementSummary.of(detail.entitlement).model_dump(),
            uscc=detail.entitlement.uscc,
            enterprise_name=detail.entitlement.enterprise_name,
            benefit_kind=detail.entitlement.benefit_kind,
            explanation=detail.entitlement.explanation,
            determined_at=detail.entitlement.determined_at,
            payment_id=detail.entitlement.payment_id,
            finance_reference=detail.entitlement.finance_reference,
            confirmation=ConfirmationRead.of(detail.confirmation) if detail.confirmation else None,
            history=[StatusEventRead.of(e) for e in detail.history],
        )
