"""Compile a policy document once; evaluate it against an enterprise's records.

Policies are data: everything policy-specific lives in the document and its CEL
expressions, so a new policy is a new document, never new code here.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from mianshen_shared import city
from mianshen_shared import uscc as uscc_rules
from mianshen_shared.events.catalog import ConditionChecked, Explanation, FactUsed
from mianshen_shared.rules.expressions import (
    FULL_RECORD,
    Expression,
    RecordShape,
    Scope,
    amount_text,
    record_shape,
    record_variable,
)
from mianshen_shared.rules.loader import jsonable
from mianshen_shared.rules.model import (
    Assessment,
    Award,
    Check,
    Fact,
    PolicyEvaluationError,
    PolicyInvalid,
    PriorAward,
)
from mianshen_shared.rules.modes import HighestTier, Outcome, Trace, fact_text
from mianshen_shared.rules.schema import schema_errors
from mianshen_shared.rules.settlement import AWARD_RULES, AwardRule


@dataclass(frozen=True)
class CompiledPolicy:
    """A validated policy with every expression compiled; immutable."""

    id: str
    version: int
    title: str
    benefit_kind: str
    input_record_types: frozenset[str]
    _document: dict[str, Any] = field(repr=False)
    _award_rule: AwardRule = field(repr=False)
    _reads_facts: bool = field(repr=False)
    _enterprise_kinds: frozenset[str] | None = field(repr=False)
    _params: dict[str, int] = field(repr=False)
    _effective_from: date = field(repr=False)
    _effective_to: date | None = field(repr=False)
    _division_prefix: str = field(repr=False)
    _enterprise_sizes: frozenset[str] | None = field(repr=False)
    _legal_basis: str = field(repr=False)
    _clause: str = field(repr=False)
    _record_shape: RecordShape = field(repr=False)

    @property
    def document(self) -> dict[str, Any]:
        """The document as published (a copy, so callers cannot alter the policy)."""
        return copy.deepcopy(self._document)

    def _counts(self, fact: Fact) -> bool:
        if fact.record_type not in self.input_record_types:
            return False
        if fact.effective_date < self._effective_from:
            return False
        if self._effective_to is not None and fact.effective_date > self._effective_to:
            return False
        if self._enterprise_sizes is not None and fact.attributes.get("enterprise_size") not in self._enterprise_sizes:
            return False
        kind = fact.attributes.get("enterprise_kind")
        return self._enterprise_kinds is None or kind is None or kind in self._enterprise_kinds

    def _set_aside(self, fact: Fact) -> str | None:
        """Why a fact does not count (None: it counts), for the "why not" trace."""
        if fact.record_type not in self.input_record_types:
            return None  # other policies' data: not worth mentioning
        if fact.effective_date < self._effective_from:
            return f"生效日期早于政策执行起始日 {self._effective_from.isoformat()}"
        if self._effective_to is not None and fact.effective_date > self._effective_to:
            return f"生效日期晚于政策执行截止日 {self._effective_to.isoformat()}"
        if self._enterprise_sizes is not None and fact.attributes.get("enterprise_size") not in self._enterprise_sizes:
            return "企业规模不在政策支持范围内"
        return "企业类型不在政策支持范围内"

    def _award(self, outcome: Outcome) -> Award:
        # Built without validation: every field already has its type (strings from the
        # compiled document and the modes, dates and JSON attributes from the facts),
        # and validating each explanation cost more than the whole evaluation.
        return Award(
            award_key=outcome.award_key,
            amount_fen=outcome.amount_fen,
            explanation=Explanation.model_construct(
                policy_id=self.id,
                policy_version=self.version,
                legal_basis=self._legal_basis,
                clause=self._clause,
                rule=outcome.rule,
                computation=outcome.computation,
                conditions=[ConditionChecked.model_construct(text=c.text, met=c.met) for c in outcome.conditions],
                facts=[
                    FactUsed.model_construct(
                        record_id=f.record_id,
                        department=f.department,
                        record_type=f.record_type,
                        effective_date=f.effective_date,
                        attributes=_copy_json(f.attributes),
                    )
                    for f in outcome.facts
                ],
            ),
        )


def _copy_json(value: Any) -> Any:
    """A copy of JSON data, so an explanation never shares the caller's attributes;
    far cheaper than copy.deepcopy, which falls back to it for anything else."""
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_json(v) for v in value]
    if value is None or isinstance(value, str | int | float):
        return value
    return copy.deepcopy(value)


# Only valid codes are remembered (an exception is not cached): an enterprise is
# evaluated again on every record about it and under every policy.
_valid_uscc = functools.lru_cache(maxsize=65536)(uscc_rules.validate)


def _semantic_errors(document: dict[str, Any]) -> list[str]:
    errors = []
    the_city = city.current()
    for i, record_type in enumerate(document["record_types"]):
        if record_type not in the_city.record_types:
            errors.append(f"record_types[{i}]: 记录类型“{record_type}”未在{the_city.name}城市配置中声明")
    prefix = document["target"]["division_prefix"]
    if not prefix.startswith(the_city.division_prefix):
        errors.append(
            f"target.division_prefix: “{prefix}”不在{the_city.name}（区划代码前缀 {the_city.division_prefix}）范围内"
        )
    effective = document["effective"]
    if effective.get("to") is not None and effective["to"] < effective["from"]:
        errors.append(f"effective.to: 截止日期 {effective['to']} 早于起始日期 {effective['from']}")
    award = document["award"]
    leaves = [("award", award)]
    if award["mode"] == "components":
        keys = [part["key"] for part in award["components"]]
        for i, part in enumerate(award["components"]):
            where = f"award.components[{i}]"
            if part["key"] in keys[:i]:
                errors.append(f"{where}.key: 组成部分“{part['key']}”重复")
            for j, record_type in enumerate(part.get("record_types", [])):
                if record_type not in document["record_types"]:
                    errors.append(f"{where}.record_types[{j}]: “{record_type}”不在政策的 record_types 中")
            leaves.append((f"{where}.award", part["award"]))
    for where, leaf in leaves:
        names = [d["name"] for d in leaf.get("derive", [])]
        for i, name in enumerate(names):
            if name in names[:i]:
                errors.append(f"{where}.derive[{i}].name: 名称“{name}”重复")
        tiers = leaf.get("tiers", [])
        for i, tier in enumerate(tiers):
            for field_name in ("label", "when"):
                if any(other[field_name] == tier[field_name] for other in tiers[:i]):
                    errors.append(f"{where}.tiers[{i}].{field_name}: 档次重叠（与前面的档次相同：{tier[field_name]}）")
    for i, case in enumerate(document.get("cases", [])):
        for j, fact in enumerate(case["facts"]):
            if fact["record_type"] not in document["record_types"]:
                errors.append(f"cases[{i}].facts[{j}].record_type: “{fact['record_type']}”不在政策的 record_types 中")
    return errors


def compile_policy(document: dict[str, Any]) -> CompiledPolicy:
    """Validate against the JSON Schema and the city, compile every CEL expression.

    Raises PolicyInvalid listing every fault found, each naming its path.
    """
    if not isinstance(document, dict):
        raise PolicyInvalid(["（文档根）: 政策文档应为对象"])
    document = jsonable(document)
    errors = schema_errors(document)
    if errors:
        raise PolicyInvalid(errors)
    errors = _semantic_errors(document)
    policy_ref = f"{document['id']} 第{document['version']}版"

    sources: list[str] = []
    compiled_expressions: list[Expression] = []

    def compile_expression(source: str, path: str) -> Expression:
        sources.append(source)
        try:
            expression = Expression.compile(source, path=path, policy_ref=policy_ref)
        except ValueError as exc:
            errors.append(str(exc))
            return Expression(path=path, source=source, program=None, policy_ref=policy_ref)
        compiled_expressions.append(expression)
        return expression

    award = document["award"]
    award_rule = AWARD_RULES[award["mode"]](award, compile_expression)
    if errors:
        raise PolicyInvalid(errors)
    target = document["target"]
    sizes = target.get("enterprise_sizes")
    kinds = target.get("enterprise_kinds")
    legal = document["legal_basis"]
    return CompiledPolicy(
        id=document["id"],
        version=document["version"],
        title=document["title"],
        benefit_kind=document["benefit"]["kind"],
        input_record_types=frozenset(document["record_types"]),
        _document=copy.deepcopy(document),
        _award_rule=award_rule,
        _reads_facts=any(expr.reads is None or "facts" in expr.reads for expr in compiled_expressions),
        _enterprise_kinds=frozenset(kinds) if kinds is not None else None,
        _params={name: spec["value"] for name, spec in document.get("parameters", {}).items()},
        _effective_from=date.fromisoformat(document["effective"]["from"]),
        _effective_to=(date.fromisoformat(document["effective"]["to"]) if document["effective"].get("to") else None),
        _division_prefix=target["division_prefix"],
        _enterprise_sizes=frozenset(sizes) if sizes is not None else None,
        _legal_basis=f"《{legal['title']}》（{legal['number']}）",
        _clause=document["clause"],
        _record_shape=record_shape(sources),
    )


def _outcomes(
    policy: CompiledPolicy, uscc: str, facts: Sequence[Fact], history: Sequence[PriorAward], trace: Trace
) -> list[Outcome] | None:
    """None when the enterprise is outside the policy's target area."""
    _valid_uscc(uscc)
    if not uscc_rules.division_code(uscc).startswith(policy._division_prefix):
        return None
    relevant = sorted((f for f in facts if policy._counts(f)), key=lambda f: (f.effective_date, f.record_id))
    scope = Scope(dict(policy._params), policy._record_shape)
    if policy._reads_facts:
        scope.bind("facts", [record_variable(f, FULL_RECORD) for f in relevant])
    outcomes = policy._award_rule.evaluate(relevant, scope, history, trace)
    return [o for o in outcomes if o.amount_fen > 0]


