"""办事指南 — the operation guide of a published policy version, written for the
enterprise from the document itself: what it gives, who qualifies, how much, how
免申即享 works for it, which data and departments it relies on, and its legal basis.

Conditions are told through the document's own words (tier labels, the award
rule, parameter descriptions), never its CEL. Both renderings share one content
model; HTML is autoescaped and Markdown has every character that would start
markup or raw HTML escaped, so a document's text can never become page code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

import mianshen_shared.city as city_config
from mianshen_shared.events.catalog import NON_CASH_BENEFITS
from mianshen_shared.rules.expressions import amount_text

BENEFIT_NAMES = {
    "cash_award": "资金奖励",
    "refund": "资金返还",
    "fee_reduction": "费用减免",
    "rent_reduction": "租金减免",
}
DEFAULT_EXECUTORS = {"fee_reduction": "收费单位", "rent_reduction": "出租主体"}
SIZE_NAMES = {"large": "大型企业", "medium": "中型企业", "small": "小型企业", "micro": "微型企业"}
KIND_NAMES = {
    "enterprise": "企业",
    "individual_business": "个体工商户",
    "park_operator": "园区运营机构",
    "institution": "事业单位等机构",
}
_TEMPLATES = Path(__file__).parent / "templates"
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|&])")


@dataclass(frozen=True)
class DataSource:
    record_type: str
    name: str
    departments: list[str]


@dataclass(frozen=True)
class AmountLine:
    label: str
    amount: str


@dataclass(frozen=True)
class Guide:
    policy_id: str
    version: int
    title: str
    batch: str
    list_no: int
    benefit_name: str
    benefit_description: str | None
    executed_by: str | None
    cash: bool
    city_name: str
    division_prefix: str
    enterprise_sizes: list[str]
    enterprise_kinds: list[str]
    sectors: list[str]
    conditions: list[str]
    condition_intro: str
    rule: str
    amounts: list[AmountLine]
    amount_notes: list[str]
    sources: list[DataSource]
    interpretation: list[str]
    legal_basis: str
    clause: str
    lead_department: str
    window_from: str
    window_to: str | None
    version_effective_from: date | None
    pushing_departments: list[str] = field(default_factory=list)


def _text(value: Any) -> str:
    """Free text from a field whose shape may still grow (a string, or an object naming something)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("name", "label", "description", "title"):
            if isinstance(value.get(key), str):
                return str(value[key])
    if isinstance(value, list):
        return "、".join(_text(v) for v in value)
    return str(value)


def _names(values: Any, names: dict[str, str]) -> list[str]:
    if not isinstance(values, list):
        return []
    return [names.get(v, v) if isinstance(v, str) else _text(v) for v in values]


def _parameter_text(spec: dict[str, Any]) -> str:
    value, unit = spec.get("value"), spec.get("unit", "")
    return f"{spec.get('description', '')}：{value}{unit}"


PRIOR_AWARD_NOTES = {
    "top_up": "已享受过本政策待遇的，按级差/差额补足，已享受部分不重复计算。",
    "once": "已享受过本政策待遇的，不再重复享受。",
}


@dataclass
class _Amounts:
    lines: list[AmountLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)


def _read_award(award: dict[str, Any], into: _Amounts, prefix: str = "") -> None:
    """Amount lines, notes and qualifying situations of one award rule, in its own words."""
    mode = award.get("mode")
    if mode == "highest_tier":
        for tier in award.get("tiers", []):
            into.lines.append(AmountLine(prefix + tier["label"], amount_text(tier["amount_fen"])))
            into.conditions.append(prefix + tier["label"])
        # With a group_by the tiers may be awarded side by side; the rule text says how.
        if len(award.get("tiers", [])) > 1 and "group_by" not in award:
            into.notes.append(f"{prefix}同时符合多档的，按最高一档给予，不重复享受。")
    elif mode == "per_item":
        into.lines.append(AmountLine(prefix + "每项", amount_text(award["amount_per_item_fen"])))
        if "cap_per_group_fen" in award:
            into.lines.append(
                AmountLine(prefix + award.get("cap_label", "最高"), amount_text(award["cap_per_group_fen"]))
            )
        into.notes.append(f"{prefix}同一项目只计一次。")
    elif mode == "formula":
        into.notes.append(f"{prefix}按规则核定：{award.get('rule', '')}")
    elif mode == "components":
        for component in award.get("components", []):
            if isinstance(component, dict) and isinstance(component.get("award"), dict):
                _read_award(component["award"], into, prefix=f"{component.get('label', '')} · ")
    if "cap_total_fen" in award:
        label = award.get("cap_total_label", "单一企业累计奖励最高")
        into.lines.append(AmountLine(prefix + label, amount_text(award["cap_total_fen"])))
    if award.get("prior_awards") in PRIOR_AWARD_NOTES:
        into.notes.append(prefix + PRIOR_AWARD_NOTES[award["prior_awards"]])


