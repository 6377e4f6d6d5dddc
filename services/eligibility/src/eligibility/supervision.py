"""数据共享督办 — is every department sharing its data as agreed?

eligibility receives every department record, so it keeps the account: per
department, day (Asia/Shanghai), record type and outcome, how many records came
and when (`feed_days`). From that account and the city's agreed schedules
(`City.feeds`) this module works out, for a given `now` (never a hidden clock):

- each department's **status** against its schedule (`feed_status`): the next push
  is due `every` after the last one (or after `since` when none came since the
  agreement began), and it is overdue once `grace` more has passed too;
- its **volume against its usual rhythm** (`volume`): the usual size of a push is
  the median number of records on the days it pushed at all, over the last eight
  weeks — or over its last three expected pushes for slower rhythms, so a monthly
  feed is compared with its last few months rather than with the two pushes eight
  weeks hold; empty days are left out, or a weekly feed would look empty six days
  of seven;
- the records **rejected and why**, and the **通报 list** of overdue departments.

Everything above the "reading" section is pure; the reading functions take a
repository, and the "metrics" section sets the Prometheus feed metrics.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal, Protocol

from eligibility.service import shanghai_date
from mianshen_shared import observability
from mianshen_shared.city import City
from mianshen_shared.events.catalog import DepartmentRecordSubmitted
from mianshen_shared.feed_schedules import SHANGHAI, FeedSchedule
from mianshen_shared.messaging import DeadLetter
from mianshen_shared.problems import ProblemError

Outcome = Literal["accepted", "rejected"]
Status = Literal["on_time", "due_soon", "overdue", "never", "unscheduled"]

RECORD_EVENT = "department.record.submitted"
USUAL_WINDOW_DAYS = 56  # eight weeks
PUSHES_IN_WINDOW = 3  # slow rhythms: at least this many expected pushes in the window
MAX_WINDOW_DAYS = 366
MIN_PUSH_DAYS = 3  # fewer push days than this: no usual volume yet
LOW_VOLUME_FRACTION = 0.5
SERIES_DAYS = 90
STATUS_ZH: dict[Status, str] = {
    "on_time": "按时报送",
    "due_soon": "即将逾期",
    "overdue": "逾期未报送",
    "never": "从未报送",
    "unscheduled": "未约定报送周期",
}
LISTED: frozenset[Status] = frozenset({"overdue", "never"})  # what goes on the 通报 list

# Column limits of feed_days: a refused record may carry anything.
_DEPARTMENT_MAX, _RECORD_TYPE_MAX, _REASON_MAX = 64, 120, 64


@dataclass(frozen=True)
class DayCount:
    """Records of one department, day, record type and outcome (one `feed_days` row,
    or what is to be added to it)."""

    department: str
    day: date
    record_type: str
    outcome: Outcome
    reason: str  # "" for accepted records
    records: int
    first_at: datetime
    last_at: datetime


def _utc(moment: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they were stored in UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- counting ------------------------------------------------------------------------


def accepted(records: Iterable[DepartmentRecordSubmitted]) -> list[DayCount]:
    """The accepted records of a run, added up per department, day and record type."""
    groups: dict[tuple[str, date, str], list[datetime]] = defaultdict(list)
    for record in records:
        arrived = _utc(record.received_at)
        groups[(record.department, shanghai_date(arrived), record.record_type)].append(arrived)
    return [
        DayCount(department, day, record_type, "accepted", "", len(times), min(times), max(times))
        for (department, day, record_type), times in sorted(groups.items())
    ]


def rejected(dead: DeadLetter) -> DayCount | None:
    """The department record a consumer just dead-lettered, as one rejected record;
    None when it is not a department record or does not say which department sent it.

    The payload may be the very thing that was wrong, so it is read field by field;
    the record counts on the day the gateway received it (else when it was sent).
    """
    envelope = dead.envelope
    if envelope is None or envelope.type != RECORD_EVENT:
        return None
    data = envelope.data
    department = data.get("department")
    if not isinstance(department, str) or not department.strip():
        return None
    record_type = data.get("record_type")
    arrived = _arrival(data.get("received_at")) or _utc(envelope.time)
    return DayCount(
        department=department.strip()[:_DEPARTMENT_MAX],
        day=shanghai_date(arrived),
        record_type=record_type[:_RECORD_TYPE_MAX] if isinstance(record_type, str) else "",
        outcome="rejected",
        reason=dead.reason[:_REASON_MAX],
        records=1,
        first_at=arrived,
        last_at=arrived,
    )


def _arrival(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return _utc(moment)


# --- the schedule -------------------------------------------------------------------


@dataclass(frozen=True)
class FeedStatus:
    """Where a department stands against its agreed schedule at `now`."""

    status: Status
    text: str  # Chinese, for operators and the 通报
    due_at: datetime | None  # the next push is expected by then
    deadline: datetime | None  # due_at plus grace: later than this is overdue
    overdue_since: datetime | None
    overdue_seconds: int

    @property
    def listed(self) -> bool:
        return self.status in LISTED


def feed_status(schedule: FeedSchedule | None, last_arrival: datetime | None, now: datetime) -> FeedStatus:
    """The status of one feed. A push exactly at the deadline is still in time; overdue
    starts just after. Pushes from before the agreement's `since` do not count: the
    first push under it is due `every` after `since`."""
    last = _utc(last_arrival) if last_arrival is not None else None
    if schedule is None:
        seen = f"，最近一次报送于{_when(last)}" if last is not None else "，尚无报送记录"
        return FeedStatus("unscheduled", STATUS_ZH["unscheduled"] + seen, None, None, None, 0)
    anchors = [moment for moment in (last, schedule.starts_at()) if moment is not None]
    if not anchors:
        return FeedStatus("never", f"从未报送数据（约定：{schedule.zh()}）", None, None, None, 0)
    anchor = max(anchors)
    due, deadline = schedule.due_after(anchor), schedule.deadline_after(anchor)
    if now > deadline:
        late = now - deadline
        if last is None:
            text = f"从未报送数据，已超过首次报送期限（{_when(deadline)}）{_span(late)}"
            return FeedStatus("never", text, due, deadline, deadline, int(late.total_seconds()))
        if schedule.since is not None and last < anchor:
            text = f"约定自{schedule.since.isoformat()}起报送，此后未报送数据，已逾期{_span(late)}"
        else:
            text = f"最近一次报送于{_when(last)}，已逾期{_span(late)}（应于{_when(deadline)}前报送）"
        return FeedStatus("overdue", text, due, deadline, deadline, int(late.total_seconds()))
    if now >= due:
        first = "尚未首次报送，" if last is None else ""
        text = f"{first}已到报送周期，宽限期至{_when(deadline)}，届时未报送将列入通报"
        return FeedStatus("due_soon", text, due, deadline, None, 0)
    if last is None:  # and a `since` to count from, or there would be no anchor
        text = f"尚未报送；约定自{schedule.since}起报送，首次报送期限为{_when(deadline)}"
        return FeedStatus("on_time", text, due, deadline, None, 0)
    text = f"最近一次报送于{_when(last)}，下次应于{_when(due)}前报送"
    return FeedStatus("on_time", text, due, deadline, None, 0)


def as_shanghai_text(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


_when = as_shanghai_text


def _span(delta: timedelta) -> str:
    """How long, in words: 3天5小时, 7小时, 20分钟."""
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days}天{hours}小时" if hours else f"{days}天"
    if hours:
        return f"{hours}小时"
    return f"{max(rest // 60, 1)}分钟"


# --- volume ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Volume:
    """A department's accepted records against its usual rhythm."""

    today: int
    usual: int | None  # median records per push day in the window; None: too few push days yet
    push_days: int  # days with at least one record in the window (today excluded)
    window_days: int
    last_push_day: date | None
    last_push_records: int
    low: bool  # the last complete push day brought less than half the usual
    text: str