def evaluate(
    policy: CompiledPolicy, *, uscc: str, facts: Sequence[Fact], history: Sequence[PriorAward] = ()
) -> list[Award]:
    """Every award still payable to the enterprise under `policy`, sorted by award_key.

    `history` is what this policy already paid the enterprise; with it, an upgrade
    pays only the difference under a new key (`<group>#2`), a group paid once gets
    nothing more where the policy says so, and lifetime caps count what was paid.
    Pure and deterministic: facts of other record types or outside the policy's
    window are ignored, their order does not matter, enterprises outside the target
    get [], and zero amounts are not awards. Raises InvalidUSCC for a malformed code
    and PolicyEvaluationError when the document cannot be applied to a record.
    """
    outcomes = _outcomes(policy, uscc, facts, history, None) or []
    return sorted((policy._award(o) for o in outcomes), key=lambda a: a.award_key)


MIN_CASES = 3


def _default_department(record_type: str) -> str:
    for code, department in city.current().departments.items():
        if record_type in department.record_types:
            return code
    return "unknown"


def case_uscc(policy: CompiledPolicy) -> str:
    """A valid code registered in the policy's target area, for cases that name none."""
    division = (policy._division_prefix + "000000")[:6]
    if division.endswith("00") and len(policy._division_prefix) <= 4:
        division = division[:4] + "01"
    return uscc_rules.build("9", "1", division, "MA0CAE01")