def _amounts(award: dict[str, Any], parameters: dict[str, Any]) -> _Amounts:
    found = _Amounts()
    _read_award(award, found)
    found.notes.extend(_parameter_text(spec) for spec in parameters.values() if isinstance(spec, dict))
    return found


def _sources(record_types: list[str]) -> list[DataSource]:
    the_city = city_config.current()
    out = []
    for code in record_types:
        record_type = the_city.record_types.get(code)
        departments = [d.name for d in the_city.departments.values() if code in d.record_types]
        out.append(DataSource(code, record_type.name if record_type else code, departments))
    return out


def build(document: dict[str, Any], *, version_effective_from: date | None) -> Guide:
    """The guide's content, read defensively: documents may carry fields added after this module."""
    the_city = city_config.current()
    benefit = document.get("benefit", {})
    kind = benefit.get("kind", "")
    target = document.get("target", {})
    award = document.get("award", {})
    parameters = document.get("parameters") or {}
    amounts = _amounts(award, parameters)
    sources = _sources(list(document.get("record_types", [])))
    executed_by = benefit.get("executed_by")
    if kind in NON_CASH_BENEFITS:
        executed_by = _text(executed_by) if executed_by else DEFAULT_EXECUTORS.get(kind, "实施单位")
    else:
        executed_by = _text(executed_by) if executed_by else None
    legal = document.get("legal_basis", {})
    effective = document.get("effective", {})
    source_names = "、".join(s.name for s in sources)
    return Guide(
        policy_id=document["id"],
        version=document["version"],
        title=document["title"],
        batch=document.get("batch", ""),
        list_no=document.get("list_no", 0),
        benefit_name=BENEFIT_NAMES.get(kind, kind),
        benefit_description=benefit.get("description"),
        executed_by=executed_by,
        cash=kind not in NON_CASH_BENEFITS,
        city_name=the_city.name,
        division_prefix=target.get("division_prefix", the_city.division_prefix),
        enterprise_sizes=_names(target.get("enterprise_sizes"), SIZE_NAMES),
        enterprise_kinds=_names(target.get("enterprise_kinds"), KIND_NAMES),
        sectors=_names(target.get("sectors"), {}),
        conditions=amounts.conditions,
        condition_intro=f"依据{source_names}数据，具备下列任一情形即可享受相应待遇：" if amounts.conditions else "",
        rule=award.get("rule", ""),
        amounts=amounts.lines,
        amount_notes=amounts.notes,
        sources=sources,
        interpretation=[_text(i) for i in document.get("interpretation", [])],
        legal_basis=f"《{legal.get('title', '')}》（{legal.get('number', '')}）",
        clause=document.get("clause", ""),
        lead_department=document.get("lead_department", ""),
        window_from=str(effective.get("from", "")),
        window_to=str(effective["to"]) if effective.get("to") else None,
        version_effective_from=version_effective_from,
        pushing_departments=sorted({d for s in sources for d in s.departments}),
    )


def markdown_escape(value: Any) -> str:
    """Text that a Markdown renderer shows as written: no emphasis, links, tables or raw HTML."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", "" if value is None else str(value))


def _environment(**options: Any) -> Environment:
    return Environment(
        loader=FileSystemLoader(_TEMPLATES),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        **options,
    )


_HTML = _environment(autoescape=True)
_MARKDOWN = _environment(autoescape=False, finalize=markdown_escape)


def render_html(document: dict[str, Any], *, version_effective_from: date | None) -> str:
    """A complete, printable page with its style inline and no external resources."""
    guide = build(document, version_effective_from=version_effective_from)
    return _HTML.get_template("guide.html.j2").render(g=guide)


def render_markdown(document: dict[str, Any], *, version_effective_from: date | None) -> str:
    guide = build(document, version_effective_from=version_effective_from)
    return _MARKDOWN.get_template("guide.md.j2").render(g=guide)
