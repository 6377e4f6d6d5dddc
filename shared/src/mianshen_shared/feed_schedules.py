"""数据共享约定 — how often each department agreed to push its records.

The schedules are city configuration (the `feeds:` section of the city file);
a department that misses its deadline goes on the 通报 list. Rhythms are ISO 8601
durations (`P1D`, `P7D`, `P1M`, `PT12H`) or a mapping such as `{days: 1}`.
Months are calendar months in Asia/Shanghai: a monthly feed last pushed on 31
January is due on the last day of February, not 31 days later.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

_ISO = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
_UNITS = ("years", "months", "weeks", "days", "hours", "minutes", "seconds")


@dataclass(frozen=True)
class Period:
    """A length of time as people agree on it: calendar months plus days plus seconds."""

    months: int = 0
    days: int = 0
    seconds: int = 0

    @classmethod
    def parse(cls, value: Any) -> Period:
        """`P1D`-style text or a `{days: N}`-style mapping; ValueError otherwise."""
        if isinstance(value, str):
            match = _ISO.match(value.strip())
            if match is None:
                raise ValueError(f"not an ISO 8601 duration: {value!r}")
            parts = {k: int(v) for k, v in match.groupdict().items() if v is not None}
        elif isinstance(value, Mapping):
            unknown = set(value) - set(_UNITS)
            if unknown:
                raise ValueError(f"unknown units {sorted(unknown)} (allowed: {', '.join(_UNITS)})")
            if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value.values()):
                raise ValueError(f"units must be non-negative integers: {dict(value)}")
            parts = dict(value)
        else:
            raise ValueError(f"expected an ISO 8601 duration or a mapping of units, got {value!r}")
        return cls(
            months=12 * parts.get("years", 0) + parts.get("months", 0),
            days=7 * parts.get("weeks", 0) + parts.get("days", 0),
            seconds=3600 * parts.get("hours", 0) + 60 * parts.get("minutes", 0) + parts.get("seconds", 0),
        )

    @property
    def is_zero(self) -> bool:
        return self.months == 0 and self.days == 0 and self.seconds == 0

    def after(self, moment: datetime) -> datetime:
        """`moment` moved on by this period, months counted on the Shanghai calendar (UTC out)."""
        local = moment.astimezone(SHANGHAI)
        if self.months:
            year, month0 = divmod(local.year * 12 + local.month - 1 + self.months, 12)
            day = min(local.day, calendar.monthrange(year, month0 + 1)[1])
            local = local.replace(year=year, month=month0 + 1, day=day)
        return (local + timedelta(days=self.days, seconds=self.seconds)).astimezone(UTC)

    def longest(self) -> timedelta:
        """The longest this period can last (a month counts as 31 days)."""
        return timedelta(days=31 * self.months + self.days, seconds=self.seconds)

    def iso(self) -> str:
        if self.is_zero:
            return "P0D"
        years, months = divmod(self.months, 12)
        hours, rest = divmod(self.seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        text = "P" + "".join(f"{n}{u}" for n, u in ((years, "Y"), (months, "M"), (self.days, "D")) if n)
        clock = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n)
        return text + ("T" + clock if clock else "")

    def zh(self) -> str:
        """The period in words: 1个月、7天、12小时."""
        if self.is_zero:
            return "0天"
        hours, rest = divmod(self.seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        units = ((self.months, "个月"), (self.days, "天"), (hours, "小时"), (minutes, "分钟"), (seconds, "秒"))
        return "".join(f"{n}{u}" for n, u in units if n)


@dataclass(frozen=True)
class FeedSchedule:
    """One department's agreed rhythm: a push at least every `every`, `grace` allowed
    on top, expected from `since` (Asia/Shanghai) or from the start when absent."""

    department: str
    every: Period
    grace: Period
    since: date | None
    agreement: str

    def starts_at(self) -> datetime | None:
        """The first moment a push is expected from (midnight of `since` in Shanghai, UTC)."""
        if self.since is None:
            return None
        return datetime.combine(self.since, time(), tzinfo=SHANGHAI).astimezone(UTC)

    def due_after(self, anchor: datetime) -> datetime:
        return self.every.after(anchor)

    def deadline_after(self, anchor: datetime) -> datetime:
        return self.grace.after(self.every.after(anchor))

    def allowed_gap(self) -> timedelta:
        """The longest gap between two pushes the agreement tolerates, grace included."""
        return self.every.longest() + self.grace.longest()

    def zh(self) -> str:
        grace = f"，宽限{self.grace.zh()}" if not self.grace.is_zero else ""
        since = f"，自{self.since.isoformat()}起" if self.since is not None else ""
        return f"每{self.every.zh()}至少报送一次{grace}{since}"


def load(raw: Mapping[str, Any] | None, departments: Collection[str]) -> dict[str, FeedSchedule]:
    """The `feeds:` section of a city file; ValueError naming the department for any fault."""
    out: dict[str, FeedSchedule] = {}
    for code, spec in (raw or {}).items():
        if code not in departments:
            raise ValueError(f"feeds: {code} is not a declared department")
        if not isinstance(spec, Mapping):
            raise ValueError(f"feeds.{code}: expected a mapping with every, grace, since, agreement")
        unknown = set(spec) - {"every", "grace", "since", "agreement"}
        if unknown:
            raise ValueError(f"feeds.{code}: unknown keys {sorted(unknown)}")
        try:
            every = Period.parse(spec["every"])
            grace = Period.parse(spec.get("grace", "P0D"))
        except KeyError:
            raise ValueError(f"feeds.{code}: every is required") from None
        except ValueError as exc:
            raise ValueError(f"feeds.{code}: {exc}") from exc
        if every.is_zero:
            raise ValueError(f"feeds.{code}: every must be longer than zero")
        since = spec.get("since")
        if isinstance(since, str):
            since = date.fromisoformat(since)
        if since is not None and (not isinstance(since, date) or isinstance(since, datetime)):
            raise ValueError(f"feeds.{code}: since must be a date (YYYY-MM-DD)")
        agreement = spec.get("agreement")
        if not isinstance(agreement, str) or not agreement.strip():
            raise ValueError(f"feeds.{code}: agreement (the text of what was agreed, in Chinese) is required")
        out[code] = FeedSchedule(department=code, every=every, grace=grace, since=since, agreement=agreement.strip())
    return out
