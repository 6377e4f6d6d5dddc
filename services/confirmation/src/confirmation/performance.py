"""绩效评估 — how each policy performs over a period, for the operators' supervision
(绩效评估、回头看): who was matched, who confirmed, who was paid and how fast, the
take-up, and which entitlements are stuck and why.

Everything here is a pure function of rows the repository reads (`build_report`
is the one entry point that reads them); the CSV and the printable HTML page are
renderings of the same report.

Definitions, also stated in the report's notes:
- "Data arrival" is the entitlement's first determination (`determined_at` of its
  `determined` history step). The determination is made within seconds of the
  department record's arrival, so it stands for the arrival; it is the *first*
  one because a later re-determination moves `Entitlement.determined_at` and would
  make an early payment look as if it came before its data.
- The funnel (determined → confirmed, declined, expired, withdrawn, paid, open)
  follows the entitlements first determined in the period, as they stand now.
  Paid, declined, expired, withdrawn and open partition them; confirmed is a stage
  that overlaps paid and open.
- Payments in the period (their count, amount and the days data → money) are
  those whose money arrived in the period, whenever their data did.
- Take-up = paid ÷ eligible, eligible = determined and not withdrawn. Reductions
  (non-cash benefits) are left out of both: nothing is ever paid for them.
- Stuck: not settled, and its status unchanged for more than `stuck_days` days, as
  of now and whatever the period. An expired request counts as settled.

Durations and percentages are computed exactly (integers and fractions) and
rounded half up to one decimal only for showing.
"""

from __future__ import annotations

import csv
import io
import math
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Protocol

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from confirmation.service import SHANGHAI, ConfirmationStatus, EntitlementStatus, shanghai_today
from mianshen_shared.events.catalog import NON_CASH_BENEFITS
from mianshen_shared.money import format_yuan
from mianshen_shared.problems import ProblemError

DEFAULT_STUCK_DAYS = 7
MAX_PERIOD_YEARS = 5
STUCK_ITEMS_LIMIT = 200
_MICROSECONDS_PER_DAY = 86_400_000_000
_TEMPLATES = Path(__file__).parent / "templates"

SETTLED_STATUSES = frozenset(
    {
        EntitlementStatus.PAID,
        EntitlementStatus.DECLINED,
        EntitlementStatus.WITHDRAWN,
        EntitlementStatus.EXECUTED,
        EntitlementStatus.CANCELLED,
    }
)
OPEN_STATUSES = tuple(sorted(s.value for s in EntitlementStatus if s not in SETTLED_STATUSES))

# Why an entitlement in this status is not moving, as an operator would put it.
STUCK_REASONS: dict[str, str] = {
    EntitlementStatus.AWAITING_CONFIRMATION: "企业未确认",
    EntitlementStatus.ACCEPTED: "企业已确认，待信用核查结果",
    EntitlementStatus.CREDIT_HELD: "因信用记录暂缓兑现",
    EntitlementStatus.AWAITING_PAYMENT: "待拨付",
    EntitlementStatus.PAYMENT_FAILED: "拨付失败，待处理",
    EntitlementStatus.AWAITING_EXECUTION: "待实施主体办理减免",
    EntitlementStatus.IN_NOTICE: "公示中",
    EntitlementStatus.NOTICE_OBJECTED: "公示异议待处理",
    EntitlementStatus.BUDGET_EXHAUSTED: "预算额度不足，待追加预算",
    EntitlementStatus.SUBMITTED: "已提交财政，待到账",
}


# --- the query -----------------------------------------------------------------------


