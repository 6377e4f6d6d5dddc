from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, computed_field

from policy_catalog import service
from policy_catalog.models import PolicyVersion


def _as_utc(value: datetime) -> datetime:
    # SQLite (the quick-start database) hands timestamps back without their zone; they were stored in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


class PolicyRetire(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="废止原因")


class PolicyReturn(BaseModel):
    """Sending a submitted version back to draft (撤回 or 退回)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="撤回或退回的原因")


class PolicyPublish(BaseModel):
    model_config = ConfigDict(extra="forbid")

    effective_from: date | None = Field(
        default=None, description="本版本生效日期（不早于今天）；缺省为今天与政策执行起始日中较晚者"
    )


class LegalBasisRead(BaseModel):
    title: str = Field(description="政策文件名称")
    number: str = Field(description="文号")


class PolicySummaryRead(BaseModel):
    policy_id: str
    version: int
    title: str
    batch: str = Field(description="政策清单批次")
    list_no: int = Field(description="在该批清单中的序号")
    lead_department: str = Field(description="牵头部门")
    legal_basis: LegalBasisRead = Field(description="政策依据")
    benefit_kind: str
    effective_from: date | None = Field(description="政策执行期限起始日（政策文件所载）")
    effective_to: date | None = Field(description="政策执行期限截止日（政策文件所载）")
    version_effective_from: date | None = Field(description="本版本生效日期：自该日起取代上一版本")

    @classmethod
    def of(cls, policy: PolicyVersion) -> PolicySummaryRead:
        return cls(policy_id=policy.policy_id, version=policy.version, **_document_summary(policy))


class PolicyRead(PolicySummaryRead):
    status: str = Field(description="draft / submitted / published / retired")
    published_at: UtcDatetime | None
    retired_at: UtcDatetime | None
    document: dict[str, Any]

    @classmethod
    def of(cls, policy: PolicyVersion) -> PolicyRead:
        return cls(
            policy_id=policy.policy_id,
            version=policy.version,
            status=policy.status,
            published_at=policy.published_at,
            retired_at=policy.retired_at,
            document=policy.document,
            **_document_summary(policy),
        )


class PolicyVersionRead(BaseModel):
    """One version as operators see it: its status and who moved it there."""

    model_config = ConfigDict(from_attributes=True)

    policy_id: str
    version: int
    status: str
    title: str
    created_at: UtcDatetime
    created_by: str | None
    submitted_at: UtcDatetime | None
    submitted_by: str | None
    published_at: UtcDatetime | None
    published_by: str | None
    effective_from: date | None = Field(description="本版本生效日期")
    announced_at: UtcDatetime | None = Field(description="向数据比对发出本版本的时间；已发布但尚未到生效日期的版本为空")
    retired_at: UtcDatetime | None
    retired_by: str | None
    retired_reason: str | None

    @computed_field(description="状态说明，如“已发布，2027-01-01起施行”")  # type: ignore[prop-decorator]
    @property
    def status_text(self) -> str:
        return service.status_text(self.status, effective_from=self.effective_from, announced_at=self.announced_at)


class PolicyTransitionRead(BaseModel):
    """One step in a version's history."""

    model_config = ConfigDict(from_attributes=True)

    action: str = Field(description="create / edit / submit / withdraw / reject / publish / retire")
    from_status: str | None = Field(description="之前的状态；创建时为空")
    to_status: str
    actor: str = Field(description="操作人员编号")
    at: UtcDatetime
    reason: str | None


def _document_summary(policy: PolicyVersion) -> dict[str, Any]:
    """The catalogue columns, read from a document that compile_policy already validated."""
    doc = policy.document
    window = doc["effective"]
    return {
        "title": policy.title,
        "benefit_kind": policy.benefit_kind,
        "batch": doc["batch"],
        "list_no": doc["list_no"],
        "lead_department": doc["lead_department"],
        "legal_basis": doc["legal_basis"],
        "effective_from": window["from"],
        "effective_to": window.get("to"),
        "version_effective_from": policy.effective_from,
    }


class PolicyVersionDetailRead(PolicyVersionRead):
    """A version with its document: what a reviewer reads before publishing."""

    document: dict[str, Any]
