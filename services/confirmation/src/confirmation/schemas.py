from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from confirmation.models import Confirmation, Entitlement, Notification, SavedBankAccount, StatusEvent
from confirmation.performance import (
    STUCK_ITEMS_LIMIT,
    PerformanceQuery,
    PerformanceReport,
    PolicyPerformance,
    StuckEntitlement,
)
from confirmation.service import AccountChoice, ConfirmationView, EntitlementDetail, status_text
from mianshen_shared.events.catalog import BankAccount
from mianshen_shared.money import format_yuan

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class BankAccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_name: Text = Field(description="开户名称")
    account_number: str = Field(pattern=r"^[0-9]{8,32}$", description="银行账号（8至32位数字）")
    bank_name: Text = Field(description="开户银行")

    def to_event(self) -> BankAccount:
        return BankAccount(**self.model_dump())


class ConfirmationAccept(BaseModel):
    """The enterprise accepts; amount and status are never its to set. A cash benefit
    needs an account: a new one, or one of the enterprise's saved accounts; a reduction
    (减免) takes neither."""

    model_config = ConfigDict(extra="forbid")

    bank_account: BankAccountIn | None = Field(default=None, description="新的收款账户")
    reuse_account_id: uuid.UUID | None = Field(default=None, description="使用已保存的收款账户（其编号）")

    @model_validator(mode="after")
    def _one_account(self) -> ConfirmationAccept:
        if self.bank_account is not None and self.reuse_account_id is not None:
            raise ValueError("bank_account 与 reuse_account_id 只能提供其一")
        return self

    def to_choice(self) -> AccountChoice:
        return AccountChoice(
            new=self.bank_account.to_event() if self.bank_account else None, saved_id=self.reuse_account_id
        )


class ConfirmationDecline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] = Field(
        description="放弃申领的原因"
    )


class BankAccountMasked(BaseModel):
    account_id: uuid.UUID | None = Field(default=None, description="已保存账户的编号，可用于下次确认")
    account_name: str
    account_number: str = Field(description="脱敏后的银行账号")
    bank_name: str

    @classmethod
    def of(cls, confirmation: Confirmation) -> BankAccountMasked | None:
        if confirmation.account_number_masked is None:
            return None
        return cls(
            account_id=confirmation.bank_account_id,
            account_name=confirmation.account_name or "",
            account_number=confirmation.account_number_masked,
            bank_name=confirmation.bank_name or "",
        )


class SavedBankAccountRead(BaseModel):
    account_id: uuid.UUID
    account_name: str
    account_number: str = Field(description="脱敏后的银行账号")
    bank_name: str
    last_used_at: datetime

    @classmethod
    def of(cls, account: SavedBankAccount) -> SavedBankAccountRead:
        return cls(
            account_id=account.account_id,
            account_name=account.account_name,
            account_number=account.account_number_masked,
            bank_name=account.bank_name,
            last_used_at=account.last_used_at,
        )


class SavedBankAccountList(BaseModel):
    items: list[SavedBankAccountRead]


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    notification_id: uuid.UUID
    uscc: str
    kind: str
    title: str
    message: str
    entitlement_id: uuid.UUID | None
    confirmation_id: uuid.UUID | None
    status: str = Field(description="pending 待发送、delivered 已送达、failed 发送失败")
    attempts: int
    delivered_to: list[str] = Field(description="已送达的前端（qinqing 亲清在线、zhenghaoban 郑好办）")
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, notification: Notification) -> NotificationRead:
        return cls.model_validate(notification)


class NotificationList(BaseModel):
    items: list[NotificationRead]


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
            status_text=status_text(entitlement),
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


# --- 绩效评估 -------------------------------------------------------------------------------