@dataclass(frozen=True)
class PerformanceQuery:
    date_from: date  # inclusive, Asia/Shanghai
    date_to: date  # inclusive, Asia/Shanghai
    policy_id: str | None = None
    stuck_days: int = DEFAULT_STUCK_DAYS

    @classmethod
    def parse(
        cls,
        *,
        date_from: date | None,
        date_to: date | None,
        policy_id: str | None,
        stuck_days: int | None,
        today: date,
    ) -> PerformanceQuery:
        """The period defaults to the current calendar year up to today."""
        start = date_from or date(today.year, 1, 1)
        end = date_to or today
        if start > end:
            raise _invalid("invalid_period", f"起始日期（{start.isoformat()}）不能晚于截止日期（{end.isoformat()}）")
        if end >= _add_years(start, MAX_PERIOD_YEARS):
            raise _invalid("period_too_long", f"统计期间不能超过{MAX_PERIOD_YEARS}年")
        days = DEFAULT_STUCK_DAYS if stuck_days is None else stuck_days
        if not 1 <= days <= 365:
            raise _invalid("invalid_stuck_days", "滞留天数（stuck_days）应为1至365之间的整数")
        return cls(start, end, policy_id or None, days)

    @property
    def start(self) -> datetime:
        return _shanghai_midnight(self.date_from)

    @property
    def end(self) -> datetime:
        """Exclusive: the first instant after the period."""
        return _shanghai_midnight(self.date_to + timedelta(days=1))


def _invalid(code: str, detail: str) -> ProblemError:
    return ProblemError(422, code, detail)


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return date(day.year + years, 3, 1)


def _shanghai_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), SHANGHAI).astimezone(UTC)


# --- the rows --------------------------------------------------------------------------


@dataclass(frozen=True)
class EntitlementFacts:
    """One entitlement as it stands, with its confirmation request if it has one."""

    entitlement_id: uuid.UUID
    uscc: str
    enterprise_name: str | None
    policy_id: str
    policy_title: str
    benefit_kind: str
    amount_fen: int
    status: str
    determined_at: datetime
    updated_at: datetime
    confirmation_status: str | None = None
    confirmation_deadline: date | None = None


@dataclass(frozen=True)
class HistoryStep:
    """One step of an entitlement's history; `seq` orders the history."""

    entitlement_id: uuid.UUID
    seq: int
    status: str
    kind: str
    occurred_at: datetime
    paid_amount_fen: int | None = None  # set on `paid` steps


class PerformanceStore(Protocol):
    async def performance_rows(
        self, *, start: datetime, end: datetime, policy_id: str | None, open_statuses: Sequence[str]
    ) -> tuple[list[EntitlementFacts], list[HistoryStep]]: ...


# --- the report ------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyPerformance:
    policy_id: str
    policy_title: str
    enterprises_matched: int
    determined: int
    confirmed: int
    declined: int
    expired: int
    withdrawn: int
    paid: int
    paid_amount_fen: int
    open: int
    eligible: int
    take_up_percent: Decimal | None
    paid_in_period: int
    paid_in_period_amount_fen: int
    median_days: Decimal | None
    p90_days: Decimal | None
    stuck: int


@dataclass(frozen=True)
class StuckEntitlement:
    entitlement_id: uuid.UUID
    uscc: str
    enterprise_name: str | None
    policy_id: str
    policy_title: str
    status: str
    reason: str
    since: datetime
    days: int  # whole days without a status change


@dataclass(frozen=True)
class StuckGroup:
    status: str
    reason: str
    count: int
    oldest: StuckEntitlement


@dataclass(frozen=True)
class PerformanceReport:
    query: PerformanceQuery
    generated_at: datetime
    policies: list[PolicyPerformance]
    total: PolicyPerformance
    stuck_groups: list[StuckGroup]
    stuck_items: list[StuckEntitlement]  # the oldest first, at most STUCK_ITEMS_LIMIT
    stuck_total: int
    notes: list[str] = field(default_factory=list)


async def build_report(store: PerformanceStore, *, query: PerformanceQuery, now: datetime) -> PerformanceReport:
    entitlements, history = await store.performance_rows(
        start=query.start, end=query.end, policy_id=query.policy_id, open_statuses=OPEN_STATUSES
    )
    return evaluate(query, entitlements, history, now=now)


