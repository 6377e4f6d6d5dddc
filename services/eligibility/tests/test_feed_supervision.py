"""数据共享督办: the agreed schedules, each department's status against them, its volume
against its usual rhythm, and the records refused — computed for a given `now`."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from eligibility import supervision
from eligibility.supervision import DayCount
from mianshen_shared import city as city_config
from mianshen_shared.events import make_envelope
from mianshen_shared.feed_schedules import FeedSchedule, Period, load
from mianshen_shared.messaging import DeadLetter

from .factories import title_record

pytestmark = pytest.mark.unit

NOW = datetime(2024, 5, 20, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
TODAY = date(2024, 5, 20)


def schedule(every: str = "P7D", grace: str = "P2D", since: date | None = None) -> FeedSchedule:
    return FeedSchedule("gxj", Period.parse(every), Period.parse(grace), since, "每周报送")


def accepted(department: str, day: date, records: int, record_type: str = "miit.sme_title_recognized") -> DayCount:
    at = datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC)
    return DayCount(department, day, record_type, "accepted", "", records, at, at + timedelta(minutes=5))


def refused(department: str, day: date, reason: str, records: int = 1) -> DayCount:
    at = datetime(day.year, day.month, day.day, 3, 0, tzinfo=UTC)
    return DayCount(department, day, "miit.sme_title_recognized", "rejected", reason, records, at, at)


# --- the schedule in the city file -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P1D", Period(days=1)),
        ("P7D", Period(days=7)),
        ("P2W", Period(days=14)),
        ("P1M", Period(months=1)),
        ("P1Y", Period(months=12)),
        ("PT12H", Period(seconds=12 * 3600)),
        ("P1DT6H", Period(days=1, seconds=6 * 3600)),
        ({"days": 3}, Period(days=3)),
        ({"months": 1, "hours": 2}, Period(months=1, seconds=7200)),
    ],
)
def test_rhythms_are_iso_durations_or_a_mapping_of_units(text: Any, expected: Period) -> None:
    assert Period.parse(text) == expected


@pytest.mark.parametrize("text", ["1 day", "P", "PT", "P1.5D", "daily", {"fortnights": 1}, {"days": -1}, 7])
def test_anything_else_is_refused(text: Any) -> None:
    with pytest.raises(ValueError):
        Period.parse(text)


def test_a_month_is_a_calendar_month_in_shanghai() -> None:
    # 31 January, 10:00 in Shanghai; February 2024 has 29 days.
    assert Period(months=1).after(datetime(2024, 1, 31, 2, 0, tzinfo=UTC)) == datetime(2024, 2, 29, 2, 0, tzinfo=UTC)
    # 1 March 07:00 in Shanghai is still 29 February in UTC: the month is counted from Shanghai's date.
    assert Period(months=1).after(datetime(2024, 2, 29, 23, 0, tzinfo=UTC)) == datetime(2024, 3, 31, 23, 0, tzinfo=UTC)
    assert Period(months=1).longest() == timedelta(days=31)


def test_the_city_file_declares_a_schedule_for_every_department() -> None:
    city = city_config.load()
    assert set(city.feeds) == set(city.departments)
    assert city.feeds["gxj"].allowed_gap() == timedelta(days=9)
    assert all(s.agreement for s in city.feeds.values())


@pytest.mark.parametrize(
    ("raw", "fault"),
    [
        ({"nobody": {"every": "P1D", "agreement": "x"}}, "not a declared department"),
        ({"gxj": {"grace": "P1D", "agreement": "x"}}, "every is required"),
        ({"gxj": {"every": "P0D", "agreement": "x"}}, "longer than zero"),
        ({"gxj": {"every": "weekly", "agreement": "x"}}, "ISO 8601"),
        ({"gxj": {"every": "P1D"}}, "agreement"),
        ({"gxj": {"every": "P1D", "agreement": "x", "often": True}}, "unknown keys"),
        ({"gxj": {"every": "P1D", "agreement": "x", "since": 20240101}}, "since must be a date"),
    ],
)
def test_a_faulty_schedule_is_refused_naming_the_department(raw: dict[str, Any], fault: str) -> None:
    with pytest.raises(ValueError, match=fault):
        load(raw, {"gxj", "rsj"})


# --- status against the schedule ---------------------------------------------------------


def test_a_push_within_the_rhythm_is_on_time() -> None:
    status = supervision.feed_status(schedule(), NOW - timedelta(days=6), NOW)
    assert status.status == "on_time"
    assert status.due_at == NOW + timedelta(days=1)
    assert not status.listed


def test_once_the_rhythm_has_passed_the_feed_is_due_until_the_grace_runs_out() -> None:
    at_due = supervision.feed_status(schedule(), NOW - timedelta(days=7), NOW)
    assert (at_due.status, at_due.deadline) == ("due_soon", NOW + timedelta(days=2))
    assert "宽限期至" in at_due.text


def test_exactly_at_every_plus_grace_is_still_in_time_and_a_second_later_is_overdue() -> None:
    last = NOW - timedelta(days=9)
    at_deadline = supervision.feed_status(schedule(), last, NOW)
    assert (at_deadline.status, at_deadline.overdue_seconds) == ("due_soon", 0)

    late = supervision.feed_status(schedule(), last - timedelta(seconds=1), NOW)
    assert (late.status, late.overdue_seconds, late.overdue_since) == ("overdue", 1, NOW - timedelta(seconds=1))
    assert late.listed


def test_an_overdue_feed_says_how_long_and_since_when_in_chinese() -> None:
    status = supervision.feed_status(schedule(), NOW - timedelta(days=12, hours=5), NOW)
    assert status.status == "overdue"
    assert status.overdue_seconds == (3 * 24 + 5) * 3600
    assert status.text == "最近一次报送于2024-05-08 07:00，已逾期3天5小时（应于2024-05-17 07:00前报送）"


def test_a_department_that_never_pushed_without_a_start_date_is_listed_as_never() -> None:
    status = supervision.feed_status(schedule(since=None), None, NOW)
    assert (status.status, status.overdue_since, status.deadline) == ("never", None, None)
    assert status.listed


def test_a_department_that_never_pushed_is_listed_once_its_first_deadline_passed() -> None:
    status = supervision.feed_status(schedule(since=date(2024, 5, 1)), None, NOW)
    # Due 7 days after midnight of 1 May in Shanghai, with 2 days' grace: 10 May 00:00 Shanghai.
    deadline = datetime(2024, 5, 9, 16, 0, tzinfo=UTC)
    assert (status.status, status.overdue_since) == ("never", deadline)
    assert status.overdue_seconds == int((NOW - deadline).total_seconds())
    assert "从未报送" in status.text


def test_nothing_is_due_before_the_agreement_starts() -> None:
    future = schedule(since=date(2024, 6, 1))
    never = supervision.feed_status(future, None, NOW)
    assert never.status == "on_time" and not never.listed
    assert "约定自2024-06-01起报送" in never.text
    # A push long before the agreement neither helps nor hurts: the clock starts at `since`.
    old = supervision.feed_status(future, NOW - timedelta(days=300), NOW)
    assert old.status == "on_time"
    assert old.due_at == datetime(2024, 6, 7, 16, 0, tzinfo=UTC)


def test_pushes_from_before_the_agreement_do_not_count_towards_it() -> None:
    status = supervision.feed_status(schedule(since=date(2024, 5, 1)), datetime(2024, 4, 1, tzinfo=UTC), NOW)
    assert status.status == "overdue"
    assert "约定自2024-05-01起报送，此后未报送数据" in status.text


def test_a_department_without_an_agreement_is_never_listed() -> None:
    status = supervision.feed_status(None, None, NOW)
    assert (status.status, status.listed) == ("unscheduled", False)


def test_a_monthly_feed_is_due_on_the_same_day_next_month() -> None:
    monthly = schedule(every="P1M", grace="P5D")
    last = datetime(2024, 4, 19, 2, 0, tzinfo=UTC)
    assert supervision.feed_status(monthly, last, NOW).status == "due_soon"
    assert supervision.feed_status(monthly, last, datetime(2024, 5, 24, 2, 0, tzinfo=UTC)).status == "due_soon"
    assert supervision.feed_status(monthly, last, datetime(2024, 5, 24, 2, 0, 1, tzinfo=UTC)).status == "overdue"


# --- volume against the usual rhythm --------------------------------------------------------


def weekly(records: list[int], *, last: date) -> dict[date, int]:
    """One push a week, the last on `last`, oldest first."""
    return {last - timedelta(weeks=len(records) - 1 - i): n for i, n in enumerate(records)}


def test_the_usual_volume_is_the_median_of_the_days_a_department_pushed() -> None:
    daily = weekly([100, 120, 90, 110, 2000], last=TODAY - timedelta(days=1))
    v = supervision.volume(daily, today=TODAY, window=56)
    # Six empty days a week are not part of the rhythm; one huge catch-up push does not move the median.
    assert (v.usual, v.push_days) == (110, 5)
    assert (v.last_push_day, v.last_push_records, v.low) == (TODAY - timedelta(days=1), 2000, False)


def test_today_is_not_part_of_the_usual_volume_and_is_reported_on_its_own() -> None:
    daily = weekly([100, 100, 100], last=TODAY - timedelta(days=7)) | {TODAY: 3}
    v = supervision.volume(daily, today=TODAY, window=56)
    assert (v.usual, v.today, v.last_push_day) == (100, 3, TODAY)
    assert not v.low, "today is not over yet"


def test_a_last_push_under_half_the_usual_is_flagged() -> None:
    daily = weekly([100, 100, 100, 49], last=TODAY - timedelta(days=2))
    v = supervision.volume(daily, today=TODAY, window=56)
    assert v.low
    assert v.text == f"最近一次报送（{TODAY - timedelta(days=2)}）49条，明显低于常规的每次约100条"


def test_fewer_than_three_push_days_give_no_usual_volume() -> None:
    v = supervision.volume(weekly([100, 100], last=TODAY - timedelta(days=1)), today=TODAY, window=56)
    assert v.usual is None and not v.low
    assert "暂无常规量" in v.text


def test_days_outside_the_window_do_not_count() -> None:
    daily = weekly([5, 5, 5], last=TODAY - timedelta(days=70)) | weekly([50, 50, 50], last=TODAY - timedelta(days=1))
    assert supervision.volume(daily, today=TODAY, window=56).usual == 50


def test_slow_rhythms_look_back_over_their_last_three_expected_pushes() -> None:
    assert supervision.window_days(schedule(every="P1D")) == 56
    assert supervision.window_days(schedule(every="P1M")) == 93
    assert supervision.window_days(schedule(every="P1Y")) == 366
    assert supervision.window_days(None) == 56


# --- counting refused and accepted records --------------------------------------------------


def dead(payload_data: dict[str, Any], reason: str = "invalid_attributes", event_type: str | None = None) -> DeadLetter:
    envelope = make_envelope(title_record("91410105MA9DEM01XB"), source="gateway", subject="s", correlation_id="c")
    envelope = envelope.model_copy(update={"data": payload_data, **({"type": event_type} if event_type else {})})
    return DeadLetter(reason, "属性不合法", envelope)


def test_a_refused_record_counts_against_its_department_on_the_shanghai_day_it_arrived() -> None:
    count = supervision.rejected(
        dead({"department": "gxj", "record_type": "miit.sme_title_recognized", "received_at": "2024-05-19T17:30:00Z"})
    )
    assert count == DayCount(
        department="gxj",
        day=date(2024, 5, 20),
        record_type="miit.sme_title_recognized",
        outcome="rejected",
        reason="invalid_attributes",
        records=1,
        first_at=datetime(2024, 5, 19, 17, 30, tzinfo=UTC),
        last_at=datetime(2024, 5, 19, 17, 30, tzinfo=UTC),
    )


def test_a_refused_record_with_a_garbled_payload_is_counted_as_far_as_it_can_be_read() -> None:
    letter = dead({"department": "rsj", "record_type": ["not", "text"], "received_at": "yesterday"}, "invalid_payload")
    count = supervision.rejected(letter)
    assert count is not None and letter.envelope is not None
    assert (count.department, count.record_type, count.reason) == ("rsj", "", "invalid_payload")
    assert count.first_at == letter.envelope.time


@pytest.mark.parametrize(
    "letter",
    [
        DeadLetter("malformed_json", "事件信封无法解析", None),
        dead({"record_type": "miit.sme_title_recognized"}),
        dead({"department": "  "}),
        dead({"department": "gxj"}, event_type="payment.issued"),
    ],
    ids=["unreadable-envelope", "no-department", "blank-department", "not-a-department-record"],
)
def test_what_names_no_department_is_not_counted(letter: DeadLetter) -> None:
    assert supervision.rejected(letter) is None


def test_accepted_records_are_added_up_per_department_day_and_record_type() -> None:
    late_evening = datetime(2024, 5, 19, 15, 59, tzinfo=UTC)  # 23:59 in Shanghai
    records = [
        title_record("91410105MA9DEM01XB").model_copy(update={"received_at": late_evening}),
        title_record("91410105MA9DEM01XB").model_copy(update={"received_at": late_evening + timedelta(minutes=2)}),
        title_record("91410105MA9DEM01XB").model_copy(update={"received_at": late_evening + timedelta(minutes=3)}),
    ]
    counts = supervision.accepted(records)
    assert [(c.day, c.records, c.first_at, c.last_at) for c in counts] == [
        (date(2024, 5, 19), 1, late_evening, late_evening),
        (date(2024, 5, 20), 2, late_evening + timedelta(minutes=2), late_evening + timedelta(minutes=3)),
    ]
    assert {(c.department, c.outcome, c.reason) for c in counts} == {("gxj", "accepted", "")}


# --- the overview, the 通报 list, the daily series --------------------------------------------


def city_with(**feeds: FeedSchedule) -> city_config.City:
    return dataclasses.replace(city_config.load(), feeds=feeds)


def test_the_overview_counts_the_last_7_and_30_days_and_the_reasons_for_refusals() -> None:
    city = city_with(gxj=schedule(), rsj=schedule(every="P1M", grace="P5D"))
    counts = [
        accepted("gxj", TODAY, 4),
        accepted("gxj", TODAY - timedelta(days=6), 10, "miit.municipal_ai_listing"),
        accepted("gxj", TODAY - timedelta(days=7), 100),  # eight days ago counting today
        accepted("gxj", TODAY - timedelta(days=30), 1000),  # 31 days ago
        refused("gxj", TODAY - timedelta(days=1), "invalid_attributes", 2),
        refused("gxj", TODAY - timedelta(days=20), "invalid_attributes"),
        refused("gxj", TODAY - timedelta(days=20), "record_type_not_allowed"),
        refused("gxj", TODAY - timedelta(days=40), "unknown_record_type"),
    ]
    last = {"gxj": datetime(2024, 5, 20, 2, 5, tzinfo=UTC)}
    feeds = {o.department: o for o in supervision.overview(city, counts, last, now=NOW)}

    assert list(feeds) == list(city.departments)
    gxj = feeds["gxj"]
    assert (gxj.accepted_7d, gxj.accepted_30d, gxj.rejected_7d, gxj.rejected_30d) == (14, 114, 2, 4)
    assert gxj.rejected_by_reason_30d == {"invalid_attributes": 3, "record_type_not_allowed": 1}
    assert (gxj.status.status, gxj.volume.today) == ("on_time", 4)
    assert feeds["rsj"].status.status == "never"
    assert feeds["tjj"].status.status == "unscheduled"


def test_the_overdue_list_holds_only_late_and_silent_feeds_the_longest_late_first() -> None:
    city = city_with(
        gxj=schedule(),
        rsj=dataclasses.replace(schedule(), department="rsj"),
        tjj=dataclasses.replace(schedule(since=date(2024, 1, 1)), department="tjj"),
        cjj=dataclasses.replace(schedule(since=None), department="cjj"),
    )
    last = {"gxj": NOW - timedelta(days=1), "rsj": NOW - timedelta(days=10)}
    listed = supervision.overdue(supervision.overview(city, [], last, now=NOW))
    assert [(o.department, o.status.status) for o in listed] == [
        ("cjj", "never"),  # never heard from, no date to count from
        ("tjj", "never"),  # silent since January
        ("rsj", "overdue"),  # one day past its deadline
    ]


def test_the_series_has_every_one_of_the_last_90_days_oldest_first() -> None:
    counts = [
        accepted("gxj", TODAY, 3),
        accepted("gxj", TODAY, 2, "miit.municipal_ai_listing"),
        refused("gxj", TODAY, "invalid_attributes"),
        accepted("gxj", TODAY - timedelta(days=89), 7),
        accepted("gxj", TODAY - timedelta(days=90), 99),
    ]
    days = supervision.series(counts, today=TODAY)
    assert len(days) == 90
    assert (days[0].day, days[0].accepted) == (TODAY - timedelta(days=89), 7)
    assert sum(d.accepted for d in days[1:-1]) == 0
    last = days[-1]
    assert (last.day, last.accepted, last.rejected) == (TODAY, 5, 1)
    assert last.accepted_by_record_type == {"miit.municipal_ai_listing": 2, "miit.sme_title_recognized": 3}
    assert last.rejected_by_reason == {"invalid_attributes": 1}
    assert last.first_at == datetime(2024, 5, 20, 2, 0, tzinfo=UTC)
