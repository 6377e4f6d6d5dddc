"""The engine's inputs and outputs, and the errors it raises."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from mianshen_shared.events.catalog import Explanation


@dataclass(frozen=True)
class Fact:
    """One department record as eligibility stores it."""

    record_id: str
    department: str
    record_type: str
    effective_date: date
    attributes: dict[str, Any]


@dataclass(frozen=True)
class Award:
    """What one enterprise is entitled to under one policy, for one award_key."""

    award_key: str
    amount_fen: int
    explanation: Explanation


@dataclass(frozen=True)
class PriorAward:
    """What this policy already paid the enterprise for one award_key (from payment
    events). 级差/差额, caps, 首次 and 不重复 are all decided against these."""

    award_key: str
    amount_fen: int
    paid_on: date
    policy_version: int | None = None


@dataclass(frozen=True)
class Check:
    """One condition the engine tested, in Chinese, and whether it held (None: not
    a condition but a note, e.g. why a record was set aside)."""

    text: str
    met: bool | None


@dataclass(frozen=True)
class Assessment:
    """The answer to "what do I get under this policy, and why (not)?"."""

    policy_id: str
    policy_version: int
    policy_title: str
    legal_basis: str
    clause: str
    eligible: bool
    awards: list[Award]
    checks: list[Check]
    summary: str


class PolicyInvalid(ValueError):
    """A policy document that cannot be compiled; `errors` name the path of each fault."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("政策文档不合法：" + "；".join(errors))
        self.errors = errors


class PolicyEvaluationError(RuntimeError):
    """A compiled policy could not be applied to a record (e.g. a formula yielded a
    fraction or a negative amount, or a condition read a missing attribute).
    Never silently skipped: a wrong amount is worse than no amount."""