def window_days(schedule: FeedSchedule | None) -> int:
    """Eight weeks, or the last three expected pushes when the rhythm is slower."""
    if schedule is None:
        return USUAL_WINDOW_DAYS
    pushes = PUSHES_IN_WINDOW * math.ceil(schedule.every.longest().total_seconds() / 86400)
    return min(max(USUAL_WINDOW_DAYS, pushes), MAX_WINDOW_DAYS)


def volume(daily: Mapping[date, int], *, today: date, window: int) -> Volume:
    """`daily`: accepted records per day. Today is left out of the usual volume (it is
    not over), and the median is the lower middle, so the usual is a real day's count."""
    start = today - timedelta(days=window)
    pushes = sorted(n for day, n in daily.items() if start <= day < today and n > 0)
    usual = statistics.median_low(pushes) if len(pushes) >= MIN_PUSH_DAYS else None
    pushed = [day for day, n in daily.items() if day <= today and n > 0]
    last_day = max(pushed) if pushed else None
    last_records = daily[last_day] if last_day is not None else 0
    low = usual is not None and last_day is not None and last_day < today and last_records < usual * LOW_VOLUME_FRACTION
    if last_day is None:
        text = "尚无报送记录"
    elif usual is None:
        text = (
            f"最近一次报送（{last_day.isoformat()}）{last_records}条；近{window}天报送不足{MIN_PUSH_DAYS}天，暂无常规量"
        )
    elif low:
        text = f"最近一次报送（{last_day.isoformat()}）{last_records}条，明显低于常规的每次约{usual}条"
    else:
        text = f"最近一次报送（{last_day.isoformat()}）{last_records}条，常规为每次约{usual}条"
    return Volume(
        today=daily.get(today, 0),
        usual=usual,
        push_days=len(pushes),
        window_days=window,
        last_push_day=last_day,
        last_push_records=last_records,
        low=low,
        text=text,
    )


