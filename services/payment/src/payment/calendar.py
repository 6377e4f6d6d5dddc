"""工作日 — which days count towards a 公示期 (public notice period), Asia/Shanghai.

The State Council's holiday schedule, 调休 (weekend days worked in exchange for a
longer holiday) included, comes from the `chinese-calendar` package, which knows
the years it was released for and refuses later ones. For a year it does not know
we fall back to Monday–Friday, corrected by the holidays and extra working days the
city lists in its configuration (`calendar:` in config/cities/<city>.yaml), and say
so in the log once per year, so an operator knows to update one or the other.
A day the city lists explicitly wins over the package: the city is the authority
for its own corrections.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

log = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")

# Returns whether a day is a working day; raises NotImplementedError for a year it has no data for.
KnownSchedule = Callable[[date], bool]


@dataclass(frozen=True)
class NoticePeriod:
    """A 公示期 in working days: it starts on `starts_on` (the day the payment entered
    notice), runs from the next working day for `working_days` working days and ends
    at the end of `until` (the last of them), i.e. at `ends_at` = midnight
    Asia/Shanghai after `until`, as a UTC timestamp. Zero days: no notice at all."""

    starts_on: date
    working_days: int
    until: date
    ends_at: datetime


class WorkingCalendar:
    def __init__(
        self,
        *,
        holidays: Iterable[date] = (),
        workdays: Iterable[date] = (),
        known: KnownSchedule = chinese_calendar.is_workday,
    ) -> None:
        self._holidays = frozenset(holidays)
        self._workdays = frozenset(workdays)
        self._known = known
        self._warned_years: set[int] = set()

    def is_working_day(self, day: date) -> bool:
        if day in self._workdays:
            return True
        if day in self._holidays:
            return False
        try:
            return bool(self._known(day))
        except NotImplementedError:
            if day.year not in self._warned_years:
                self._warned_years.add(day.year)
                log.warning(
                    "no official holiday schedule for %d: counting Monday–Friday plus the city's calendar list",
                    day.year,
                    extra={"year": day.year},
                )
            return day.weekday() < 5

    def notice_period(self, starts_on: date, working_days: int) -> NoticePeriod:
        """The notice that starts on `starts_on` and lasts `working_days` working days
        (D+1 … the Nth working day after D, ending at the end of that day in Shanghai)."""
        if working_days < 0:
            raise ValueError("a notice period cannot be negative")
        day, counted = starts_on, 0
        while counted < working_days:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return NoticePeriod(
            starts_on=starts_on,
            working_days=working_days,
            until=day,
            ends_at=end_of_day(day),
        )


def end_of_day(day: date) -> datetime:
    """The instant a Shanghai calendar day ends (the next midnight there), in UTC."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=SHANGHAI).astimezone(UTC)


def shanghai_day(instant: datetime) -> date:
    return instant.astimezone(SHANGHAI).date()
