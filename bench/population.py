"""A generated population of enterprises for the batch benchmark and its tests.

Deterministic for a seed. The mix is meant to look like a city's register: most
entities are micro enterprises, a tenth are registered outside the city, and
each record type arrives for its own share of them (social-insurance figures
for about 30 %, titles for a fraction of a per cent). Attributes are drawn from
each record type's JSON Schema in the city configuration, read at run time, so a
new record type needs nothing here; the overrides below only keep schemas that
allow absurd values (a year 2100, a premium of 10^18 fen) realistic, and keep
attributes consistent with the enterprise that owns them (its size, its sector).
Prior awards are what a policy would have paid for each enterprise's earliest
record, for a share of the enterprises it counts records of.

    from population import generate
    population = generate(100_000, seed=7, policies=compiled_policies)
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np

from mianshen_shared import city
from mianshen_shared.rules import CompiledPolicy, PriorAward
from mianshen_shared.rules.batch import Population, RecordTable, evaluate_population
from mianshen_shared.uscc import ALPHABET

SIZES = ("micro", "small", "medium", "large")
SIZE_WEIGHTS = (0.78, 0.15, 0.06, 0.01)
STAFF_RANGE = {"micro": (1, 10), "small": (10, 100), "medium": (100, 1000), "large": (1000, 8000)}

# (GB/T 4754 section, division, weight): the register is mostly trade and services.
SECTORS = (
    ("C", "27", 0.02),  # 医药制造业
    ("C", "35", 0.04),  # 专用设备制造业
    ("C", "36", 0.02),  # 汽车制造业
    ("C", "39", 0.03),  # 计算机、通信和其他电子设备制造业
    ("C", "13", 0.03),  # 农副食品加工业
    ("E", "47", 0.05),  # 房屋建筑业
    ("E", "48", 0.02),  # 土木工程建筑业
    ("F", "51", 0.16),  # 批发业
    ("F", "52", 0.22),  # 零售业
    ("H", "62", 0.08),  # 餐饮业
    ("I", "65", 0.07),  # 软件和信息技术服务业
    ("K", "70", 0.03),  # 房地产业
    ("L", "72", 0.08),  # 商务服务业
    ("M", "73", 0.03),  # 研究和试验发展
    ("G", "54", 0.04),  # 道路运输业
    ("O", "80", 0.08),  # 居民服务业
)

# Zhengzhou's districts, counties and zones (GB/T 2260), then neighbours outside.
CITY_DIVISIONS = ("410102", "410103", "410104", "410105", "410106", "410108", "410122", "410181", "410182",
                  "410183", "410184", "410185", "410171", "410172", "410173")  # fmt: skip
CITY_WEIGHTS = (0.10, 0.09, 0.08, 0.16, 0.02, 0.05, 0.07, 0.04, 0.04, 0.03, 0.05, 0.03, 0.09, 0.08, 0.07)
OUTSIDE_DIVISIONS = ("410202", "410302", "410402", "410702", "411102", "110105", "310115")
OUTSIDE_SHARE = 0.1


@dataclass(frozen=True)
class Arrival:
    """How often a record type arrives: the share of enterprises with one, how many
    each has, who they are (sectors, size weights), and their years."""

    share: float
    most: int = 1  # at most this many records per enterprise
    sections: str | None = None  # GB/T 4754 sections whose enterprises get them
    size_weights: tuple[float, float, float, float] = (1, 1, 1, 1)
    follows: str | None = None  # records of another type they follow (annual figures after 入库)


TITLE_LIKE = (1, 4, 12, 30)  # recognitions favour larger enterprises

# First match wins; unknown record types arrive for 0.2 % of enterprises.
ARRIVALS: tuple[tuple[str, Arrival], ...] = (
    ("hrss.*annual*", Arrival(0.30, most=3)),
    ("sasac.*lease*", Arrival(0.01, most=2, size_weights=(1, 1, 1, 0.2))),
    ("stats.enterprise_in_database", Arrival(0.02, size_weights=(0.3, 2, 6, 6))),
    ("stats.enterprise_annual_figures", Arrival(0.8, most=3, follows="stats.enterprise_in_database")),
    ("credit.*", Arrival(0.002)),
    ("miit.enterprise_title_recognized", Arrival(0.008, most=3, sections="CIMF", size_weights=TITLE_LIKE)),
    ("miit.sme_title_recognized", Arrival(0.005, most=2, sections="CIM", size_weights=TITLE_LIKE)),
    ("miit.standard_certification_obtained", Arrival(0.004, most=2, sections="C", size_weights=TITLE_LIKE)),
    ("miit.product_catalog_listed", Arrival(0.003, most=4, sections="C", size_weights=TITLE_LIKE)),
    ("miit.drug_device_milestone", Arrival(0.003, most=4, sections="CM", size_weights=TITLE_LIKE)),
    ("miit.generic_drug_consistency_passed", Arrival(0.002, most=4, sections="C", size_weights=TITLE_LIKE)),
    ("miit.biomedicine_project_science_award", Arrival(0.001, most=2, sections="CM", size_weights=TITLE_LIKE)),
    ("miit.*", Arrival(0.001, most=2, sections="CIM", size_weights=TITLE_LIKE)),
    ("construction.*", Arrival(0.004, most=3, sections="EK", size_weights=TITLE_LIKE)),
)

# Enum choices that are not equally likely, by (record type pattern, attribute).
ENUM_WEIGHTS: dict[tuple[str, str], dict[str, float]] = {
    ("miit.sme_title_recognized", "title"): {
        "provincial_specialized": 0.7,
        "national_little_giant": 0.2,
        "single_champion_product": 0.07,
        "single_champion_enterprise": 0.03,
    },
    ("*", "level"): {"municipal": 0.5, "provincial": 0.35, "national": 0.15},
    ("*", "premises_use"): {"business": 0.85, "residential": 0.05, "other": 0.1},
    ("*", "listing_kind"): {"new": 0.7, "change": 0.15, "continuation": 0.15},
    ("*", "acquisition"): {"new": 0.5, "upgrade": 0.35, "addition": 0.15},
    ("*", "role"): {"lead": 0.4, "participant": 0.6},
}
BOOLEAN_SHARE = {"arrears": 0.03, "epidemic_affected": 0.6, "above_scale": 0.8, "first_completing_unit": 0.6}
OPTIONAL_SHARE = 0.6
FIRST_DAY = date(2021, 1, 1).toordinal()
LAST_DAY = date(2024, 6, 30).toordinal()


def _arrival(record_type: str) -> Arrival:
    for pattern, arrival in ARRIVALS:
        if fnmatch.fnmatchcase(record_type, pattern):
            return arrival
    return Arrival(0.002)


# --- codes -------------------------------------------------------------------------------


def _lookup(alphabet: str) -> np.ndarray:
    table = np.zeros(128, np.int64)
    for i, ch in enumerate(alphabet):
        table[ord(ch)] = i
    return table


def _codes(rng: np.random.Generator, n: int) -> list[str]:
    """n distinct valid 统一社会信用代码: 91 企业 mostly, 92 个体工商户 for a fifth; an
    organisation code MA + a serial keeps them distinct."""
    inside = rng.random(n) >= OUTSIDE_SHARE
    divisions = np.where(
        inside,
        rng.choice(np.array(CITY_DIVISIONS), n, p=np.array(CITY_WEIGHTS) / sum(CITY_WEIGHTS)),
        rng.choice(np.array(OUTSIDE_DIVISIONS), n),
    )
    chars = np.zeros((n, 18), np.int64)
    chars[:, 0] = ord("9")
    chars[:, 1] = np.where(rng.random(n) < 0.2, ord("2"), ord("1"))
    chars[:, 2:8] = np.asarray(divisions, dtype="U6").view(np.uint32).reshape(n, 6)
    chars[:, 8], chars[:, 9] = ord("M"), ord("A")
    serial = rng.permutation(n)
    alphabet = np.array([ord(c) for c in ALPHABET])
    chars[:, 10:16] = alphabet[(serial[:, None] // 31 ** np.arange(5, -1, -1)) % 31]
    org_total = (_lookup("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")[chars[:, 8:16]] * [3, 7, 9, 10, 5, 8, 4, 2]).sum(
        axis=1
    )
    remainder = 11 - org_total % 11
    chars[:, 16] = np.where(remainder == 10, ord("X"), np.where(remainder == 11, ord("0"), ord("0") + remainder))
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    total = (_lookup(ALPHABET)[chars[:, :17]] * weights).sum(axis=1)
    chars[:, 17] = alphabet[(31 - total % 31) % 31]
    return chars.astype(np.uint32).view("U18").ravel().tolist()


# --- attributes from a JSON Schema, a column at a time -------------------------------------


@dataclass
class Owners:
    """For each record to draw, what its attributes should agree with."""

    size: np.ndarray  # index into SIZES
    kind: np.ndarray  # "enterprise" / "individual_business"
    section: np.ndarray
    division: np.ndarray
    staff: np.ndarray
    day: np.ndarray  # effective date, ordinal
    year: np.ndarray  # its year

    def __len__(self) -> int:
        return len(self.size)


Columns = dict[str, tuple[list[Any], np.ndarray]]  # attribute -> (values, whether present)


_CLASS = re.compile(r"\[([^\]]+)\]|\\(.)|(.)")


def _from_pattern(pattern: str, rng: np.random.Generator) -> str:
    """A string matching a simple anchored pattern: literals, [classes], \\d, {m,n}, ?."""
    body = pattern.removeprefix("^").removesuffix("$")
    atoms: list[list[str]] = []
    i = 0
    while i < len(body):
        if body[i] in "{?*+":
            if body[i] == "{":
                end = body.index("}", i)
                low, _, high = body[i + 1 : end].partition(",")
                repeat = int(rng.integers(int(low), int(high or low) + 1))
                i = end + 1
            else:
                repeat = int(rng.integers(0 if body[i] in "?*" else 1, 2 if body[i] == "?" else 4))
                i += 1
            atoms[-1:] = [atoms[-1]] * repeat
            continue
        match = _CLASS.match(body, i)
        assert match is not None
        if match.group(1):
            chars = []
            spec = match.group(1)
            j = 0
            while j < len(spec):
                if j + 2 < len(spec) and spec[j + 1] == "-":
                    chars += [chr(c) for c in range(ord(spec[j]), ord(spec[j + 2]) + 1)]
                    j += 3
                else:
                    chars.append(spec[j])
                    j += 1
            atoms.append(chars)
        elif match.group(2):
            atoms.append(list("0123456789") if match.group(2) == "d" else [match.group(2)])
        else:
            atoms.append([match.group(3)])
        i = match.end()
    return "".join(chars[int(rng.integers(len(chars)))] for chars in atoms)


def _iso(days: np.ndarray) -> list[str]:
    unique, inverse = np.unique(days, return_inverse=True)
    texts = np.array([date.fromordinal(int(d)).isoformat() for d in unique], dtype=object)
    return list(texts[inverse.reshape(-1)])


class AttributeMaker:
    """Attributes for one record type, drawn from its JSON Schema."""

    def __init__(self, record_type: str, schema: dict[str, Any]) -> None:
        self.record_type = record_type
        self.properties: dict[str, dict[str, Any]] = schema.get("properties", {})
        self.required = set(schema.get("required", []))
        self.conditional = any(k in schema for k in ("allOf", "anyOf", "oneOf", "if"))
        self.validator = city.current().record_types[record_type].validator

    def enum_weights(self, name: str) -> dict[str, float] | None:
        for (pattern, attribute), weights in ENUM_WEIGHTS.items():
            if attribute == name and fnmatch.fnmatchcase(self.record_type, pattern):
                return weights
        return None

    def column(self, name: str, spec: dict[str, Any], owners: Owners, rng: np.random.Generator) -> list[Any]:
        m = len(owners)
        if "const" in spec:
            return [spec["const"]] * m
        if "enum" in spec:
            choices = spec["enum"]
            if name == "enterprise_size" and set(SIZES) <= set(choices):
                return list(np.array(SIZES, dtype=object)[owners.size])
            if name == "enterprise_kind" and {"enterprise", "individual_business"} <= set(choices):
                return list(owners.kind)
            weights = self.enum_weights(name)
            w = np.ones(len(choices)) if weights is None else np.array([weights.get(str(c), 0.02) for c in choices])
            return list(np.array(choices, dtype=object)[rng.choice(len(choices), m, p=w / w.sum())])
        kind = spec.get("type")
        if kind == "boolean":
            return (rng.random(m) < BOOLEAN_SHARE.get(name, 0.5)).tolist()
        if kind == "integer":
            return self.integers(name, spec, owners, rng).tolist()
        if kind == "string":
            if name in ("industry_section", "industry_division"):
                values = owners.section if name == "industry_section" else owners.division
                if all(re.fullmatch(spec.get("pattern", ".*"), v) for v in set(values.tolist())):
                    return values.tolist()
            if "pattern" in spec:
                return [_from_pattern(spec["pattern"], rng) for _ in range(m)]
            if spec.get("format") == "date":
                return _iso(owners.day + rng.integers(-400, 400, m))
            # A small pool per attribute, so an enterprise's records sometimes repeat a name.
            limit = spec.get("maxLength", 1000)
            return [f"{name}-{k}"[:limit] for k in rng.integers(0, 12, m).tolist()]
        if kind == "number":
            return rng.integers(0, 1000, m).astype(float).tolist()
        return [None] * m

    def integers(self, name: str, spec: dict[str, Any], owners: Owners, rng: np.random.Generator) -> np.ndarray:
        m = len(owners)
        low = spec.get("minimum", 0)
        high = spec.get("maximum")
        if name.endswith("year") and (high is None or high >= 2030):
            if name.startswith("first_"):
                earlier = np.where(rng.random(m) < 0.3, rng.integers(1, 6, m), 0)
                return np.maximum(low, owners.year - earlier)
            return np.maximum(low, owners.year - rng.integers(0, 2, m))
        if name.startswith("insured_"):
            return owners.staff
        if name.endswith("_fen"):
            # Revenue-like figures scale with staff: from a few thousand yuan to billions.
            return np.maximum(low, (owners.staff * rng.lognormal(13, 1, m)).astype(np.int64))
        if high is not None and high - low <= 1000:
            return rng.integers(low, high + 1, m)
        return low + rng.integers(0, 1000, m)

    def columns(self, owners: Owners, rng: np.random.Generator) -> Columns:
        m = len(owners)
        return {
            name: (
                self.column(name, spec, owners, rng),
                np.ones(m, bool) if name in self.required else rng.random(m) < OPTIONAL_SHARE,
            )
            for name, spec in self.properties.items()
        }

    def records(self, columns: Columns, owners: Owners, rng: np.random.Generator) -> list[dict[str, Any]]:
        names = list(columns)
        values = [columns[n][0] for n in names]
        present = [columns[n][1].tolist() for n in names]
        out = []
        for i in range(len(owners)):
            out.append({n: v[i] for n, v, p in zip(names, values, present, strict=True) if p[i] and v[i] is not None})
        if self.conditional:
            for i, attributes in enumerate(out):
                self.repair(attributes, owners, i, rng)
        return out

    def repair(self, attributes: dict[str, Any], owners: Owners, i: int, rng: np.random.Generator) -> None:
        """Conditional requirements (if/then): add what the schema asks for."""
        one = Owners(*(getattr(owners, f)[i : i + 1] for f in Owners.__dataclass_fields__))
        for _ in range(5):
            missing = [
                name
                for error in self.validator.iter_errors(attributes)
                if error.validator == "required"
                for name in error.validator_value
                if name not in attributes and name in self.properties
            ]
            if not missing:
                return
            for name in missing:
                attributes[name] = self.column(name, self.properties[name], one, rng)[0]


# Realism a schema cannot express, by record type, one column at a time.
def _social_insurance(columns: Columns, owners: Owners, rng: np.random.Generator) -> None:
    m = len(owners)
    start = owners.staff
    # Most keep their staff or grow; a tenth lay off more than 5.5 %.
    cut = np.where(rng.random(m) < 0.1, rng.uniform(0.06, 0.3, m), rng.uniform(-0.2, 0.05, m))
    every = np.ones(m, bool)
    columns["insured_at_year_start"] = (start.tolist(), every)
    columns["insured_at_year_end"] = (np.maximum(start - (start * cut).astype(np.int64), 0).tolist(), every)
    # About 4,000 yuan a month, 12 months, a 0.7 % premium, in fen.
    paid = (start * 4_000 * 12 * 0.007 * 100 * rng.uniform(0.7, 1.4, m)).astype(np.int64)
    columns["paid_fen"] = (paid.tolist(), every)
    year = owners.year - np.where(rng.random(m) < 0.95, 1, 0)
    columns["contribution_year"] = (year.tolist(), every)


def _lease(columns: Columns, owners: Owners, rng: np.random.Generator) -> None:
    m = len(owners)
    every = np.ones(m, bool)
    start = owners.day - rng.integers(30, 900, m)
    columns["lease_start"] = (_iso(start), every)
    columns["lease_end"] = (_iso(start + rng.choice([365, 730, 1095], m)), every)
    columns["monthly_rent_fen"] = ((rng.integers(2_000, 60_000, m) * 100).tolist(), every)
    columns["lessor"] = ([f"郑州市国有资产经营公司{k}" for k in rng.integers(1, 9, m).tolist()], every)
    columns["premises_address"] = ([f"郑州市金水区花园路{k}号" for k in rng.integers(1, 300, m).tolist()], every)


_RETAIL = "wholesale_retail_accommodation_catering"
_CATEGORY = {
    "C": "industrial",
    "E": "construction_real_estate",
    "K": "construction_real_estate",
    "F": _RETAIL,
    "H": _RETAIL,
}


def _in_database(columns: Columns, owners: Owners, rng: np.random.Generator) -> None:
    every = np.ones(len(owners), bool)
    columns["category"] = ([_CATEGORY.get(s, "services") for s in owners.section.tolist()], every)
    columns["storage_year"] = (owners.year.tolist(), every)


def _annual_figures(columns: Columns, owners: Owners, rng: np.random.Generator) -> None:
    every = np.ones(len(owners), bool)
    columns["category"] = ([_CATEGORY.get(s, "services") for s in owners.section.tolist()], every)
    columns["year"] = ((owners.year - 1).tolist(), every)


OVERRIDES: dict[str, Callable[[Columns, Owners, np.random.Generator], None]] = {
    "hrss.unemployment_insurance_annual": _social_insurance,
    "sasac.state_owned_premises_lease": _lease,
    "stats.enterprise_in_database": _in_database,
    "stats.enterprise_annual_figures": _annual_figures,
}


# --- the population ------------------------------------------------------------------------


def _owners(
    rng: np.random.Generator, arrival: Arrival, sizes: np.ndarray, sections: np.ndarray, pool: np.ndarray | None
) -> np.ndarray:
    n = len(sizes)
    if pool is not None:
        return np.sort(pool[rng.random(len(pool)) < arrival.share])
    weights = np.array(arrival.size_weights, dtype=float)[sizes]
    if arrival.sections is not None:
        weights = weights * np.isin(sections, list(arrival.sections))
    count = min(round(arrival.share * n), int(np.count_nonzero(weights)))
    if count == 0:
        return np.empty(0, np.int64)
    return np.sort(rng.choice(n, count, replace=False, p=weights / weights.sum()))


def _years(days: np.ndarray) -> np.ndarray:
    unique, inverse = np.unique(days, return_inverse=True)
    return np.array([date.fromordinal(int(d)).year for d in unique], np.int64)[inverse.reshape(-1)]


def generate(n: int, *, seed: int = 7, policies: Sequence[CompiledPolicy] = (), paid_share: float = 0.2) -> Population:
    """n enterprises with their records, and what `policies` already paid a share
    `paid_share` of the enterprises each counts records of."""
    rng = np.random.default_rng(seed)
    the_city = city.current()
    codes = _codes(rng, n)
    sizes = rng.choice(len(SIZES), n, p=SIZE_WEIGHTS)
    sector = rng.choice(len(SECTORS), n, p=np.array([s[2] for s in SECTORS]) / sum(s[2] for s in SECTORS))
    sections = np.array([s[0] for s in SECTORS])[sector]
    divisions = np.array([s[1] for s in SECTORS])[sector]
    kinds = np.where(np.array([c[1] for c in codes]) == "2", "individual_business", "enterprise")
    low = np.array([STAFF_RANGE[s][0] for s in SIZES])
    high = np.array([STAFF_RANGE[s][1] for s in SIZES])
    department_of = {t: d.code for d in the_city.departments.values() for t in sorted(d.record_types)}
    tables: dict[str, RecordTable] = {}
    first_day: dict[str, np.ndarray] = {}
    serial = 0
    for record_type in sorted(the_city.record_types, key=lambda t: (_arrival(t).follows is not None, t)):
        arrival = _arrival(record_type)
        pool = None
        if arrival.follows is not None:
            followed = tables.get(arrival.follows)
            pool = np.unique(followed.owner) if followed is not None else np.empty(0, np.int64)
        chosen = _owners(rng, arrival, sizes, sections, pool)
        many = 1 + np.minimum(rng.geometric(0.6, len(chosen)) - 1, arrival.most - 1)
        if arrival.follows is not None:
            start = first_day[arrival.follows][chosen] + 365  # the year after, reported early
        else:
            start = rng.integers(FIRST_DAY, LAST_DAY - 365 * (many - 1) + 1)
        owner = np.repeat(chosen, many)
        nth = np.arange(len(owner)) - np.repeat(np.cumsum(many) - many, many)
        day = np.repeat(start, many) + 365 * nth + rng.integers(0, 90, len(owner))
        first = np.full(n, -1, np.int64)
        first[chosen] = start
        first_day[record_type] = first
        size = sizes[owner]
        owners = Owners(
            size=size,
            kind=kinds[owner],
            section=sections[owner],
            division=divisions[owner],
            staff=low[size] + (rng.random(len(owner)) * (high[size] - low[size] + 1)).astype(np.int64),
            day=day,
            year=_years(day),
        )
        maker = AttributeMaker(record_type, the_city.record_types[record_type].validator.schema)
        columns = maker.columns(owners, rng)
        if record_type in OVERRIDES:
            OVERRIDES[record_type](columns, owners, rng)
        prefix = record_type.split(".")[0]
        ids = [f"{prefix}-{k:09d}" for k in range(serial, serial + len(owner))]
        serial += len(owner)
        tables[record_type] = RecordTable(
            record_type,
            owner,
            ids,
            [department_of.get(record_type, "unknown")] * len(ids),
            day,
            maker.records(columns, owners, rng),
        )
    population = Population(codes, tables.values())
    index = {code: i for i, code in enumerate(codes)}
    population.history = {p.id: paid_before(p, population, index, rng, paid_share) for p in policies}
    return population


def paid_before(
    policy: CompiledPolicy, population: Population, index: dict[str, int], rng: np.random.Generator, share: float
) -> dict[int, tuple[PriorAward, ...]]:
    """What `policy` paid a share of enterprises for their earliest record (a third
    of them only half of it, as if a lower tier had been paid first)."""
    subset = []
    for record_type in sorted(policy.input_record_types):
        table = population.tables.get(record_type)
        if table is None or not len(table):
            continue
        order = np.lexsort((table.day, table.owner))
        first = order[np.r_[True, table.owner[order][1:] != table.owner[order][:-1]]]
        subset.append(table.take(np.sort(first[rng.random(len(first)) < share])))
    earlier = population.with_records(subset)
    history: dict[int, tuple[PriorAward, ...]] = {}
    days: dict[int, int] = {}
    for t in subset:
        for o, d in zip(t.owner.tolist(), t.day.tolist(), strict=True):
            days[o] = min(d, days.get(o, d))
    for code, awards in evaluate_population(policy, earlier).items():
        owner = index[code]
        paid_on = date.fromordinal(days[owner]) + timedelta(days=60)
        history[owner] = tuple(
            PriorAward(a.award_key, a.amount_fen // 2 if rng.random() < 0.33 else a.amount_fen, paid_on) for a in awards
        )
    return history
