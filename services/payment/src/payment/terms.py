"""Policy terms — what a published policy version prescribes for paying out.

Kept from the `policies` topic so a payment can tell how long its 公示 lasts
without asking the catalogue: `procedure.notice_working_days` (default 5 working
days) and, for 守信激励, `procedure.red_list_notice_working_days` (default: the
same as everyone). A payment uses its own policy version's terms; if that version
never reached us, the latest version we know; if we know nothing of the policy,
the default — and the payment records which of these applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from mianshen_shared.events.catalog import CreditRecordRef, PolicyPublished, PolicyRetired
from mianshen_shared.messaging import Rejected
from payment.models import PolicyTerms

DEFAULT_NOTICE_WORKING_DAYS = 5
MAX_NOTICE_WORKING_DAYS = 30

NoticeBasis = Literal["policy", "red_list", "latest_version", "default", "override"]

# Set once at start-up from settings (demos and fault tests only; see config.py).
_override_days: int | None = None


def override_notice_days(days: int | None) -> None:
    global _override_days
    _override_days = days


class TermsRepository(Protocol):
    async def terms(self, policy_id: str, version: int) -> PolicyTerms | None: ...
    async def latest_terms(self, policy_id: str) -> PolicyTerms | None: ...
    async def add_terms(self, terms: PolicyTerms) -> None: ...


@dataclass(frozen=True)
class NoticeTerms:
    """How long one payment's notice lasts, and why."""

    working_days: int
    basis: NoticeBasis
    reason: str
    policy_title: str | None


async def record_published(repo: TermsRepository, *, published: PolicyPublished) -> PolicyTerms:
    """Keep a published version's terms; a republished version replaces its row."""
    procedure = published.document.get("procedure") or {}
    benefit = published.document.get("benefit") or {}
    notice_days = _days(procedure, "notice_working_days", DEFAULT_NOTICE_WORKING_DAYS, published)
    red_days = _days(procedure, "red_list_notice_working_days", notice_days, published)
    kind = benefit.get("kind")
    if not isinstance(kind, str):
        raise Rejected("policy_without_benefit_kind", f"政策 {published.policy_id} 未载明兑现方式（benefit.kind）")
    existing = await repo.terms(published.policy_id, published.version)
    row = existing or PolicyTerms(policy_id=published.policy_id, version=published.version)
    row.title = published.title
    row.benefit_kind = kind
    row.notice_working_days = notice_days
    row.red_list_notice_working_days = red_days
    row.executing_department = procedure.get("executing_department")
    row.confirmation_days = procedure.get("confirmation_days")
    row.published_at = published.published_at
    row.retired_at = None
    if existing is None:
        await repo.add_terms(row)
    return row


async def record_retired(repo: TermsRepository, *, retired: PolicyRetired) -> None:
    # Payments already accepted under a retired version still follow its terms;
    # the mark is for the record only.
    row = await repo.terms(retired.policy_id, retired.version)
    if row is not None:
        row.retired_at = retired.retired_at


async def notice_terms_for(
    repo: TermsRepository, *, policy_id: str, policy_version: int, red_records: Sequence[CreditRecordRef]
) -> NoticeTerms:
    exact = await repo.terms(policy_id, policy_version)
    if _override_days is not None:
        return NoticeTerms(
            working_days=_override_days,
            basis="override",
            reason=f"演示或测试环境：公示期统一为{_override_days}个工作日（不适用于生产环境）",
            policy_title=exact.title if exact is not None else None,
        )
    if exact is not None:
        return choose_notice(exact, red_records=red_records, exact_version=True)
    latest = await repo.latest_terms(policy_id)
    if latest is not None:
        return choose_notice(latest, red_records=red_records, exact_version=False)
    return NoticeTerms(
        working_days=DEFAULT_NOTICE_WORKING_DAYS,
        basis="default",
        reason=f"未收到政策 {policy_id} 的公示要求，按默认{DEFAULT_NOTICE_WORKING_DAYS}个工作日公示",
        policy_title=None,
    )


def choose_notice(terms: PolicyTerms, *, red_records: Sequence[CreditRecordRef], exact_version: bool) -> NoticeTerms:
    """The policy's notice period, or its red-list period when the enterprise is on a
    red list in force (守信激励) and the policy gives red-listed enterprises a different one."""
    which = f"第{terms.version}版" + ("" if exact_version else "（兑现所依版本未收到，按已知最新版本）")
    if red_records and terms.red_list_notice_working_days != terms.notice_working_days:
        lists = "、".join(f"{r.list_type}（{r.record_id}）" for r in red_records)
        return NoticeTerms(
            working_days=terms.red_list_notice_working_days,
            basis="red_list",
            reason=f"守信激励：企业列入{lists}，按政策{which}对红名单企业的规定公示"
            f"{terms.red_list_notice_working_days}个工作日",
            policy_title=terms.title,
        )
    return NoticeTerms(
        working_days=terms.notice_working_days,
        basis="policy" if exact_version else "latest_version",
        reason=f"按政策{which}的规定公示{terms.notice_working_days}个工作日",
        policy_title=terms.title,
    )


def _days(procedure: dict[str, Any], key: str, default: int, published: PolicyPublished) -> int:
    value = procedure.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_NOTICE_WORKING_DAYS:
        raise Rejected(
            "invalid_notice_days",
            f"政策 {published.policy_id} 第{published.version}版的 procedure.{key} "
            f"应为0至{MAX_NOTICE_WORKING_DAYS}的整数",
        )
    return value