def evaluate(
    query: PerformanceQuery,
    entitlements: Iterable[EntitlementFacts],
    history: Iterable[HistoryStep],
    *,
    now: datetime,
) -> PerformanceReport:
    steps: dict[uuid.UUID, list[HistoryStep]] = defaultdict(list)
    for step in history:
        steps[step.entitlement_id].append(step)
    today = shanghai_today(now)
    start, end = query.start, query.end
    traced = [
        _trace(e, sorted(steps.get(e.entitlement_id, ()), key=lambda s: s.seq), today=today)
        for e in entitlements
        if query.policy_id is None or e.policy_id == query.policy_id
    ]
    stuck = sorted(
        (s for t in traced if (s := _stuck(t, now=now, stuck_days=query.stuck_days)) is not None),
        key=lambda s: (s.since, s.policy_id, str(s.entitlement_id)),
    )
    stuck_by_policy: dict[str, int] = defaultdict(int)
    for s in stuck:
        stuck_by_policy[s.policy_id] += 1
    by_policy: dict[str, list[_Traced]] = defaultdict(list)
    for t in traced:
        by_policy[t.facts.policy_id].append(t)
    policies = []
    for policy_id in sorted(by_policy):
        row = _summarise(by_policy[policy_id], start, end, policy_id=policy_id, stuck=stuck_by_policy[policy_id])
        if row.determined or row.paid_in_period or row.stuck:
            policies.append(row)
    total = _summarise(traced, start, end, policy_id="", stuck=len(stuck), title="合计")
    return PerformanceReport(
        query=query,
        generated_at=now,
        policies=policies,
        total=total,
        stuck_groups=_group_stuck(stuck),
        stuck_items=stuck[:STUCK_ITEMS_LIMIT],
        stuck_total=len(stuck),
        notes=notes_for(query),
    )


def notes_for(query: PerformanceQuery) -> list[str]:
    scope = f"政策 {query.policy_id}" if query.policy_id else "全部政策"
    return [
        f"统计期间：{query.date_from.isoformat()} 至 {query.date_to.isoformat()}"
        f"（北京时间，含首尾两日），范围：{scope}。",
        "数据到达时间取兑现资格首次比对确定的时间（determined_at）：部门数据到达后数秒内即完成比对，"
        "二者之差可忽略；其后因数据更新重新比对的，仍以首次比对时间为准。",
        "比对确定及已确认、已放弃、已过期、已撤回、已兑现、办理中各项，统计本期内首次比对确定的兑现资格的当前状态；"
        "已兑现、已放弃、已过期、已撤回、办理中五项之和等于比对确定数，已确认与已兑现、办理中有重叠。",
        "期内拨付笔数、金额及用时，统计资金在本期内到达的兑现资格，不论其何时比对确定；"
        "用时为数据到达至资金到达的自然日数（中位数、90分位数，线性插值），保留一位小数。",
        "兑现率＝已兑现数÷应兑现数，应兑现数＝比对确定数－已撤回数；费用减免、租金减免等非现金待遇无需拨付，不计入。",
        f"滞留事项：截至报告生成时，尚未办结且状态超过{query.stuck_days}天未变化的兑现资格，不受统计期间限制；"
        "确认请求已过期的视为已办结。",
    ]


# --- one entitlement -------------------------------------------------------------------


@dataclass(frozen=True)
class _Traced:
    facts: EntitlementFacts
    first_determined_at: datetime
    paid_at: datetime | None
    paid_amount_fen: int
    status_since: datetime
    outcome: str  # paid | declined | expired | withdrawn | open
    confirmed: bool


def _trace(e: EntitlementFacts, history: Sequence[HistoryStep], *, today: date) -> _Traced:
    determined = next((s.occurred_at for s in history if s.kind == "determined"), e.determined_at)
    payments = [s for s in history if s.kind == "paid"]
    paid_at = min((s.occurred_at for s in payments), key=_utc) if payments else None
    if payments:
        paid_amount = sum(s.paid_amount_fen if s.paid_amount_fen is not None else e.amount_fen for s in payments)
    else:
        paid_amount = e.amount_fen if e.status == EntitlementStatus.PAID else 0
    return _Traced(
        facts=e,
        first_determined_at=_utc(determined),
        paid_at=_utc(paid_at) if paid_at is not None else None,
        paid_amount_fen=paid_amount,
        status_since=_status_since(e, history),
        outcome=_outcome(e, today),
        confirmed=e.confirmation_status == ConfirmationStatus.ACCEPTED,
    )


def _status_since(e: EntitlementFacts, history: Sequence[HistoryStep]) -> datetime:
    """When the entitlement entered its current status: the first step of the last
    unbroken run of steps in that status (a re-sent request does not reset it)."""
    since: datetime | None = None
    for step in reversed(history):
        if step.status != e.status:
            break
        since = step.occurred_at
    return _utc(since if since is not None else e.updated_at)