def _case_inputs(
    policy: CompiledPolicy, i: int, case: dict[str, Any]
) -> tuple[list[Fact], list[PriorAward], list[str]]:
    the_city = city.current()
    where = f"cases[{i}]（{case['name']}）"
    problems: list[str] = []
    facts = []
    for j, raw in enumerate(case["facts"]):
        for error in the_city.attribute_errors(raw["record_type"], raw["attributes"]):
            problems.append(f"{where}.facts[{j}].attributes: {error}")
        facts.append(
            Fact(
                record_id=raw.get("record_id") or f"case-{i + 1}-{j + 1}",
                department=raw.get("department") or _default_department(raw["record_type"]),
                record_type=raw["record_type"],
                effective_date=date.fromisoformat(raw["effective_date"]),
                attributes=raw["attributes"],
            )
        )
    history = [
        PriorAward(award_key=h["award_key"], amount_fen=h["amount_fen"], paid_on=date.fromisoformat(h["paid_on"]))
        for h in case.get("history", [])
    ]
    return facts, history, problems


def _overlapping_tiers(policy: CompiledPolicy, facts: Sequence[Fact]) -> list[str]:
    """Records that match more than one tier of the same schedule: the document is ambiguous."""
    found = []
    relevant = [f for f in facts if policy._counts(f)]
    scope = Scope(dict(policy._params), FULL_RECORD)
    scope.bind("facts", [record_variable(f, FULL_RECORD) for f in relevant])
    for leaf, record_types in policy._award_rule.leaves():
        if not isinstance(leaf, HighestTier):
            continue
        for fact in relevant:
            if record_types is not None and fact.record_type not in record_types:
                continue
            scope.bind_record(fact)
            matched = [t.label for t in leaf.tiers if t.when.condition(scope, fact)]
            if len(matched) > 1:
                found.append(f"记录 {fact.record_id} 同时符合多个档次（{'、'.join(matched)}），档次重叠")
    return found