class PerformanceParams(BaseModel):
    """The report's query string. Unknown parameters are refused, so a misspelt
    `from` is an error instead of a silently different period."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    date_from: date | None = Field(
        default=None, alias="from", description="统计起始日期（北京时间，含），默认本年1月1日"
    )
    date_to: date | None = Field(default=None, alias="to", description="统计截止日期（北京时间，含），默认今天")
    policy_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)] | None = Field(
        default=None, description="只看某项政策"
    )
    stuck_days: int | None = Field(default=None, description="状态超过多少天未变化算滞留（1至365，默认7）")

    def to_query(self, *, today: date) -> PerformanceQuery:
        return PerformanceQuery.parse(
            date_from=self.date_from,
            date_to=self.date_to,
            policy_id=self.policy_id,
            stuck_days=self.stuck_days,
            today=today,
        )


def _tenths(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


class PolicyPerformanceRead(BaseModel):
    policy_id: str = Field(description="政策编号；合计行为空")
    policy_title: str
    enterprises_matched: int = Field(description="匹配企业数：本期有兑现资格比对确定的企业（按统一社会信用代码去重）")
    determined: int = Field(description="本期首次比对确定的兑现资格数")
    confirmed: int = Field(description="其中企业已确认申领的")
    declined: int = Field(description="其中企业放弃的")
    expired: int = Field(description="其中确认请求过期的")
    withdrawn: int = Field(description="其中资格已撤回的")
    paid: int = Field(description="其中已兑现的")
    paid_amount_fen: int = Field(description="其中已兑现的金额，单位：分")
    paid_amount_text: str
    open: int = Field(description="其中仍在办理中的")
    eligible: int = Field(description="应兑现数：比对确定且未撤回的现金类兑现资格")
    take_up_percent: str | None = Field(description="兑现率（%），一位小数；无应兑现数时为空")
    paid_in_period: int = Field(description="本期内资金到达的笔数（不论何时比对确定）")
    paid_in_period_amount_fen: int
    paid_in_period_amount_text: str
    median_days: str | None = Field(description="数据到达至资金到达用时的中位数（天），一位小数")
    p90_days: str | None = Field(description="同上，90分位数（天）")
    stuck: int = Field(description="滞留事项数")

    @classmethod
    def of(cls, row: PolicyPerformance) -> PolicyPerformanceRead:
        return cls(
            policy_id=row.policy_id,
            policy_title=row.policy_title,
            enterprises_matched=row.enterprises_matched,
            determined=row.determined,
            confirmed=row.confirmed,
            declined=row.declined,
            expired=row.expired,
            withdrawn=row.withdrawn,
            paid=row.paid,
            paid_amount_fen=row.paid_amount_fen,
            paid_amount_text=format_yuan(row.paid_amount_fen),
            open=row.open,
            eligible=row.eligible,
            take_up_percent=_tenths(row.take_up_percent),
            paid_in_period=row.paid_in_period,
            paid_in_period_amount_fen=row.paid_in_period_amount_fen,
            paid_in_period_amount_text=format_yuan(row.paid_in_period_amount_fen),
            median_days=_tenths(row.median_days),
            p90_days=_tenths(row.p90_days),
            stuck=row.stuck,
        )


class StuckEntitlementRead(BaseModel):
    entitlement_id: uuid.UUID
    uscc: str
    enterprise_name: str | None
    policy_id: str
    policy_title: str
    status: str
    reason: str = Field(description="滞留原因（中文）")
    since: datetime = Field(description="进入当前状态的时间")
    days: int = Field(description="状态未变化的整天数")

    @classmethod
    def of(cls, item: StuckEntitlement) -> StuckEntitlementRead:
        return cls(
            entitlement_id=item.entitlement_id,
            uscc=item.uscc,
            enterprise_name=item.enterprise_name,
            policy_id=item.policy_id,
            policy_title=item.policy_title,
            status=item.status,
            reason=item.reason,
            since=item.since,
            days=item.days,
        )


class StuckGroupRead(BaseModel):
    status: str
    reason: str
    count: int
    oldest: StuckEntitlementRead


class PerformancePeriod(BaseModel):
    date_from: date = Field(serialization_alias="from")
    date_to: date = Field(serialization_alias="to")
    policy_id: str | None
    stuck_days: int


class PerformanceRead(BaseModel):
    period: PerformancePeriod
    generated_at: datetime
    policies: list[PolicyPerformanceRead]
    total: PolicyPerformanceRead
    stuck: list[StuckGroupRead] = Field(description="滞留事项，按状态分组，附最早的一项")
    stuck_items: list[StuckEntitlementRead] = Field(description=f"滞留事项明细，最早的在前，至多{STUCK_ITEMS_LIMIT}项")
    stuck_total: int
    notes: list[str] = Field(description="口径说明")

    @classmethod
    def of(cls, report: PerformanceReport) -> PerformanceRead:
        q = report.query
        return cls(
            period=PerformancePeriod(
                date_from=q.date_from, date_to=q.date_to, policy_id=q.policy_id, stuck_days=q.stuck_days
            ),
            generated_at=report.generated_at,
            policies=[PolicyPerformanceRead.of(p) for p in report.policies],
            total=PolicyPerformanceRead.of(report.total),
            stuck=[
                StuckGroupRead(
                    status=g.status, reason=g.reason, count=g.count, oldest=StuckEntitlementRead.of(g.oldest)
                )
                for g in report.stuck_groups
            ],
            stuck_items=[StuckEntitlementRead.of(s) for s in report.stuck_items],
            stuck_total=report.stuck_total,
            notes=report.notes,
        )