# --- the overview, the 通报 list and one department's days ----------------------------------


@dataclass(frozen=True)
class FeedOverview:
    department: str
    name: str
    last_arrival: datetime | None
    accepted_7d: int
    accepted_30d: int
    rejected_7d: int
    rejected_30d: int
    rejected_by_reason_30d: dict[str, int]
    volume: Volume
    schedule: FeedSchedule | None
    status: FeedStatus


def overview(
    city: City, counts: Sequence[DayCount], last_arrivals: Mapping[str, datetime], *, now: datetime
) -> list[FeedOverview]:
    """Every department of the city, in the city file's order. `counts` must reach back
    as far as `oldest_day_needed`; `last_arrivals` is each department's latest accepted record."""
    today = shanghai_date(now)
    by_department: dict[str, list[DayCount]] = defaultdict(list)
    for count in counts:
        by_department[count.department].append(count)
    out = []
    for code, department in city.departments.items():
        rows = by_department.get(code, [])
        schedule = city.feeds.get(code)
        daily: dict[date, int] = defaultdict(int)
        reasons: dict[str, int] = defaultdict(int)
        for row in rows:
            if row.outcome == "accepted":
                daily[row.day] += row.records
            elif row.day > today - timedelta(days=30):
                reasons[row.reason] += row.records
        last = last_arrivals.get(code)
        out.append(
            FeedOverview(
                department=code,
                name=department.name,
                last_arrival=_utc(last) if last is not None else None,
                accepted_7d=_since(rows, "accepted", today, 7),
                accepted_30d=_since(rows, "accepted", today, 30),
                rejected_7d=_since(rows, "rejected", today, 7),
                rejected_30d=_since(rows, "rejected", today, 30),
                rejected_by_reason_30d=dict(sorted(reasons.items())),
                volume=volume(daily, today=today, window=window_days(schedule)),
                schedule=schedule,
                status=feed_status(schedule, last, now),
            )
        )
    return out


def _since(rows: Iterable[DayCount], outcome: Outcome, today: date, days: int) -> int:
    """Records of the last `days` days, today included."""
    return sum(r.records for r in rows if r.outcome == outcome and r.day > today - timedelta(days=days))


def oldest_day_needed(city: City, now: datetime) -> date:
    """The first day the overview reads: the longest volume window, or 30 days."""
    longest = max([window_days(s) for s in city.feeds.values()] + [USUAL_WINDOW_DAYS, 30])
    return shanghai_date(now) - timedelta(days=longest)


def overdue(overviews: Iterable[FeedOverview]) -> list[FeedOverview]:
    """The 通报 list: departments overdue or never heard from, the longest late first."""
    listed = [o for o in overviews if o.status.listed]
    return sorted(listed, key=lambda o: -o.status.overdue_seconds if o.status.overdue_since else -math.inf)


