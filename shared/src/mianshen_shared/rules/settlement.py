"""What the policy already paid: 级差/差额, 首次/不重复, lifetime caps, and components.

A mode says what each group (award_key) is entitled to in total. This layer
subtracts what the policy already paid the enterprise for that group, so that
an upgrade pays only the difference (top_up), a group paid once gets nothing
more (once), and a lifetime cap counts everything paid so far. A later
payment for a group gets its own key, `<group>#<n>`, so a paid award is never
reopened: re-evaluating with the same facts and history returns the same
awards, and a paid tranche never comes back.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from mianshen_shared.rules.expressions import Scope, amount_text
from mianshen_shared.rules.model import Check, Fact, PriorAward
from mianshen_shared.rules.modes import MODES, Compiler, Mode, Outcome, Trace

TRANCHE_SEPARATOR = "#"
COMPONENT_SEPARATOR = ":"
TOP_UP = "top_up"
ONCE = "once"


def group_of(award_key: str) -> str:
    """ "once#2" -> "once": the group a tranche belongs to."""
    return award_key.split(TRANCHE_SEPARATOR, 1)[0]


def _tranche_number(award_key: str) -> int:
    _, sep, number = award_key.partition(TRANCHE_SEPARATOR)
    return int(number) if sep and number.isdigit() else 1


def _paid_text(paid: Sequence[PriorAward]) -> str:
    return "、".join(f"{a.paid_on.isoformat()}兑现{amount_text(a.amount_fen)}" for a in paid)


def _settle_group(outcome: Outcome, paid: Sequence[PriorAward], prior: str, trace: Trace) -> Outcome | None:
    total_paid = sum(a.amount_fen for a in paid)
    if prior == ONCE:
        note = Check(f"本政策已就此项奖励过企业（{_paid_text(paid)}），按首次/不重复原则不再奖励", False)
        if trace is not None:
            trace.append(note)
        return None
    payable = outcome.amount_fen - total_paid
    if payable <= 0:
        note = Check(
            f"现核定{amount_text(outcome.amount_fen)}，本政策已奖励{amount_text(total_paid)}（{_paid_text(paid)}），无差额可补",
            False,
        )
        if trace is not None:
            trace.append(note)
        return None
    tranche = max(_tranche_number(a.award_key) for a in paid) + 1
    step = f"{amount_text(outcome.amount_fen)} − 本政策已奖励{amount_text(total_paid)} = {amount_text(payable)}"
    note = Check(f"本政策已奖励{amount_text(total_paid)}（{_paid_text(paid)}），按差额奖励：{step}", None)
    if trace is not None:
        trace.append(note)
    return dataclasses.replace(
        outcome,
        award_key=f"{outcome.award_key}{TRANCHE_SEPARATOR}{tranche}",
        amount_fen=payable,
        computation=f"{outcome.computation}；按差额奖励：{step}",
        conditions=(*outcome.conditions, note),
    )


def settle(outcomes: Sequence[Outcome], history: Sequence[PriorAward], prior: str, trace: Trace) -> list[Outcome]:
    if not history:
        return list(outcomes)
    paid: dict[str, list[PriorAward]] = defaultdict(list)
    for award in history:
        paid[group_of(award.award_key)].append(award)
    out = []
    for outcome in outcomes:
        before = paid.get(outcome.award_key)
        settled = outcome if not before else _settle_group(outcome, before, prior, trace)
        if settled is not None:
            out.append(settled)
    return out


def _first_date(outcome: Outcome) -> date:
    return min((f.effective_date for f in outcome.facts), default=date.min)


def apply_cap(
    outcomes: Sequence[Outcome], history: Sequence[PriorAward], cap: int, label: str, trace: Trace
) -> list[Outcome]:
    """Share what is left of the lifetime cap out in the order the awards arose."""
    already = sum(a.amount_fen for a in history)
    remaining = max(cap - already, 0)
    out = []
    for outcome in sorted(outcomes, key=lambda o: (_first_date(o), o.award_key)):
        amount = min(outcome.amount_fen, remaining)
        remaining -= amount
        if amount == outcome.amount_fen:
            out.append(outcome)
            continue
        step = f"{label}{amount_text(cap)}（本政策此前已奖励{amount_text(already)}），本项核定{amount_text(amount)}"
        note = Check(step, None if amount else False)
        if trace is not None:
            trace.append(note)
        if amount > 0:
            capped = dataclasses.replace(
                outcome,
                amount_fen=amount,
                computation=f"{outcome.computation}；{step}",
                conditions=(*outcome.conditions, note),
            )
            out.append(capped)
    return out


class AwardRule:
    """A compiled `award` section: evaluate(facts, scope, history, trace) -> outcomes to pay."""

    def evaluate(
        self, facts: Sequence[Fact], scope: Scope, history: Sequence[PriorAward], trace: Trace
    ) -> list[Outcome]:
        raise NotImplementedError

    def leaves(self) -> list[tuple[Mode, frozenset[str] | None]]:
        """Each mode with the record types that reach it (None: all the policy's)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Settled(AwardRule):
    """One mode, with what was already paid taken off."""

    mode: Mode
    prior: str
    cap_total_fen: int | None
    cap_label: str

    @classmethod
    def compile(cls, award: dict[str, Any], compile_: Compiler) -> Settled:
        return cls(
            mode=MODES[award["mode"]](award, compile_),
            prior=award.get("prior_awards", TOP_UP),
            cap_total_fen=award.get("cap_total_fen"),
            cap_label=award.get("cap_total_label", "单一企业累计奖励不超过"),
        )

    def evaluate(
        self, facts: Sequence[Fact], scope: Scope, history: Sequence[PriorAward], trace: Trace
    ) -> list[Outcome]:
        outcomes = settle(self.mode.evaluate(facts, scope, trace), history, self.prior, trace)
        if self.cap_total_fen is not None:
            outcomes = apply_cap(outcomes, history, self.cap_total_fen, self.cap_label, trace)
        return outcomes

    def leaves(self) -> list[tuple[Mode, frozenset[str] | None]]:
        return [(self.mode, None)]


@dataclass(frozen=True)
class Component:
    key: str
    label: str
    record_types: frozenset[str] | None
    award: Settled


@dataclass(frozen=True)
class Components(AwardRule):
    """Several awards under one policy (an 入库 reward and its follow-on bonuses)."""

    parts: tuple[Component, ...]
    cap_total_fen: int | None
    cap_label: str

    @classmethod
    def compile(cls, award: dict[str, Any], compile_: Compiler) -> Components:
        parts = []
        for i, part in enumerate(award["components"]):

            def scoped(source: str, path: str, _i: int = i) -> Any:
                return compile_(source, path.replace("award.", f"award.components[{_i}].award.", 1))

            types = part.get("record_types")
            parts.append(
                Component(
                    key=part["key"],
                    label=part["label"],
                    record_types=frozenset(types) if types is not None else None,
                    award=Settled.compile(part["award"], scoped),
                )
            )
        return cls(
            parts=tuple(parts),
            cap_total_fen=award.get("cap_total_fen"),
            cap_label=award.get("cap_total_label", "单一企业累计奖励不超过"),
        )

    def evaluate(
        self, facts: Sequence[Fact], scope: Scope, history: Sequence[PriorAward], trace: Trace
    ) -> list[Outcome]:
        out: list[Outcome] = []
        for part in self.parts:
            prefix = f"{part.key}{COMPONENT_SEPARATOR}"
            own = [f for f in facts if part.record_types is None or f.record_type in part.record_types]
            paid = [
                dataclasses.replace(a, award_key=a.award_key[len(prefix) :])
                for a in history
                if a.award_key.startswith(prefix)
            ]
            if trace is not None:
                trace.append(Check(f"【{part.label}】", None))
            for outcome in part.award.evaluate(own, scope, paid, trace):
                out.append(
                    dataclasses.replace(
                        outcome, award_key=f"{prefix}{outcome.award_key}", rule=f"{part.label}：{outcome.rule}"
                    )
                )
        if self.cap_total_fen is not None:
            out = apply_cap(out, history, self.cap_total_fen, self.cap_label, trace)
        return out

    def leaves(self) -> list[tuple[Mode, frozenset[str] | None]]:
        return [(part.award.mode, part.record_types) for part in self.parts]


AWARD_RULES: dict[str, Callable[[dict[str, Any], Compiler], AwardRule]] = {
    **{name: Settled.compile for name in MODES},
    "components": Components.compile,
}