def _outcome(e: EntitlementFacts, today: date) -> str:
    if e.status == EntitlementStatus.PAID:
        return "paid"
    if e.status == EntitlementStatus.WITHDRAWN:
        return "withdrawn"
    if e.status == EntitlementStatus.DECLINED:
        return "declined"
    if e.status == EntitlementStatus.AWAITING_CONFIRMATION and _request_expired(e, today):
        return "expired"
    return "open"


def _request_expired(e: EntitlementFacts, today: date) -> bool:
    # A pending request past its deadline is expired even before the sweep closes it.
    if e.confirmation_status == ConfirmationStatus.EXPIRED:
        return True
    return (
        e.confirmation_status == ConfirmationStatus.PENDING
        and e.confirmation_deadline is not None
        and e.confirmation_deadline < today
    )


def _stuck(t: _Traced, *, now: datetime, stuck_days: int) -> StuckEntitlement | None:
    if t.outcome != "open":
        return None
    idle = _utc(now) - t.status_since
    if idle <= timedelta(days=stuck_days):
        return None
    e = t.facts
    return StuckEntitlement(
        entitlement_id=e.entitlement_id,
        uscc=e.uscc,
        enterprise_name=e.enterprise_name,
        policy_id=e.policy_id,
        policy_title=e.policy_title,
        status=e.status,
        reason=STUCK_REASONS.get(e.status, e.status),
        since=t.status_since,
        days=idle.days,
    )


def _group_stuck(stuck: Sequence[StuckEntitlement]) -> list[StuckGroup]:
    """By status, the most crowded first; `stuck` is oldest first, so each group's
    first member is its oldest."""
    groups: dict[str, list[StuckEntitlement]] = defaultdict(list)
    for s in stuck:
        groups[s.status].append(s)
    return [
        StuckGroup(status=status, reason=members[0].reason, count=len(members), oldest=members[0])
        for status, members in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0]))
    ]


