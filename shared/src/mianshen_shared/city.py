"""The city's configuration: departments, the record types each may push, and
the JSON Schema of each record type's attributes. Loaded from YAML, never coded."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker

from mianshen_shared import feed_schedules
from mianshen_shared.config import REPO_ROOT
from mianshen_shared.schema_messages import describe

DEFAULT_CITY_FILE = REPO_ROOT / "config" / "cities" / "zhengzhou.yaml"


@dataclass(frozen=True)
class RecordType:
    code: str
    name: str
    credit_list: str | None  # "black" / "red" for credit records
    validator: Draft202012Validator


@dataclass(frozen=True)
class Department:
    code: str
    name: str
    record_types: frozenset[str]


@dataclass(frozen=True)
class CityCalendar:
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()


@dataclass(frozen=True)
class City:
    code: str
    name: str
    division_prefix: str
    departments: dict[str, Department]
    record_types: dict[str, RecordType]
    # 数据共享约定: the agreed push rhythm of each department that has one.
    feeds: dict[str, feed_schedules.FeedSchedule] = field(default_factory=dict)
    # 年度预算: policy id → fiscal year → fen, as operators set it (reported, not enforced).
    budgets: dict[str, dict[int, int]] = field(default_factory=dict)
    # Holidays and extra working days (调休) for years the official schedule package does not know yet.
    calendar: CityCalendar = field(default_factory=CityCalendar)

    def attribute_errors(self, record_type: str, attributes: dict[str, Any]) -> list[str]:
        """Chinese messages for every way `attributes` break the record type's schema."""
        rt = self.record_types[record_type]
        out = []
        for err in sorted(rt.validator.iter_errors(attributes), key=lambda e: [str(p) for p in e.path]):
            out.append(describe(err, root="attributes"))
        return out


def load(path: Path | str | None = None) -> City:
    source = path or os.environ.get("MIANSHEN_CITY_FILE") or DEFAULT_CITY_FILE
    raw = yaml.safe_load(Path(source).read_text("utf-8"))
    record_types = {
        code: RecordType(
            code=code,
            name=spec["name"],
            credit_list=spec.get("credit_list"),
            validator=Draft202012Validator(spec["attributes"], format_checker=FormatChecker()),
        )
        for code, spec in raw["record_types"].items()
    }
    departments = {
        code: Department(code=code, name=spec["name"], record_types=frozenset(spec.get("record_types", [])))
        for code, spec in raw["departments"].items()
    }
    for dept in departments.values():
        unknown = dept.record_types - record_types.keys()
        if unknown:
            raise ValueError(f"department {dept.code} lists undeclared record types {sorted(unknown)}")
    return City(
        code=raw["city"]["code"],
        name=raw["city"]["name"],
        division_prefix=raw["city"]["division_prefix"],
        departments=departments,
        record_types=record_types,
        feeds=feed_schedules.load(raw.get("feeds"), departments.keys()),
        budgets=_budgets(raw.get("budgets") or {}),
        calendar=_calendar(raw.get("calendar") or {}),
    )


def _budgets(raw: dict[Any, Any]) -> dict[str, dict[int, int]]:
    out: dict[str, dict[int, int]] = {}
    for policy_id, years in raw.items():
        if not isinstance(years, dict):
            raise ValueError(f"budgets.{policy_id}: expected fiscal year → amount in fen")
        for year, fen in years.items():
            # bool is an int to Python; a float would be money in yuan by mistake.
            if not isinstance(year, int) or not isinstance(fen, int) or isinstance(fen, bool) or fen < 0:
                raise ValueError(f"budgets.{policy_id}.{year}: expected a year and a whole, non-negative fen amount")
        out[str(policy_id)] = dict(years)
    return out


def _calendar(raw: dict[Any, Any]) -> CityCalendar:
    days: dict[str, frozenset[date]] = {}
    for kind in ("holidays", "workdays"):
        listed = raw.get(kind) or []
        # YAML reads an unquoted 2027-01-01 as a date already; a string would be a typo's sign.
        if not isinstance(listed, list) or not all(isinstance(d, date) and not isinstance(d, datetime) for d in listed):
            raise ValueError(f"calendar.{kind}: expected a list of dates (YYYY-MM-DD)")
        days[kind] = frozenset(listed)
    if overlap := days["holidays"] & days["workdays"]:
        raise ValueError(f"calendar: listed both as holiday and working day: {sorted(overlap)}")
    return CityCalendar(holidays=days["holidays"], workdays=days["workdays"])


@functools.cache
def current() -> City:
    return load()
