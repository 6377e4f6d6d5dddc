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
from mianshen_shared.events.catalog import Explanation, FactUsed
from mianshen_shared.rules.expressions import Expression, RecordShape, Scope, record_shape
from mianshen_shared.rules.loader import jsonable
from mianshen_shared.rules.model import Award, Fact, PolicyInvalid
from mianshen_shared.rules.modes import MODES, Mode, Outcome
from mianshen_shared.rules.schema import schema_errors


@dataclass(frozen=True)
class CompiledPolicy:
    """A validated policy with every expression compiled; immutable."""

    id: str
    version: int
    title: str
    benefit_kind: str
    input_record_types: frozenset[str]
    _document: dict[str, Any] = field(repr=False)
    _mode: Mode = field(repr=False)
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
        if self._enterprise_sizes is not None:
            return fact.attributes.get("enterprise_size") in self._enterprise_sizes
        return True

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
    names = [d["name"] for d in document["award"].get("derive", [])]
    for i, name in enumerate(names):
        if name in names[:i]:
            errors.append(f"award.derive[{i}].name: 名称“{name}”重复")
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

    def compile_expression(source: str, path: str) -> Expression:
        sources.append(source)
        try:
            return Expression.compile(source, path=path, policy_ref=policy_ref)
        except ValueError as exc:
            errors.append(str(exc))
            return Expression(path=path, source=source, program=None, policy_ref=policy_ref)

    award = document["award"]
    mode = MODES[award["mode"]](award, compile_expression)
    if errors:
        raise PolicyInvalid(errors)
    target = document["target"]
    sizes = target.get("enterprise_sizes")
    legal = document["legal_basis"]
    return CompiledPolicy(
        id=document["id"],
        version=document["version"],
        title=document["title"],
        benefit_kind=document["benefit"]["kind"],
        input_record_types=frozenset(document["record_types"]),
        _document=copy.deepcopy(document),
        _mode=mode,
        _params={name: spec["value"] for name, spec in document.get("parameters", {}).items()},
        _effective_from=date.fromisoformat(document["effective"]["from"]),
        _effective_to=(date.fromisoformat(document["effective"]["to"]) if document["effective"].get("to") else None),
        _division_prefix=target["division_prefix"],
        _enterprise_sizes=frozenset(sizes) if sizes is not None else None,
        _legal_basis=f"《{legal['title']}》（{legal['number']}）",
        _clause=document["clause"],
        _record_shape=record_shape(sources),
    )


def evaluate(policy: CompiledPolicy, *, uscc: str, facts: Sequence[Fact]) -> list[Award]:
    """Every award the enterprise is entitled to under `policy`, sorted by award_key.

    Pure and deterministic: facts of other record types or outside the policy's
    window are ignored, their order does not matter, enterprises outside the target
    get [], and zero amounts are not awards. Raises InvalidUSCC for a malformed code
    and PolicyEvaluationError when the document cannot be applied to a record.
    """
    _valid_uscc(uscc)
    if not uscc_rules.division_code(uscc).startswith(policy._division_prefix):
        return []
    relevant = sorted((f for f in facts if policy._counts(f)), key=lambda f: (f.effective_date, f.record_id))
    outcomes = policy._mode.evaluate(relevant, Scope(dict(policy._params), policy._record_shape))
    awards = [policy._award(o) for o in outcomes if o.amount_fen > 0]
    return sorted(awards, key=lambda a: a.award_key)