def _utc(moment: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they were stored in UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- one policy (or all) ----------------------------------------------------------------


def _summarise(
    traced: Sequence[_Traced],
    start: datetime,
    end: datetime,
    *,
    policy_id: str,
    stuck: int,
    title: str | None = None,
) -> PolicyPerformance:
    cohort = [t for t in traced if start <= t.first_determined_at < end]
    outcomes = Counter(t.outcome for t in cohort)
    cash = [t for t in cohort if t.facts.benefit_kind not in NON_CASH_BENEFITS]
    eligible = sum(1 for t in cash if t.outcome != "withdrawn")
    paid_cash = sum(1 for t in cash if t.outcome == "paid")
    in_period = [t for t in traced if t.paid_at is not None and start <= t.paid_at < end]
    waits = [_microseconds(t.paid_at - t.first_determined_at) for t in in_period if t.paid_at is not None]
    median, p90 = quantile(waits, Fraction(1, 2)), quantile(waits, Fraction(9, 10))
    return PolicyPerformance(
        policy_id=policy_id,
        policy_title=title if title is not None else _latest_title(traced),
        enterprises_matched=len({t.facts.uscc for t in cohort}),
        determined=len(cohort),
        confirmed=sum(1 for t in cohort if t.confirmed),
        declined=outcomes["declined"],
        expired=outcomes["expired"],
        withdrawn=outcomes["withdrawn"],
        paid=outcomes["paid"],
        paid_amount_fen=sum(t.paid_amount_fen for t in cohort if t.outcome == "paid"),
        open=outcomes["open"],
        eligible=eligible,
        take_up_percent=one_decimal(Fraction(paid_cash * 100, eligible)) if eligible else None,
        paid_in_period=len(in_period),
        paid_in_period_amount_fen=sum(t.paid_amount_fen for t in in_period),
        median_days=one_decimal(median / _MICROSECONDS_PER_DAY) if median is not None else None,
        p90_days=one_decimal(p90 / _MICROSECONDS_PER_DAY) if p90 is not None else None,
        stuck=stuck,
    )


def _latest_title(traced: Sequence[_Traced]) -> str:
    # Titles can be corrected in a later policy version; show the newest.
    return max(traced, key=lambda t: t.first_determined_at).facts.policy_title


def _microseconds(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)


def quantile(values: Sequence[int], q: Fraction) -> Fraction | None:
    """The q-quantile by linear interpolation between closest ranks (the median of
    an even count is the mean of the middle two); exact, no floats."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    lower = math.floor(position)
    fraction = position - lower
    if fraction == 0:
        return Fraction(ordered[lower])
    return ordered[lower] + (ordered[lower + 1] - ordered[lower]) * fraction


def one_decimal(value: Fraction) -> Decimal:
    """Rounded half away from zero to one decimal place."""
    tenths = abs(value) * 10
    rounded = math.floor(tenths + Fraction(1, 2))
    return Decimal(-rounded if value < 0 else rounded).scaleb(-1)


# --- renderings --------------------------------------------------------------------------

CSV_HEADER = [
    "政策编号",
    "政策名称",
    "匹配企业数",
    "比对确定数",
    "已确认",
    "已放弃",
    "已过期",
    "已撤回",
    "已兑现笔数",
    "已兑现金额（元）",
    "已兑现金额（分）",
    "办理中",
    "应兑现数",
    "兑现率（%）",
    "期内拨付笔数",
    "期内拨付金额（元）",
    "期内拨付金额（分）",
    "用时中位数（天）",
    "用时90分位数（天）",
    "滞留事项数",
]
# A cell starting with one of these is a formula to a spreadsheet.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def render_csv(report: PerformanceReport) -> bytes:
    """UTF-8 with a byte-order mark, which is what makes Excel read the Chinese."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for row in [*report.policies, report.total]:
        writer.writerow(
            [
                _cell(row.policy_id),
                _cell(row.policy_title),
                row.enterprises_matched,
                row.determined,
                row.confirmed,
                row.declined,
                row.expired,
                row.withdrawn,
                row.paid,
                yuan(row.paid_amount_fen),
                row.paid_amount_fen,
                row.open,
                row.eligible,
                _decimal_cell(row.take_up_percent),
                row.paid_in_period,
                yuan(row.paid_in_period_amount_fen),
                row.paid_in_period_amount_fen,
                _decimal_cell(row.median_days),
                _decimal_cell(row.p90_days),
                row.stuck,
            ]
        )
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def _decimal_cell(value: Decimal | None) -> str:
    return "" if value is None else str(value)


def yuan(fen: int) -> str:
    """Yuan with two decimals and no grouping, so a spreadsheet reads it as a number."""
    whole, cents = divmod(abs(fen), 100)
    return f"{'-' if fen < 0 else ''}{whole}.{cents:02d}"


@dataclass(frozen=True)
class Bar:
    label: str
    full_label: str
    value_text: str
    width: int


CHART_WIDTH = 360  # pixels of the longest bar
_LABEL_CHARS = 16


def amount_bars(report: PerformanceReport) -> list[Bar]:
    largest = max((p.paid_in_period_amount_fen for p in report.policies), default=0)
    return [
        Bar(
            label=_short(p.policy_title),
            full_label=p.policy_title,
            value_text=format_yuan(p.paid_in_period_amount_fen),
            width=p.paid_in_period_amount_fen * CHART_WIDTH // largest if largest else 0,
        )
        for p in report.policies
    ]


def take_up_bars(report: PerformanceReport) -> list[Bar]:
    return [
        Bar(
            label=_short(p.policy_title),
            full_label=p.policy_title,
            value_text="不适用" if p.take_up_percent is None else f"{p.take_up_percent}%",
            width=0 if p.take_up_percent is None else math.floor(Fraction(p.take_up_percent) * CHART_WIDTH / 100),
        )
        for p in report.policies
    ]


def _short(text: str) -> str:
    return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        undefined=StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["yuan_text"] = format_yuan
    env.filters["shanghai"] = lambda moment: _utc(moment).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    env.filters["or_dash"] = lambda value: "—" if value is None else value
    return env


_HTML = _environment()


def render_html(report: PerformanceReport) -> str:
    """A complete printable page: style and charts inline, no external resources."""
    return _HTML.get_template("performance.html.j2").render(
        report=report,
        amount_bars=amount_bars(report),
        take_up_bars=take_up_bars(report),
        chart_width=CHART_WIDTH,
    )