def tongbao_summary(listed: Sequence[FeedOverview], now: datetime) -> str:
    """The 通报's opening line, in Chinese."""
    if not listed:
        return f"截至{as_shanghai_text(now)}，各部门均按约定报送数据"
    names = "、".join(o.name for o in listed)
    return f"截至{as_shanghai_text(now)}，{len(listed)}个部门未按约定报送数据：{names}"


@dataclass(frozen=True)
class FeedDay:
    day: date
    accepted: int
    rejected: int
    accepted_by_record_type: dict[str, int]
    rejected_by_reason: dict[str, int]
    first_at: datetime | None  # of accepted records
    last_at: datetime | None


def series(counts: Iterable[DayCount], *, today: date, days: int = SERIES_DAYS) -> list[FeedDay]:
    """One department's last `days` days, oldest first, every day present (zeros too)."""
    by_day: dict[date, list[DayCount]] = defaultdict(list)
    for count in counts:
        by_day[count.day].append(count)
    out = []
    for offset in range(days - 1, -1, -1):
        day = today - timedelta(days=offset)
        rows = by_day.get(day, [])
        taken = [r for r in rows if r.outcome == "accepted"]
        refused = [r for r in rows if r.outcome == "rejected"]
        types: dict[str, int] = defaultdict(int)
        reasons: dict[str, int] = defaultdict(int)
        for r in taken:
            types[r.record_type] += r.records
        for r in refused:
            reasons[r.reason] += r.records
        out.append(
            FeedDay(
                day=day,
                accepted=sum(types.values()),
                rejected=sum(reasons.values()),
                accepted_by_record_type=dict(sorted(types.items())),
                rejected_by_reason=dict(sorted(reasons.items())),
                first_at=min((_utc(r.first_at) for r in taken), default=None),
                last_at=max((_utc(r.last_at) for r in taken), default=None),
            )
        )
    return out


# --- reading (through a repository) ---------------------------------------------------------


class FeedRepository(Protocol):
    async def feed_counts_since(self, day: date, department: str | None = None) -> list[DayCount]: ...
    async def last_arrivals(self) -> dict[str, datetime]: ...


@dataclass(frozen=True)
class FeedDetail:
    overview: FeedOverview
    days: list[FeedDay]


async def feed_overview(repo: FeedRepository, *, city: City, now: datetime) -> list[FeedOverview]:
    counts = await repo.feed_counts_since(oldest_day_needed(city, now))
    return overview(city, counts, await repo.last_arrivals(), now=now)


async def feed_detail(repo: FeedRepository, *, city: City, department: str, now: datetime) -> FeedDetail:
    if department not in city.departments:
        raise ProblemError(404, "department_not_found", f"未登记的数据部门：{department}")
    today = shanghai_date(now)
    first = min(oldest_day_needed(city, now), today - timedelta(days=SERIES_DAYS))
    counts = await repo.feed_counts_since(first, department)
    arrivals = await repo.last_arrivals()
    [summary] = [o for o in overview(city, counts, arrivals, now=now) if o.department == department]
    return FeedDetail(summary, series(counts, today=today))


# --- metrics ------------------------------------------------------------------------------

# Per process, so a replay of older records never moves the gauge back in time.
_last_exported: dict[str, float] = {}


def export_schedules(city: City) -> None:
    for code, schedule in city.feeds.items():
        observability.FEED_EXPECTED_INTERVAL.labels(code).set(schedule.allowed_gap().total_seconds())


def export_last_arrivals(arrivals: Mapping[str, datetime]) -> None:
    for department, moment in arrivals.items():
        seconds = _utc(moment).timestamp()
        if seconds > _last_exported.get(department, 0.0):
            _last_exported[department] = seconds
            observability.FEED_LAST_RECORD.labels(department).set(seconds)


def export_counts(city: City, counts: Iterable[DayCount]) -> None:
    """Count records in `mianshen_feed_records_total`; names the city does not know are
    labelled "unknown", so a refused record cannot invent label values."""
    latest: dict[str, datetime] = {}
    for count in counts:
        department = count.department if count.department in city.departments else "unknown"
        record_type = count.record_type if count.record_type in city.record_types else "unknown"
        observability.FEED_RECORDS.labels(department, record_type, count.outcome).inc(count.records)
        if count.outcome == "accepted" and department != "unknown":
            latest[department] = max(latest.get(department, count.last_at), count.last_at)
    export_last_arrivals(latest)
