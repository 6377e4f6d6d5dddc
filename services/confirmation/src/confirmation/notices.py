"""What the enterprise is told through its front ends (亲清在线, 郑好办), in Chinese.

Each function builds the notification row for one change; the service adds it in
the transaction of that change, so a notification exists exactly when the change
does. The notify worker (notify.py) delivers it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from confirmation.models import Confirmation, Entitlement, Notification
from mianshen_shared.events.catalog import NON_CASH_BENEFITS
from mianshen_shared.money import format_yuan


def chinese_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _what(entitlement: Entitlement) -> str:
    return "减免" if entitlement.benefit_kind in NON_CASH_BENEFITS else "资金"


def _new(
    entitlement: Entitlement,
    *,
    kind: str,
    title: str,
    message: str,
    now: datetime,
    confirmation: Confirmation | None = None,
) -> Notification:
    return Notification(
        notification_id=uuid.uuid4(),
        uscc=entitlement.uscc,
        kind=kind,
        title=title,
        message=message[:1000],
        entitlement_id=entitlement.entitlement_id,
        confirmation_id=confirmation.confirmation_id if confirmation is not None else None,
        status="pending",
        attempts=0,
        delivered_to=[],
        last_error=None,
        next_attempt_at=now,
        created_at=now,
        delivered_at=None,
    )


def requested(entitlement: Entitlement, confirmation: Confirmation, *, now: datetime) -> Notification:
    return _new(
        entitlement,
        kind="confirmation_requested",
        title="惠企政策兑现待确认",
        message=(
            f"您有一笔惠企政策{_what(entitlement)}待确认：《{entitlement.policy_title}》，"
            f"金额{format_yuan(confirmation.amount_fen)}，请于{chinese_date(confirmation.deadline)}前确认"
        ),
        now=now,
        confirmation=confirmation,
    )


def reminder(entitlement: Entitlement, confirmation: Confirmation, *, days_left: int, now: datetime) -> Notification:
    left = "今天是确认期限最后一天" if days_left == 0 else f"距确认期限还有{days_left}天"
    return _new(
        entitlement,
        kind="confirmation_reminder",
        title="惠企政策兑现确认提醒",
        message=(
            f"提醒：您的惠企政策{_what(entitlement)}《{entitlement.policy_title}》"
            f"（金额{format_yuan(confirmation.amount_fen)}）尚未确认，{left}，"
            f"请于{chinese_date(confirmation.deadline)}前确认，逾期视为放弃"
        ),
        now=now,
        confirmation=confirmation,
    )


def expired(entitlement: Entitlement, confirmation: Confirmation, *, now: datetime) -> Notification:
    return _new(
        entitlement,
        kind="confirmation_expired",
        title="惠企政策兑现确认已过期",
        message=(
            f"您的惠企政策{_what(entitlement)}《{entitlement.policy_title}》"
            f"未在{chinese_date(confirmation.deadline)}前确认，确认请求已关闭"
        ),
        now=now,
        confirmation=confirmation,
    )


def withdrawn(
    entitlement: Entitlement, confirmation: Confirmation | None, *, reason: str, now: datetime
) -> Notification:
    return _new(
        entitlement,
        kind="entitlement_withdrawn",
        title="惠企政策兑现资格已撤回",
        message=f"您的惠企政策{_what(entitlement)}《{entitlement.policy_title}》：{reason}",
        now=now,
        confirmation=confirmation,
    )


def revoked(entitlement: Entitlement, confirmation: Confirmation, *, now: datetime) -> Notification:
    return _new(
        entitlement,
        kind="confirmation_revoked",
        title="已撤回兑现确认",
        message=(
            f"您已撤回对惠企政策{_what(entitlement)}《{entitlement.policy_title}》的确认；"
            f"在{chinese_date(confirmation.deadline)}前仍可重新确认申领"
        ),
        now=now,
        confirmation=confirmation,
    )


def progressed(entitlement: Entitlement, *, status_text: str, reason: str | None, now: datetime) -> Notification:
    because = f"：{reason}" if reason and reason not in status_text else ""
    return _new(
        entitlement,
        kind="payment_progressed",
        title="惠企政策兑现进度更新",
        message=f"您的惠企政策{_what(entitlement)}《{entitlement.policy_title}》当前状态：{status_text}{because}",
        now=now,
    )


def paid(entitlement: Entitlement, *, amount_fen: int, finance_reference: str, now: datetime) -> Notification:
    return _new(
        entitlement,
        kind="paid",
        title="惠企政策资金已拨付",
        message=(
            f"《{entitlement.policy_title}》资金{format_yuan(amount_fen)}已拨付至您的收款账户，"
            f"财政支付凭证号 {finance_reference}"
        ),
        now=now,
    )


def payment_failed(entitlement: Entitlement, *, amount_fen: int, reason: str, now: datetime) -> Notification:
    return _new(
        entitlement,
        kind="payment_failed",
        title="惠企政策资金拨付失败",
        message=(
            f"《{entitlement.policy_title}》资金{format_yuan(amount_fen)}拨付失败：{reason}。"
            "请核对收款账户，工作人员将与您联系"
        ),
        now=now,
    )


def executed(entitlement: Entitlement, *, amount_fen: int, reference: str, now: datetime) -> Notification:
    return _new(
        entitlement,
        kind="benefit_executed",
        title="惠企政策减免已办理",
        message=(
            f"《{entitlement.policy_title}》减免{format_yuan(amount_fen)}已由实施单位办理完成（办理编号 {reference}）"
        ),
        now=now,
    )
