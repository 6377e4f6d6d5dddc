"""Counting a 公示期 in working days (Asia/Shanghai), 调休 included."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import pytest

from payment.calendar import WorkingCalendar, end_of_day

pytestmark = pytest.mark.unit


def test_a_notice_over_national_day_2026_skips_the_holiday_and_counts_the_make_up_saturday() -> None:
    period = WorkingCalendar().notice_period(date(2026, 9, 30), 5)
    # Oct 1–7 off; Oct 8, 9, Sat 10 (调休), 12, 13.
    assert period.until == date(2026, 10, 13)


def test_a_make_up_saturday_is_a_working_day_and_an_ordinary_saturday_is_not() -> None:
    calendar = WorkingCalendar()
    assert calendar.is_working_day(date(2026, 10, 10))
    assert not calendar.is_working_day(date(2026, 10, 17))
    assert calendar.is_working_day(date(2026, 9, 20))  # a 调休 Sunday before National Day


def test_a_notice_starts_the_day_after_it_is_published() -> None:
    # Friday 2026-11-27: the first notice day is Monday the 30th.
    assert WorkingCalendar().notice_period(date(2026, 11, 27), 1).until == date(2026, 11, 30)


def test_a_notice_ends_at_midnight_in_shanghai_after_its_last_day() -> None:
    period = WorkingCalendar().notice_period(date(2026, 11, 24), 1)
    assert period.until == date(2026, 11, 25)
    assert period.ends_at == datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    assert end_of_day(date(2026, 11, 25)) == period.ends_at


def test_zero_days_is_no_notice_at_all() -> None:
    period = WorkingCalendar().notice_period(date(2026, 11, 25), 0)
    assert period.until == date(2026, 11, 25)
    assert period.working_days == 0


def test_a_negative_notice_is_refused() -> None:
    with pytest.raises(ValueError):
        WorkingCalendar().notice_period(date(2026, 11, 25), -1)


def test_an_uncovered_year_counts_weekdays_and_the_city_list_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    calendar = WorkingCalendar(holidays=[date(2027, 1, 1)], workdays=[date(2027, 1, 9)])
    with caplog.at_level(logging.WARNING, logger="payment.calendar"):
        # Thu 2026-12-31 → Fri Jan 1 (city holiday), Mon 4 … Fri 8, Sat 9 (city workday).
        period = calendar.notice_period(date(2026, 12, 31), 6)
        calendar.is_working_day(date(2027, 3, 1))
    assert period.until == date(2027, 1, 9)
    warnings = [r for r in caplog.records if "2027" in r.getMessage()]
    assert len(warnings) == 1


def test_a_day_the_city_lists_overrides_the_official_schedule() -> None:
    calendar = WorkingCalendar(holidays=[date(2026, 11, 25)])
    assert not calendar.is_working_day(date(2026, 11, 25))


def test_the_city_file_carries_a_calendar_block() -> None:
    from mianshen_shared import city

    listed = city.load().calendar
    assert date(2027, 1, 1) in listed.holidays
    assert not listed.holidays & listed.workdays
