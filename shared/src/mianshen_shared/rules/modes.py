"""Award modes: how a policy turns an enterprise's records into amounts.

Each mode is generic and configured only by the `award` section of a document.
Facts reach a mode already filtered (record type, window, target) and sorted by
(effective_date, record_id), so every choice below is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mianshen_shared import city
from mianshen_shared.rules.expressions import Expression, Scope, amount_text
from mianshen_shared.rules.model import Check, Fact

DEFAULT_GROUP = "once"

Compiler = Callable[[str, str], Expression]  # (source, path) -> Expression


@dataclass(frozen=True)
class Outcome:
    """What one group is entitled to in total, before what was already paid is counted."""

    award_key: str
    amount_fen: int
    rule: str
    computation: str
    facts: tuple[Fact, ...]
    conditions: tuple[Check, ...] = ()


# Checks are collected only when someone asks why (assess); evaluate passes None.
Trace = list[Check] | None


class Mode(Protocol):
    def evaluate(self, facts: Sequence[Fact], scope: Scope, trace: Trace = None) -> list[Outcome]: ...


def _group_key(group_by: Expression | None, scope: Scope, fact: Fact) -> str:
    return DEFAULT_GROUP if group_by is None else group_by.key(scope, fact)


def _optional(award: dict[str, Any], name: str, compile_: Compiler) -> Expression | None:
    source = award.get(name)
    return None if source is None else compile_(source, f"award.{name}")


# --- highest_tier -------------------------------------------------------------


@dataclass(frozen=True)
class Tier:
    label: str
    when: Expression
    amount_fen: int


@dataclass(frozen=True)
class HighestTier:
    """从高不重复: one award per group, at the highest tier any record reached."""

    rule: str
    tiers: tuple[Tier, ...]  # highest amount first; document order breaks ties
    group_by: Expression | None

    @classmethod
    def compile(cls, award: dict[str, Any], compile_: Compiler) -> HighestTier:
        tiers = [
            Tier(label=t["label"], when=compile_(t["when"], f"award.tiers[{i}].when"), amount_fen=t["amount_fen"])
            for i, t in enumerate(award["tiers"])
        ]
        ranked = sorted(enumerate(tiers), key=lambda it: (-it[1].amount_fen, it[0]))
        return cls(
            rule=award["rule"],
            tiers=tuple(t for _, t in ranked),
            group_by=_optional(award, "group_by", compile_),
        )

    def _tier_of(self, scope: Scope, fact: Fact) -> int | None:
        for rank, tier in enumerate(self.tiers):
            if tier.when.condition(scope, fact):
                return rank
        return None

    def evaluate(self, facts: Sequence[Fact], scope: Scope, trace: Trace = None) -> list[Outcome]:
        groups: dict[str, list[tuple[int, Fact]]] = {}
        for fact in facts:
            scope.bind_record(fact)
            rank = self._tier_of(scope, fact)
            if trace is not None:
                trace.append(_tier_check(self.tiers, rank, fact))
            if rank is not None:
                groups.setdefault(_group_key(self.group_by, scope, fact), []).append((rank, fact))
        outcomes = []
        for key, matched in groups.items():
            # Stable sort keeps the earliest record first within a tier.
            matched.sort(key=lambda it: it[0])
            best = self.tiers[matched[0][0]]
            reached = [self.tiers[rank] for rank in sorted({rank for rank, _ in matched})]
            listing = "、".join(f"{t.label}（{amount_text(t.amount_fen)}）" for t in reached)
            if len(reached) > 1:
                computation = f"符合条件的档次：{listing}；只取最高一档，核定{amount_text(best.amount_fen)}"
            else:
                computation = f"符合条件的档次：{listing}，核定{amount_text(best.amount_fen)}"
            outcomes.append(
                Outcome(
                    award_key=key,
                    amount_fen=best.amount_fen,
                    rule=f"{self.rule}：取最高档“{best.label}”{amount_text(best.amount_fen)}",
                    computation=computation,
                    facts=tuple(fact for _, fact in matched),
                    conditions=tuple(_tier_check(self.tiers, rank, fact) for rank, fact in matched),
                )
            )
        return outcomes


def fact_text(fact: Fact) -> str:
    """How an explanation names a record: its id, the department that sent it, its date."""
    department = city.current().departments.get(fact.department)
    source = department.name if department is not None else fact.department
    return f"记录 {fact.record_id}（{source}，{fact.effective_date.isoformat()}）"


def _tier_check(tiers: Sequence[Tier], rank: int | None, fact: Fact) -> Check:
    if rank is None:
        names = "、".join(f"“{t.label}”" for t in tiers)
        return Check(f"{fact_text(fact)}不符合任何奖励档次（{names}）", False)
    return Check(f"{fact_text(fact)}符合“{tiers[rank].label}”（{amount_text(tiers[rank].amount_fen)}）", True)


# --- per_item -----------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    fact: Fact
    label: str


@dataclass(frozen=True)
class PerItem:
    """Each distinct item earns a fixed amount; items are summed per group and capped."""

    rule: str
    when: Expression | None
    item_key: Expression
    item_label: Expression | None
    group_by: Expression | None
    amount_per_item_fen: int
    cap_per_group_fen: int | None
    cap_label: str
    when_label: str | None = None

    @classmethod
    def compile(cls, award: dict[str, Any], compile_: Compiler) -> PerItem:
        return cls(
            rule=award["rule"],
            when=_optional(award, "when", compile_),
            item_key=compile_(award["item_key"], "award.item_key"),
            item_label=_optional(award, "item_label", compile_),
            group_by=_optional(award, "group_by", compile_),
            amount_per_item_fen=award["amount_per_item_fen"],
            cap_per_group_fen=award.get("cap_per_group_fen"),
            cap_label=award.get("cap_label", "每组最高"),
            when_label=award.get("when_label"),
        )

    def evaluate(self, facts: Sequence[Fact], scope: Scope, trace: Trace = None) -> list[Outcome]:
        groups: dict[str, list[_Item]] = {}
        duplicates: dict[str, list[Fact]] = {}  # by the group of the item they repeat
        seen: dict[str, str] = {}  # item_key -> group of the item that was counted
        for fact in facts:
            scope.bind_record(fact)
            if self.when is not None and not self.when.condition(scope, fact):
                if trace is not None:
                    condition = self.when_label or self.when.source
                    trace.append(Check(f"{fact_text(fact)}不满足计奖条件（{condition}）", False))
                continue
            item = self.item_key.key(scope, fact)
            if item in seen:
                if trace is not None:
                    trace.append(Check(f"{fact_text(fact)}与已计项目重复（{item}），不重复计奖", False))
                duplicates.setdefault(seen[item], []).append(fact)
                continue
            if trace is not None:
                trace.append(Check(f"{fact_text(fact)}计为一个奖励项目（{item}）", True))
            group = _group_key(self.group_by, scope, fact)
            seen[item] = group
            label = fact.record_id if self.item_label is None else self.item_label.text(scope, fact)
            groups.setdefault(group, []).append(_Item(fact=fact, label=label))
        return [self._outcome(key, items, duplicates.get(key, [])) for key, items in groups.items()]

    def _outcome(self, key: str, items: list[_Item], duplicates: list[Fact]) -> Outcome:
        per = self.amount_per_item_fen
        gross = len(items) * per
        cap = self.cap_per_group_fen
        amount = gross if cap is None else min(gross, cap)
        labels = "、".join(f"“{it.label}”" for it in items)
        text = f"计奖项目：{labels}；{len(items)}项 × {amount_text(per)} = {amount_text(gross)}"
        if cap is not None:
            text += f"，{self.cap_label}{amount_text(cap)}"
        text += f"，核定{amount_text(amount)}"
        if duplicates:
            ids = "、".join(f.record_id for f in duplicates)
            text += f"（记录 {ids} 与已计项目重复，不重复计奖）"
        return Outcome(
            award_key=key,
            amount_fen=amount,
            rule=self.rule,
            computation=text,
            facts=tuple(it.fact for it in items),
            conditions=tuple(Check(f"{fact_text(it.fact)}计为项目“{it.label}”", True) for it in items),
        )


# --- formula ------------------------------------------------------------------


@dataclass(frozen=True)
class Formula:
    """An amount computed from the group's most recent record and the parameters."""

    rule: str
    group_by: Expression | None
    derive: tuple[tuple[str, Expression], ...]
    when: Expression
    amount_fen: Expression
    computation: Expression | None
    when_label: str | None = None

    @classmethod
    def compile(cls, award: dict[str, Any], compile_: Compiler) -> Formula:
        return cls(
            rule=award["rule"],
            group_by=_optional(award, "group_by", compile_),
            derive=tuple(
                (d["name"], compile_(d["expr"], f"award.derive[{i}].expr"))
                for i, d in enumerate(award.get("derive", []))
            ),
            when=compile_(award["when"], "award.when"),
            amount_fen=compile_(award["amount_fen"], "award.amount_fen"),
            computation=_optional(award, "computation", compile_),
            when_label=award.get("when_label"),
        )

    def evaluate(self, facts: Sequence[Fact], scope: Scope, trace: Trace = None) -> list[Outcome]:
        # A later record for the same group supersedes earlier ones (a department's
        # correction), so the group is decided on its latest record alone.
        latest: dict[str, tuple[Fact, list[Fact]]] = {}
        # `vars` is bound only once every group is known, so group_by cannot read it.
        for fact in facts:
            scope.bind_record(fact)
            key = _group_key(self.group_by, scope, fact)
            superseded = [*latest[key][1], latest[key][0]] if key in latest else []
            latest[key] = (fact, superseded)
        # `amount_fen` is readable by the computation text alone, so that text runs in a
        # scope of its own rather than leaving the amount bound for the next group.
        text_scope = scope.fresh()
        outcomes = []
        for key, (fact, superseded) in latest.items():
            scope.bind_record(fact)
            derived: dict[str, Any] = {}
            scope.bind("vars", derived)
            for name, expr in self.derive:
                derived[name] = expr.run(scope, fact)
                scope.bind("vars", derived)
            met = self.when.condition(scope, fact)
            condition = self.when_label or self.when.source
            check = Check(f"{fact_text(fact)}：{condition}——{'符合' if met else '不符合'}", met)
            if trace is not None:
                trace.append(check)
            if not met:
                continue
            amount = self.amount_fen.fen(scope, fact)
            if self.computation is None:
                text = f"按公式 {self.amount_fen.source} 计算，核定{amount_text(amount)}"
            else:
                text_scope.bind_record(fact)
                text_scope.bind("vars", derived)
                text_scope.bind("amount_fen", amount)
                text = self.computation.text(text_scope, fact)
            if superseded:
                text += f"（以最新记录 {fact.record_id} 为准，取代 {'、'.join(f.record_id for f in superseded)}）"
            outcomes.append(Outcome(key, amount, self.rule, text, (fact,), (check,)))
        return outcomes


MODES: dict[str, Callable[[dict[str, Any], Compiler], Mode]] = {
    "highest_tier": HighestTier.compile,
    "per_item": PerItem.compile,
    "formula": Formula.compile,
}
