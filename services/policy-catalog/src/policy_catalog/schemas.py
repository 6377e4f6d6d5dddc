from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from policy_catalog.models import PolicyVersion


class PolicyRetire(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="废止原因")


class PolicySummaryRead(BaseModel):
    policy_id: str
    version: int
    title: str
    list_no: str | None = Field(description="清单编号")
    lead_department: str | None = Field(description="牵头部门")
    legal_basis: str | None = Field(description="政策依据")
    benefit_kind: str
    effective_from: date | None
    effective_to: date | None

    @classmethod
    def of(cls, policy: PolicyVersion) -> PolicySummaryRead:
        return cls(policy_id=policy.policy_id, version=policy.version, **_document_summary(policy))


class PolicyRead(PolicySummaryRead):
    status: str
    published_at: datetime | None
    document: dict[str, Any]

    @classmethod
    def of(cls, policy: PolicyVersion) -> PolicyRead:
        return cls(
            policy_id=policy.policy_id,
            version=policy.version,
            status=policy.status,
            published_at=policy.published_at,
            document=policy.document,
            **_document_summary(policy),
        )


class PolicyVersionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    policy_id: str
    version: int
    status: str
    title: str
    created_at: datetime
    published_at: datetime | None
    retired_at: datetime | None
    retired_reason: str | None


def _document_summary(policy: PolicyVersion) -> dict[str, Any]:
    doc = policy.document
    window = doc.get("effective") or {}
    return {
        "title": policy.title,
        "benefit_kind": policy.benefit_kind,
        "list_no": _text(doc.get("list_no")),
        "lead_department": _text(doc.get("lead_department")),
        "legal_basis": _text(doc.get("legal_basis")),
        "effective_from": window.get("from"),
        "effective_to": window.get("to"),
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