def _awards_text(awards: dict[str, int]) -> str:
    if not awards:
        return "不予奖励"
    return "；".join(f"{key} {amount_text(amount)}" for key, amount in sorted(awards.items()))


def run_cases(policy: CompiledPolicy) -> list[str]:
    """Run the test cases written inside the document; one Chinese line per failure
    (empty: every case passed). A document without at least MIN_CASES cases fails:
    a clerk's expectations in their own words are what publishing rests on."""
    cases = policy._document.get("cases", [])
    failures = []
    if len(cases) < MIN_CASES:
        failures.append(f"cases: 至少应有{MIN_CASES}个测试用例（符合、不符合、边界情形），现有{len(cases)}个")
    for i, case in enumerate(cases):
        where = f"cases[{i}]（{case['name']}）"
        facts, history, problems = _case_inputs(policy, i, case)
        if problems:
            failures += problems
            continue
        try:
            failures += [f"{where}: {text}" for text in _overlapping_tiers(policy, facts)]
            awards = evaluate(policy, uscc=case.get("uscc") or case_uscc(policy), facts=facts, history=history)
        except (PolicyEvaluationError, uscc_rules.InvalidUSCC) as exc:
            failures.append(f"{where}: 运行出错：{exc}")
            continue
        got = {a.award_key: a.amount_fen for a in awards}
        want = {e["award_key"]: e["amount_fen"] for e in case["expect"]}
        if got != want:
            failures.append(f"{where}: 预期{_awards_text(want)}，实际{_awards_text(got)}")
    return failures


def assess(
    policy: CompiledPolicy, *, uscc: str, facts: Sequence[Fact], history: Sequence[PriorAward] = ()
) -> Assessment:
    """Like `evaluate`, with the trace an enterprise reads when it asks "why (not)?":
    the target check, every record set aside and why, every condition tested, and
    what was already paid."""
    checks: list[Check] = []
    in_area = uscc_rules.division_code(_valid_uscc(uscc)).startswith(policy._division_prefix)
    checks.append(
        Check(
            f"企业注册地{'在' if in_area else '不在'}政策适用区域内（行政区划代码以 {policy._division_prefix} 开头）",
            in_area,
        )
    )
    own = [f for f in facts if f.record_type in policy.input_record_types]
    if not own:
        known = city.current().record_types
        types = "、".join(known[t].name if t in known else t for t in sorted(policy.input_record_types))
        checks.append(Check(f"未收到政策所需的部门数据（{types}）", False))
    for fact in own:
        reason = None if policy._counts(fact) else policy._set_aside(fact)
        if reason is not None:
            checks.append(Check(f"{fact_text(fact)}不计入：{reason}", False))
    for prior in history:
        paid = f"{prior.award_key} {amount_text(prior.amount_fen)}（{prior.paid_on.isoformat()}）"
        checks.append(Check(f"本政策已兑现：{paid}", None))
    outcomes = _outcomes(policy, uscc, facts, history, checks) if in_area else None
    awards = sorted((policy._award(o) for o in outcomes or []), key=lambda a: a.award_key)
    total = sum(a.amount_fen for a in awards)
    if awards:
        summary = f"符合条件，核定{amount_text(total)}"
    elif history and own:
        summary = "本政策已兑现，暂无新的奖励"
    else:
        summary = "暂不符合条件"
    return Assessment(
        policy_id=policy.id,
        policy_version=policy.version,
        policy_title=policy.title,
        legal_basis=policy._legal_basis,
        clause=policy._clause,
        eligible=bool(awards),
        awards=awards,
        checks=checks,
        summary=summary,
    )
