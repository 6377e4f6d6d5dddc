"""Evaluate one policy over a whole population of enterprises at once.

Publishing a policy, or re-checking every policy, means evaluating every
enterprise in the city. Per-enterprise `evaluate` costs a CEL context and a few
conversions per record, far too slow for millions of entities, so this module
evaluates the same compiled document column-wise with numpy:

- records are held per record type as columns (`Population`), and enterprises
  with no record the policy counts are never looked at: they get nothing;
- the document's CEL expressions are re-read by a small parser of the subset
  policies use and run on whole columns (`_Vec`), keeping CEL's typing: every
  row where CEL would raise, or where this module cannot be sure to compute
  exactly what CEL computes, is marked unsure;
- each award mode (highest_tier, per_item, formula) is redone with sorts and
  groupings, and what was already paid (settlement, caps) is applied with the
  engine's own settlement functions for the few enterprises that need it.

Agreement with `evaluate` is by construction where the module is sure, and by
delegation where it is not: an enterprise with an unsure row is evaluated by
`evaluate` itself, and a policy whose expressions use CEL outside the subset is
evaluated enterprise by enterprise. `facts.exists` / `facts.all` (cross-record
conditions) are a self-join within each enterprise. Text-only expressions
(item_label, computation) are run for their errors alone: answers carry amounts,
not explanations.

Reads the compiled policy's private attributes (its award rule and target); the
engine exposes no public view of them yet.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

import numpy as np

from mianshen_shared import uscc as uscc_rules
from mianshen_shared.rules.engine import CompiledPolicy, evaluate
from mianshen_shared.rules.expressions import HELPERS, Expression
from mianshen_shared.rules.model import Fact, PriorAward
from mianshen_shared.rules.modes import DEFAULT_GROUP, Formula, HighestTier, Mode, Outcome, PerItem
from mianshen_shared.rules.settlement import COMPONENT_SEPARATOR, Components, Settled, apply_cap, settle

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# A product is computed exactly only when both factors stay below this; larger
# rows are left to CEL, which raises on overflow.
_SAFE_FACTOR = 2**31


class BatchAward(NamedTuple):
    """An award as `evaluate` would return it, without the explanation."""

    award_key: str
    amount_fen: int


@dataclass
class BatchStats:
    """How a policy was evaluated: for benchmarks and for the curious."""

    records_counted: int = 0
    vectorised: bool = True
    reason: str = ""  # why the policy went enterprise by enterprise
    enterprises_delegated: int = 0  # evaluated by `evaluate` one by one


class _Unsupported(Exception):
    """CEL this module does not evaluate column-wise; the caller delegates."""


# --- a parser for the CEL subset policies use ------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>0x[0-9a-fA-F]+u?|\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+u?)
    | (?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>&&|\|\||==|!=|<=|>=|[-+*/%<>!?:.,()\[\]{}])
    )""",
    re.VERBOSE,
)
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r"}
_RELATIONS = ("==", "!=", "<", "<=", ">", ">=", "in")

Node = tuple[Any, ...]


def _unescape(body: str) -> str:
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        else:
            raise _Unsupported(f"escape \\{nxt}")
    return "".join(out)


def _tokens(source: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while True:
        while pos < len(source) and source[pos].isspace():
            pos += 1
        if pos == len(source):
            return out
        match = _TOKEN.match(source, pos)
        if match is None or match.end() == pos:
            raise _Unsupported(f"token at {pos}")
        kind = match.lastgroup
        assert kind is not None
        out.append((kind, match.group(kind)))
        pos = match.end()


class _Parser:
    """Recursive descent over CEL's grammar, giving tuples: ("lit", kind, value),
    ("id", name), ("sel", operand, field), ("has", sel), ("call", name, args),
    ("meth", target, name, args), ("list", items), ("un", op, x),
    ("bin", op, a, b), ("and"/"or", a, b), ("cond", test, then, else)."""

    def __init__(self, source: str) -> None:
        self.tokens = _tokens(source)
        self.i = 0

    def parse(self) -> Node:
        node = self.expr()
        if self.i != len(self.tokens):
            raise _Unsupported("trailing tokens")
        return node

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self, text: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise _Unsupported("unexpected end")
        token = self.tokens[self.i]
        if text is not None and token[1] != text:
            raise _Unsupported(f"expected {text}")
        self.i += 1
        return token

    def expr(self) -> Node:
        test = self.disjunction()
        if self.peek() != "?":
            return test
        self.take("?")
        then = self.disjunction()
        self.take(":")
        return ("cond", test, then, self.expr())

    def disjunction(self) -> Node:
        node = self.conjunction()
        while self.peek() == "||":
            self.take()
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> Node:
        node = self.relation()
        while self.peek() == "&&":
            self.take()
            node = ("and", node, self.relation())
        return node

    def relation(self) -> Node:
        node = self.addition()
        while self.peek() in _RELATIONS:
            op = self.take()[1]
            node = ("bin", op, node, self.addition())
        return node

    def addition(self) -> Node:
        node = self.multiplication()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            node = ("bin", op, node, self.multiplication())
        return node

    def multiplication(self) -> Node:
        node = self.unary()
        while self.peek() in ("*", "/", "%"):
            op = self.take()[1]
            node = ("bin", op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.peek() in ("!", "-"):
            op = self.take()[1]
            operand = self.unary()
            if op == "-" and operand[0] == "lit" and operand[1] in ("int", "double"):
                return ("lit", operand[1], -operand[2])
            return ("un", op, operand)
        return self.member()

    def args(self) -> list[Node]:
        self.take("(")
        out: list[Node] = []
        while self.peek() != ")":
            out.append(self.expr())
            if self.peek() != ")":
                self.take(",")
        self.take(")")
        return out

    def member(self) -> Node:
        node = self.primary()
        while self.peek() in (".", "["):
            if self.take()[1] == "[":
                raise _Unsupported("index")
            kind, name = self.take()
            if kind != "ident":
                raise _Unsupported("selection")
            node = ("meth", node, name, self.args()) if self.peek() == "(" else ("sel", node, name)
        return node

    def primary(self) -> Node:
        kind, text = self.take()
        if kind == "num":
            if text.endswith("u"):
                raise _Unsupported("uint")
            if "." in text or "e" in text or "E" in text:
                return ("lit", "double", float(text))
            value = int(text, 16) if text.startswith("0x") else int(text)
            if value > INT64_MAX + 1:
                raise _Unsupported("int literal out of range")
            return ("lit", "int", value)
        if kind == "str":
            return ("lit", "str", _unescape(text[1:-1]))
        if kind == "ident":
            if text in ("true", "false"):
                return ("lit", "bool", text == "true")
            if text == "null":
                return ("lit", "null", None)
            if self.peek() == "(":
                args = self.args()
                if text == "has":
                    if len(args) != 1 or args[0][0] != "sel":
                        raise _Unsupported("has")
                    return ("has", args[0])
                return ("call", text, args)
            return ("id", text)
        if text == "(":
            node = self.expr()
            self.take(")")
            return node
        if text == "[":
            items: list[Node] = []
            while self.peek() != "]":
                items.append(self.expr())
                if self.peek() != "]":
                    self.take(",")
            self.take("]")
            return ("list", items)
        raise _Unsupported(f"token {text}")


_PARSED: dict[str, Node] = {}


def _parse(source: str) -> Node:
    node = _PARSED.get(source)
    if node is None:
        node = _PARSED[source] = _Parser(source).parse()
    return node


# --- columns --------------------------------------------------------------------


@dataclass
class _Vec:
    """One CEL value per row: a single CEL type, and the rows where CEL would
    raise or where the value here cannot be vouched for (their values are filler)."""

    kind: str  # int, double, bool, str, null
    values: np.ndarray
    unsure: np.ndarray

    def take(self, rows: np.ndarray) -> _Vec:
        return _Vec(self.kind, self.values[rows], self.unsure[rows])


_SIMPLE_KINDS: dict[type, str] = {bool: "bool", int: "int", float: "double", str: "str"}
_FILLER = {"int": 0, "double": 0.0, "bool": False, "str": "", "null": None}
_DTYPE = {"int": np.int64, "double": np.float64, "bool": np.bool_, "str": object, "null": object}


def _isin(values: np.ndarray, items: Iterable[Any]) -> np.ndarray:
    """Membership by equality and hash, as Python's `in` (np.isin sorts, and
    mixed objects do not sort)."""
    wanted = set(items)
    return np.fromiter((v in wanted for v in values.tolist()), bool, len(values))


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if INT64_MIN <= value <= INT64_MAX else "other"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "str"
    if value is None:
        return "null"
    return "other"


@dataclass
class _Column:
    """An attribute over every row of a table: whether present, and its values in
    the most common type (rows of any other type are `odd`)."""

    kind: str
    values: np.ndarray
    present: np.ndarray
    odd: np.ndarray

    @classmethod
    def of(cls, raw: list[Any], missing: object) -> _Column:
        kinds_seen = set(map(type, raw))
        value_types = kinds_seen - {type(missing)}
        kind = _SIMPLE_KINDS.get(next(iter(value_types)), "") if len(value_types) == 1 else ""
        if kind:
            # The common case, one JSON type throughout: filled by numpy, not row by row.
            if type(missing) in kinds_seen:
                present = np.array([v is not missing for v in raw], bool)
                filler = _FILLER[kind]
                raw = [filler if v is missing else v for v in raw]
            else:
                present = np.ones(len(raw), bool)
            values: np.ndarray | None
            try:
                values = np.array(raw, dtype=_DTYPE[kind])
            except OverflowError:
                values = None
            if values is not None:
                return cls(kind, values, present, np.zeros(len(raw), bool))
            raw = [missing if not p else v for v, p in zip(raw, present.tolist(), strict=True)]
        return cls._mixed(raw, missing)

    @classmethod
    def _mixed(cls, raw: list[Any], missing: object) -> _Column:
        present = np.fromiter((v is not missing for v in raw), bool, len(raw))
        kinds = [_kind_of(v) for v in raw]
        counted: dict[str, int] = {}
        for v, k in zip(raw, kinds, strict=True):
            if v is not missing:
                counted[k] = counted.get(k, 0) + 1
        kind = max(counted, key=lambda k: counted[k]) if counted else "null"
        if kind == "other":
            kind = "null"
        filler = _FILLER[kind]
        odd = np.fromiter((k != kind for k in kinds), bool, len(raw)) & present
        values: np.ndarray = np.array(
            [v if k == kind else filler for v, k in zip(raw, kinds, strict=True)], dtype=_DTYPE[kind]
        )
        return cls(kind, values, present, odd)

    @staticmethod
    def concat(columns: list[_Column]) -> _Column:
        counted: dict[str, int] = {}
        for c in columns:
            counted[c.kind] = counted.get(c.kind, 0) + int(np.count_nonzero(c.present & ~c.odd))
        kind = max(counted, key=lambda k: counted[k]) if counted else "null"
        values = [c.values if c.kind == kind else np.full(len(c.values), _FILLER[kind], _DTYPE[kind]) for c in columns]
        odd = [c.odd if c.kind == kind else c.present.copy() for c in columns]
        return _Column(
            kind,
            np.concatenate(values) if values else np.empty(0, _DTYPE[kind]),
            np.concatenate([c.present for c in columns]) if columns else np.empty(0, bool),
            np.concatenate(odd) if odd else np.empty(0, bool),
        )


_MISSING = object()


class RecordTable:
    """Every record of one type in a population, as columns; `owner` is the index
    of the enterprise in `Population.uscc`."""

    def __init__(
        self,
        record_type: str,
        owner: Sequence[int] | np.ndarray,
        record_id: Sequence[str],
        department: Sequence[str],
        effective_date: Sequence[date] | np.ndarray,
        attributes: Sequence[dict[str, Any]],
    ) -> None:
        self.record_type = record_type
        self.owner = np.asarray(owner, dtype=np.int64)
        self.record_id = np.asarray(record_id, dtype=object)
        self.department = np.asarray(department, dtype=object)
        days = np.asarray(effective_date)
        # Dates are held as proleptic ordinals, as date.toordinal() gives them.
        self.day = (
            days.astype(np.int64) if days.dtype.kind in "iu" else np.array([d.toordinal() for d in days], np.int64)
        )
        self.attributes = np.asarray(attributes, dtype=object) if len(attributes) else np.empty(0, object)
        if not len(self.attributes) == len(self.owner) == len(self.record_id) == len(self.day):
            raise ValueError(f"record table {record_type}: columns of different lengths")
        self._columns: dict[str, _Column] = {}
        self._by_owner: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.owner)

    def take(self, rows: np.ndarray) -> RecordTable:
        return RecordTable(
            self.record_type,
            self.owner[rows],
            self.record_id[rows],
            self.department[rows],
            self.day[rows],
            self.attributes[rows],
        )

    def column(self, name: str) -> _Column:
        column = self._columns.get(name)
        if column is None:
            raw = [a.get(name, _MISSING) for a in self.attributes.tolist()]
            column = self._columns[name] = _Column.of(raw, _MISSING)
        return column

    def rows_of(self, owner: int) -> np.ndarray:
        if self._by_owner is None:
            order = np.argsort(self.owner, kind="stable")
            self._by_owner = (order, self.owner[order])
        order, sorted_owner = self._by_owner
        lo, hi = np.searchsorted(sorted_owner, [owner, owner + 1])
        return order[lo:hi]

    def fact(self, row: int) -> Fact:
        return Fact(
            record_id=self.record_id[row],
            department=self.department[row],
            record_type=self.record_type,
            effective_date=date.fromordinal(int(self.day[row])),
            attributes=self.attributes[row],
        )


def _valid_codes(codes: np.ndarray) -> np.ndarray:
    """uscc.is_valid over a whole array of codes at once."""
    valid = np.zeros(len(codes), bool)
    if not len(codes):
        return valid
    right_length = np.fromiter((isinstance(c, str) and len(c) == 18 for c in codes.tolist()), bool, len(codes))
    fixed = np.asarray([c if ok else "" for c, ok in zip(codes.tolist(), right_length, strict=True)], dtype="U18")
    points = fixed.view(np.uint32).reshape(len(codes), 18)
    points = np.where(points < 128, points, 127).astype(np.int64)
    table = np.full(128, -1, np.int64)
    for i, ch in enumerate(uscc_rules.ALPHABET):
        table[ord(ch)] = i
    value = table[points]
    shape_ok = right_length & (value >= 0).all(axis=1) & (points[:, 2:8] >= ord("0")).all(axis=1)
    shape_ok &= (points[:, 2:8] <= ord("9")).all(axis=1)
    org_table = np.full(128, 0, np.int64)
    for i, ch in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
        org_table[ord(ch)] = i
    org_total = (org_table[points[:, 8:16]] * np.array([3, 7, 9, 10, 5, 8, 4, 2])).sum(axis=1)
    remainder = 11 - org_total % 11
    org_check = np.where(remainder == 10, ord("X"), np.where(remainder == 11, ord("0"), ord("0") + remainder))
    total = (np.where(value[:, :17] >= 0, value[:, :17], 0) * np.array(uscc_rules._WEIGHTS)).sum(axis=1)
    check = (31 - total % 31) % 31
    valid = shape_ok & (org_check == points[:, 16]) & (check == value[:, 17])
    return np.asarray(valid)


class Population:
    """Enterprises, their department records by type, and what each policy already
    paid each of them (policy id -> enterprise index -> prior awards)."""

    def __init__(
        self,
        uscc: Sequence[str],
        tables: Iterable[RecordTable],
        history: Mapping[str, Mapping[int, Sequence[PriorAward]]] | None = None,
    ) -> None:
        self.uscc = list(uscc)
        codes = np.asarray(self.uscc, dtype=object)
        bad = np.flatnonzero(~_valid_codes(codes))
        if len(bad):
            uscc_rules.validate(self.uscc[bad[0]])  # raises InvalidUSCC with the reason
        self._division = np.asarray([c[2:8] for c in self.uscc], dtype="U6")
        self.tables = {t.record_type: t for t in tables}
        self.history = {policy: dict(paid) for policy, paid in (history or {}).items()}
        self._in_area: dict[str, np.ndarray] = {}
        self._rank: dict[str, np.ndarray] | None = None

    @classmethod
    def from_enterprises(
        cls, enterprises: Iterable[tuple[str, Sequence[Fact], Mapping[str, Sequence[PriorAward]]]]
    ) -> Population:
        """From (uscc, facts, {policy id: prior awards}) per enterprise."""
        codes: list[str] = []
        by_type: dict[str, list[tuple[int, Fact]]] = {}
        history: dict[str, dict[int, Sequence[PriorAward]]] = {}
        for i, (code, facts, paid) in enumerate(enterprises):
            codes.append(code)
            for f in facts:
                by_type.setdefault(f.record_type, []).append((i, f))
            for policy_id, awards in paid.items():
                if awards:
                    history.setdefault(policy_id, {})[i] = tuple(awards)
        tables = [
            RecordTable(
                record_type,
                [i for i, _ in rows],
                [f.record_id for _, f in rows],
                [f.department for _, f in rows],
                [f.effective_date for _, f in rows],
                [f.attributes for _, f in rows],
            )
            for record_type, rows in by_type.items()
        ]
        return cls(codes, tables, history)

    def __len__(self) -> int:
        return len(self.uscc)

    def with_records(
        self, tables: Iterable[RecordTable], history: Mapping[str, Mapping[int, Sequence[PriorAward]]] | None = None
    ) -> Population:
        """The same enterprises with other records (codes are not checked again)."""
        other = Population.__new__(Population)
        other.uscc = self.uscc
        other._division = self._division
        other._in_area = self._in_area
        other.tables = {t.record_type: t for t in tables}
        other.history = {policy: dict(paid) for policy, paid in (history or {}).items()}
        other._rank = None
        return other

    def facts_of(self, index: int, record_types: Iterable[str] | None = None) -> list[Fact]:
        types = self.tables.keys() if record_types is None else record_types
        return [
            table.fact(int(row))
            for t in types
            if (table := self.tables.get(t)) is not None
            for row in table.rows_of(index)
        ]

    def history_of(self, policy_id: str, index: int) -> Sequence[PriorAward]:
        return self.history.get(policy_id, {}).get(index, ())

    def in_area(self, prefix: str) -> np.ndarray:
        mask = self._in_area.get(prefix)
        if mask is None:
            mask = self._in_area[prefix] = np.char.startswith(self._division, prefix)
        return mask

    def rank(self, record_type: str) -> np.ndarray:
        """Each record's place in (effective_date, record_id) order across all types:
        the order the engine hands records to a mode."""
        if self._rank is None:
            tables = list(self.tables.values())
            days = np.concatenate([t.day for t in tables]) if tables else np.empty(0, np.int64)
            ids = np.concatenate([t.record_id for t in tables]).astype(str) if tables else np.empty(0, str)
            order = np.lexsort((ids, days))
            rank = np.empty(len(order), np.int64)
            rank[order] = np.arange(len(order))
            self._rank, start = {}, 0
            for t in tables:
                self._rank[t.record_type] = rank[start : start + len(t)]
                start += len(t)
        return self._rank[record_type]


# --- the records a policy counts, and CEL over them ---------------------------------


class _Frame:
    """The records one policy counts (type, window, target), across its record types."""

    def __init__(self, parts: list[tuple[RecordTable, np.ndarray]], population: Population) -> None:
        self.parts = parts
        self.owner = np.concatenate([t.owner[r] for t, r in parts]) if parts else np.empty(0, np.int64)
        self.day = np.concatenate([t.day[r] for t, r in parts]) if parts else np.empty(0, np.int64)
        self.rank = (
            np.concatenate([population.rank(t.record_type)[r] for t, r in parts]) if parts else np.empty(0, np.int64)
        )
        self.record_type = (
            np.concatenate([np.full(len(r), t.record_type, object) for t, r in parts]) if parts else np.empty(0, object)
        )
        self._columns: dict[str, _Column] = {}
        self._fields: dict[str, np.ndarray] = {}
        self._by_owner: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def by_owner(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(rows sorted by enterprise, the enterprises, where each starts, how many)."""
        if self._by_owner is None:
            order = np.argsort(self.owner, kind="stable")
            owners, starts, counts = np.unique(self.owner[order], return_index=True, return_counts=True)
            self._by_owner = (order, owners, starts, counts)
        return self._by_owner

    def __len__(self) -> int:
        return len(self.owner)

    def column(self, name: str) -> _Column:
        column = self._columns.get(name)
        if column is None:
            pieces = []
            for table, rows in self.parts:
                c = table.column(name)
                pieces.append(_Column(c.kind, c.values[rows], c.present[rows], c.odd[rows]))
            column = self._columns[name] = _Column.concat(pieces)
        return column

    def field(self, name: str) -> np.ndarray:
        values = self._fields.get(name)
        if values is None:
            values = self._fields[name] = self._field(name)
        return values

    def _field(self, name: str) -> np.ndarray:
        if name == "record_type":
            return self.record_type
        if name == "effective_date":
            unique, inverse = np.unique(self.day, return_inverse=True)
            texts = np.array([date.fromordinal(int(d)).isoformat() for d in unique], dtype=object)
            return texts[inverse] if len(unique) else np.empty(0, object)
        if not self.parts:
            return np.empty(0, object)
        return np.concatenate([getattr(t, name)[r] for t, r in self.parts])


_RECORD_FIELDS = ("record_id", "record_type", "department", "effective_date")
_UTC_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z")


def _utc(text: str) -> datetime:
    # Only the plain UTC form: other offsets and spellings are left to CEL.
    if not _UTC_TIMESTAMP.fullmatch(text):
        raise ValueError(text)
    return datetime.fromisoformat(text[:19])


_TIMESTAMP_PARTS: dict[str, Callable[[str], int]] = {
    "getFullYear": lambda t: _utc(t).year,
    "getMonth": lambda t: _utc(t).month - 1,
    "getDate": lambda t: _utc(t).day,
    "getDayOfMonth": lambda t: _utc(t).day - 1,
}


def _path(node: Node) -> list[str] | None:
    if node[0] == "id":
        return [node[1]]
    if node[0] == "sel":
        inner = _path(node[1])
        return None if inner is None else [*inner, node[2]]
    return None


def _per_element(values: np.ndarray, unsure: np.ndarray, function: Callable[[Any], Any], kind: str) -> _Vec:
    """A scalar function over a column; rows where it raises (or returns another
    type) are unsure. Memoised: columns repeat values (dates, years) a lot."""
    seen: dict[Any, Any] = {}
    out: np.ndarray = np.full(len(values), _FILLER[kind], _DTYPE[kind])
    bad = unsure.copy()
    for i, v in enumerate(values.tolist()):
        if bad[i]:
            continue
        if v in seen:
            result = seen[v]
        else:
            try:
                result = function(v)
            except Exception:
                result = _MISSING
            seen[v] = result
        if result is _MISSING or _kind_of(result) != kind:
            bad[i] = True
        else:
            out[i] = result
    return _Vec(kind, out, bad)


class _Columns:
    """Runs expressions over rows `rows` of a frame."""

    def __init__(self, frame: _Frame, rows: np.ndarray, params: Mapping[str, int]) -> None:
        self.frame = frame
        self.n = len(rows)
        self.params = params
        self.vars: dict[str, _Vec] | None = None
        # Names bound to records: `record`, and the variables of facts.exists(f, …).
        self.bound: dict[str, np.ndarray] = {"record": rows}
        self.names: dict[str, _Vec] = {}  # other variables, e.g. amount_fen for a computation text
        self.facts_bound = True  # the engine runs a formula's computation text without `facts`

    def const(self, kind: str, value: Any) -> _Vec:
        if kind not in _DTYPE:
            raise _Unsupported(f"constant {value!r}")
        return _Vec(kind, np.full(self.n, value, _DTYPE[kind]), np.zeros(self.n, bool))

    def failing(self, kind: str = "null") -> _Vec:
        """Every row raises in CEL (a type error, a missing variable)."""
        return _Vec(kind, np.full(self.n, _FILLER[kind], _DTYPE[kind]), np.ones(self.n, bool))

    def run(self, expression: Expression) -> _Vec:
        return self.eval(_parse(expression.source))

    def condition(self, expression: Expression) -> _Vec:
        v = self.run(expression)
        return v if v.kind == "bool" else self.failing("bool")

    def key(self, expression: Expression | None) -> _Vec:
        if expression is None:
            return self.const("str", DEFAULT_GROUP)
        v = self.run(expression)
        if v.kind == "int":
            return _Vec("str", v.values.astype(str).astype(object), v.unsure)
        if v.kind != "str":
            return self.failing("str")
        return _Vec("str", v.values, v.unsure | (v.values == ""))

    def text(self, expression: Expression) -> _Vec:
        v = self.run(expression)
        return v if v.kind == "str" else self.failing("str")

    def fen(self, expression: Expression) -> _Vec:
        v = self.run(expression)
        if v.kind != "int":
            return self.failing("int")
        return _Vec("int", v.values, v.unsure | (v.values < 0))

    def eval(self, node: Node) -> _Vec:
        tag = node[0]
        if tag == "lit":
            return self.const(node[1], node[2])
        if tag in ("id", "sel"):
            return self.select(node)
        if tag == "has":
            return self.has(node[1])
        if tag == "un":
            return self.unary(node[1], self.eval(node[2]))
        if tag == "bin":
            if node[1] == "in":
                return self.member_of(node[2], node[3])
            return self.binary(node[1], self.eval(node[2]), self.eval(node[3]))
        if tag in ("and", "or"):
            return self.logical(tag, self.eval(node[1]), self.eval(node[2]))
        if tag == "cond":
            return self.choose(self.eval(node[1]), self.eval(node[2]), self.eval(node[3]))
        if tag == "call":
            return self.call(node[1], [self.eval(a) for a in node[2]])
        if tag == "meth":
            if node[1] == ("id", "facts") and node[2] in ("exists", "all"):
                return self.over_facts(node[2], node[3])
            if node[1][0] == "call" and node[1][1] == "timestamp" and node[2] in _TIMESTAMP_PARTS and not node[3]:
                return self.timestamp_part(node[1][2], node[2])
            return self.method(self.eval(node[1]), node[2], [self.eval(a) for a in node[3]])
        raise _Unsupported(tag)

    def over_facts(self, macro: str, args: list[Node]) -> _Vec:
        """facts.exists(f, …) / facts.all(f, …): the predicate runs once per pair of a
        row and a counted record of the same enterprise (a self-join, small since an
        enterprise has few records). Unsure if any pair is: CEL stops at the first
        deciding element, so an error before it raises."""
        if not self.facts_bound:
            return self.failing("bool")
        if len(args) != 2 or args[0][0] != "id":
            raise _Unsupported(f"facts.{macro}")
        name = args[0][1]
        sorted_rows, owners, starts, counts = self.frame.by_owner()
        position = np.searchsorted(owners, self.frame.owner[self.bound["record"]])
        count = counts[position]
        parent = np.repeat(np.arange(self.n), count)
        offset = np.arange(len(parent)) - np.repeat(np.cumsum(count) - count, count)
        child = sorted_rows[np.repeat(starts[position], count) + offset]
        inner = _Columns(self.frame, child, self.params)
        inner.bound = {key: rows[parent] for key, rows in self.bound.items()}
        inner.bound[name] = child
        inner.names = {key: v.take(parent) for key, v in self.names.items()}
        if self.vars is not None:
            inner.vars = {key: v.take(parent) for key, v in self.vars.items()}
        predicate = inner.eval(args[1])
        if predicate.kind != "bool":
            return self.failing("bool")
        unsure = np.bincount(parent, weights=predicate.unsure, minlength=self.n) > 0
        if macro == "exists":
            found = np.bincount(parent, weights=predicate.values & ~predicate.unsure, minlength=self.n) > 0
            return _Vec("bool", found, unsure)
        refuted = np.bincount(parent, weights=~predicate.values & ~predicate.unsure, minlength=self.n) > 0
        return _Vec("bool", ~refuted, unsure)

    def timestamp_part(self, args: list[Node], part: str) -> _Vec:
        if len(args) != 1:
            raise _Unsupported("timestamp()")
        text = self.eval(args[0])
        if text.kind != "str":
            return self.failing("int")
        return _per_element(text.values, text.unsure, _TIMESTAMP_PARTS[part], "int")

    def select(self, node: Node) -> _Vec:
        path = _path(node)
        if path is None:
            raise _Unsupported("selection on a computed value")
        if len(path) == 1 and path[0] in self.names:
            return self.names[path[0]]
        if path[0] == "params" and len(path) == 2:
            value = self.params.get(path[1])
            return self.failing() if value is None else self.const(_kind_of(value), value)
        if path[0] == "vars" and len(path) == 2:
            if self.vars is None:
                raise _Unsupported("vars outside a formula")
            bound = self.vars.get(path[1])
            return self.failing() if bound is None else bound
        rows = self.bound.get(path[0])
        if rows is not None and len(path) == 2 and path[1] in _RECORD_FIELDS:
            return _Vec("str", self.frame.field(path[1])[rows], np.zeros(self.n, bool))
        if rows is not None and len(path) == 3 and path[1] == "attributes":
            c = self.frame.column(path[2])
            return _Vec(c.kind, c.values[rows], ~c.present[rows] | c.odd[rows])
        raise _Unsupported(".".join(path))

    def has(self, node: Node) -> _Vec:
        path = _path(node)
        if path is not None and path[0] in self.bound and len(path) == 3 and path[1] == "attributes":
            return _Vec("bool", self.frame.column(path[2]).present[self.bound[path[0]]], np.zeros(self.n, bool))
        if path is not None and path[0] == "params" and len(path) == 2:
            return self.const("bool", path[1] in self.params)
        raise _Unsupported("has()")

    def unary(self, op: str, v: _Vec) -> _Vec:
        if op == "!":
            return _Vec("bool", ~v.values, v.unsure) if v.kind == "bool" else self.failing("bool")
        if v.kind == "int":
            return _Vec("int", -v.values, v.unsure | (v.values == INT64_MIN))
        if v.kind == "double":
            return _Vec("double", -v.values, v.unsure)
        return self.failing()

    def binary(self, op: str, a: _Vec, b: _Vec) -> _Vec:
        unsure = a.unsure | b.unsure
        x, y = a.values, b.values
        if op in ("==", "!=", "<", "<=", ">", ">="):
            # Only like with like: CEL's cross-type comparisons are left to CEL.
            if a.kind != b.kind or a.kind == "null" or (op not in ("==", "!=") and a.kind == "bool"):
                return self.failing("bool")
            compare = {
                "==": np.equal,
                "!=": np.not_equal,
                "<": np.less,
                "<=": np.less_equal,
                ">": np.greater,
                ">=": np.greater_equal,
            }[op]
            return _Vec("bool", np.asarray(compare(x, y), dtype=bool), unsure)
        if a.kind != b.kind:
            return self.failing()
        if a.kind == "str" and op == "+":
            return _Vec("str", x + y, unsure)
        if a.kind == "double" and op in ("+", "-", "*", "/"):
            with np.errstate(all="ignore"):
                result = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}[op](x, y)
            return _Vec("double", result, unsure)
        if a.kind != "int":
            return self.failing()
        with np.errstate(all="ignore"):
            if op == "+":
                r = x + y
                return _Vec("int", r, unsure | (((x ^ r) & (y ^ r)) < 0))
            if op == "-":
                r = x - y
                return _Vec("int", r, unsure | (((x ^ y) & (x ^ r)) < 0))
            if op == "*":
                # Bounds, not np.abs: the absolute value of INT64_MIN wraps to itself.
                big = (x <= -_SAFE_FACTOR) | (x >= _SAFE_FACTOR) | (y <= -_SAFE_FACTOR) | (y >= _SAFE_FACTOR)
                return _Vec("int", x * y, unsure | big)
            # CEL divides truncating toward zero and keeps the dividend's sign in %.
            bad = unsure | (y == 0) | (x == INT64_MIN) | (y == INT64_MIN)
            safe_y = np.where(bad, 1, y)
            safe_x = np.where(bad, 0, x)
            quotient = np.abs(safe_x) // np.abs(safe_y) * np.sign(safe_x) * np.sign(safe_y)
            if op == "/":
                return _Vec("int", quotient, bad)
            return _Vec("int", safe_x - safe_y * quotient, bad)

    def member_of(self, needle_node: Node, haystack: Node) -> _Vec:
        if haystack[0] != "list" or any(item[0] != "lit" for item in haystack[1]):
            raise _Unsupported("in over a computed list")
        needle = self.eval(needle_node)
        items = haystack[1]
        if any(item[1] != needle.kind for item in items) or needle.kind == "null":
            return self.failing("bool")
        found = _isin(needle.values, [item[2] for item in items])
        return _Vec("bool", found, needle.unsure)

    def logical(self, op: str, a: _Vec, b: _Vec) -> _Vec:
        if a.kind != "bool" or b.kind != "bool":
            # CEL may still decide these by the other operand; let it.
            return self.failing("bool")
        # Sure only when the left operand decides, or is sure and the right is too:
        # whether CEL then absorbs an error on the right is its business.
        decides = ~a.unsure & (~a.values if op == "and" else a.values)
        value = (a.values & b.values) if op == "and" else (a.values | b.values)
        return _Vec("bool", value, ~decides & (a.unsure | b.unsure))

    def choose(self, test: _Vec, then: _Vec, other: _Vec) -> _Vec:
        if test.kind != "bool":
            return self.failing()
        if then.kind != other.kind:
            # A branch that raises on every row (an attribute no record has) takes the
            # other's type; two live branches of different types are left to CEL.
            if then.unsure.all():
                then = self.failing(other.kind)
            elif other.unsure.all():
                other = self.failing(then.kind)
            else:
                raise _Unsupported("branches of different types")
        values = np.where(test.values, then.values, other.values)
        unsure = test.unsure | np.where(test.values, then.unsure, other.unsure)
        return _Vec(then.kind, values.astype(_DTYPE[then.kind]), unsure)

    def call(self, name: str, args: list[_Vec]) -> _Vec:
        if len(args) != 1:
            raise _Unsupported(name)
        (v,) = args
        if v.kind == "null" and v.unsure.all():
            return self.failing()  # an attribute no record has: CEL raises on reading it
        if name == "string" and v.kind == "str":
            return v
        if name == "string" and v.kind == "int":
            return _Vec("str", v.values.astype(str).astype(object), v.unsure)
        if name == "int" and v.kind == "int":
            return v
        if name == "double" and v.kind == "int":
            big = (v.values > 2**53) | (v.values < -(2**53))
            return _Vec("double", v.values.astype(np.float64), v.unsure | big)
        if name == "double" and v.kind == "double":
            return v
        if name == "year_of" and v.kind == "str":
            return _per_element(v.values, v.unsure, lambda s: date.fromisoformat(s).year, "int")
        if name in HELPERS and name != "year_of" and v.kind == "int":
            return _per_element(v.values, v.unsure, HELPERS[name], "str")
        raise _Unsupported(f"{name}({v.kind})")

    def method(self, target: _Vec, name: str, args: list[_Vec]) -> _Vec:
        if target.kind == "null" and target.unsure.all():
            return self.failing()
        if name in ("startsWith", "endsWith", "contains") and len(args) == 1:
            (arg,) = args
            if target.kind != "str" or arg.kind != "str":
                return self.failing("bool")
            test = {"startsWith": str.startswith, "endsWith": str.endswith, "contains": str.__contains__}[name]
            found = np.fromiter(
                (test(s, t) for s, t in zip(target.values.tolist(), arg.values.tolist(), strict=True)), bool, self.n
            )
            return _Vec("bool", found, target.unsure | arg.unsure)
        raise _Unsupported(f".{name}()")


# --- award modes over columns ---------------------------------------------------------


@dataclass
class _Outcomes:
    """What each (enterprise, group) is entitled to, before settlement."""

    owner: np.ndarray
    key: np.ndarray  # str
    amount: np.ndarray  # int64
    day: np.ndarray  # first effective date of the records behind it (ordinal)

    @staticmethod
    def empty() -> _Outcomes:
        return _Outcomes(np.empty(0, np.int64), np.empty(0, object), np.empty(0, np.int64), np.empty(0, np.int64))

    @staticmethod
    def concat(parts: list[_Outcomes]) -> _Outcomes:
        if not parts:
            return _Outcomes.empty()
        return _Outcomes(
            np.concatenate([p.owner for p in parts]),
            np.concatenate([p.key for p in parts]),
            np.concatenate([p.amount for p in parts]),
            np.concatenate([p.day for p in parts]),
        )

    def take(self, rows: np.ndarray) -> _Outcomes:
        return _Outcomes(self.owner[rows], self.key[rows], self.amount[rows], self.day[rows])


def _codes(values: np.ndarray) -> np.ndarray:
    """Dense integer codes for hashable values, equal values equal codes."""
    seen: dict[Any, int] = {}
    return np.fromiter((seen.setdefault(v, len(seen)) for v in values.tolist()), np.int64, len(values))


def _groups(owner: np.ndarray, key_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group id per row, first row of each group) for (owner, key) pairs."""
    combined = owner * (int(key_codes.max(initial=0)) + 1) + key_codes
    _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    return inverse.reshape(-1), first


class _Leaf:
    """One award mode over rows of a frame: outcomes, and enterprises it is unsure of."""

    def __init__(self, frame: _Frame, rows: np.ndarray, params: Mapping[str, int]) -> None:
        self.frame = frame
        self.rows = rows
        self.params = params
        self.unsure_owners: list[np.ndarray] = []

    def on(self, rows: np.ndarray) -> _Columns:
        return _Columns(self.frame, rows, self.params)

    def doubt(self, rows: np.ndarray, mask: np.ndarray) -> None:
        self.unsure_owners.append(self.frame.owner[rows[mask]])

    def outcomes(self, mode: Mode) -> _Outcomes:
        if isinstance(mode, HighestTier):
            return self.highest_tier(mode)
        if isinstance(mode, PerItem):
            return self.per_item(mode)
        if isinstance(mode, Formula):
            return self.formula(mode)
        raise _Unsupported(type(mode).__name__)

    def highest_tier(self, mode: HighestTier) -> _Outcomes:
        rows = self.rows
        cols = self.on(rows)
        n = len(rows)
        alive = np.ones(n, bool)  # no earlier tier matched, so CEL tries this one
        unsure = np.zeros(n, bool)
        rank = np.full(n, -1, np.int64)
        for k, tier in enumerate(mode.tiers):
            c = cols.condition(tier.when)
            unsure |= alive & c.unsure
            hit = alive & ~c.unsure & c.values
            rank[hit] = k
            alive &= ~c.unsure & ~c.values
        matched = np.flatnonzero(rank >= 0)
        key = self.on(rows[matched]).key(mode.group_by)
        self.doubt(rows, unsure)
        self.doubt(rows[matched], key.unsure)
        m_rows = rows[matched]
        owner = self.frame.owner[m_rows]
        group, first = _groups(owner, _codes(key.values))
        best = np.full(len(first), len(mode.tiers), np.int64)
        np.minimum.at(best, group, rank[matched])
        day = np.full(len(first), np.iinfo(np.int64).max, np.int64)
        np.minimum.at(day, group, self.frame.day[m_rows])
        amounts = np.array([t.amount_fen for t in mode.tiers], np.int64)
        return _Outcomes(owner[first], key.values[first], amounts[best], day)

    def per_item(self, mode: PerItem) -> _Outcomes:
        rows = self.rows
        if mode.when is not None:
            c = self.on(rows).condition(mode.when)
            self.doubt(rows, c.unsure)
            rows = rows[~c.unsure & c.values]
        item = self.on(rows).key(mode.item_key)
        self.doubt(rows, item.unsure)
        owner = self.frame.owner[rows]
        item_codes = _codes(item.values)
        # The earliest record of each item counts; later ones repeat it.
        order = np.lexsort((self.frame.rank[rows], item_codes, owner))
        sorted_pair = np.stack([owner[order], item_codes[order]])
        starts = np.ones(len(order), bool)
        starts[1:] = (sorted_pair[:, 1:] != sorted_pair[:, :-1]).any(axis=0)
        items = rows[order[starts]]
        group = self.on(items).key(mode.group_by)
        self.doubt(items, group.unsure)
        if mode.item_label is not None:
            # Only for its errors: the engine raises when an item's label is not text.
            self.doubt(items, self.on(items).text(mode.item_label).unsure)
        item_owner = self.frame.owner[items]
        gid, first = _groups(item_owner, _codes(group.values))
        count = np.bincount(gid, minlength=len(first)).astype(np.int64)
        day = np.full(len(first), np.iinfo(np.int64).max, np.int64)
        np.minimum.at(day, gid, self.frame.day[items])
        gross = [c * mode.amount_per_item_fen for c in count.tolist()]
        cap = mode.cap_per_group_fen
        amount = np.array([g if cap is None else min(g, cap) for g in gross], np.int64)
        return _Outcomes(item_owner[first], group.values[first], amount, day)

    def formula(self, mode: Formula) -> _Outcomes:
        rows = self.rows
        key = self.on(rows).key(mode.group_by)
        self.doubt(rows, key.unsure)
        owner = self.frame.owner[rows]
        codes = _codes(key.values)
        # A later record of a group supersedes the earlier ones.
        order = np.lexsort((self.frame.rank[rows], codes, owner))
        ends = np.ones(len(order), bool)
        ends[:-1] = (owner[order][1:] != owner[order][:-1]) | (codes[order][1:] != codes[order][:-1])
        pick = order[ends]
        latest = rows[pick]
        cols = self.on(latest)
        cols.vars = {}
        unsure = np.zeros(len(latest), bool)
        for name, expression in mode.derive:
            v = cols.run(expression)
            unsure |= v.unsure
            cols.vars[name] = v
        met = cols.condition(mode.when)
        unsure |= met.unsure
        amount = cols.fen(mode.amount_fen)
        unsure |= met.values & amount.unsure
        if mode.computation is not None:
            # Only for its errors, as the engine runs it: own scope, no `facts`.
            text = self.on(latest)
            text.vars = cols.vars
            text.names = {"amount_fen": amount}
            text.facts_bound = False
            unsure |= met.values & text.text(mode.computation).unsure
        self.doubt(latest, unsure)
        paid = met.values & ~unsure
        return _Outcomes(owner[pick][paid], key.values[pick][paid], amount.values[paid], self.frame.day[latest][paid])


# --- settlement: what was already paid ---------------------------------------------------


def _as_outcome(key: str, amount: int, day: int) -> Outcome:
    # The engine's settlement reads only the key, the amount and the earliest fact date.
    anchor = Fact(record_id="", department="", record_type="", effective_date=date.fromordinal(day), attributes={})
    return Outcome(award_key=key, amount_fen=amount, rule="", computation="", facts=(anchor,))


def _by_owner(outcomes: _Outcomes, owners: set[int]) -> Iterator[tuple[int, list[Outcome]]]:
    picked = np.flatnonzero(np.isin(outcomes.owner, np.fromiter(owners, np.int64, len(owners))))
    grouped: dict[int, list[Outcome]] = {}
    for i in picked.tolist():
        grouped.setdefault(int(outcomes.owner[i]), []).append(
            _as_outcome(outcomes.key[i], int(outcomes.amount[i]), int(outcomes.day[i]))
        )
    yield from grouped.items()


def _rebuilt(kept: _Outcomes, redone: list[tuple[int, list[Outcome]]]) -> _Outcomes:
    extra = [
        (owner, o.award_key, o.amount_fen, min(f.effective_date for f in o.facts)) for owner, os in redone for o in os
    ]
    if not extra:
        return kept
    return _Outcomes.concat(
        [
            kept,
            _Outcomes(
                np.array([e[0] for e in extra], np.int64),
                np.array([e[1] for e in extra], dtype=object),
                np.array([e[2] for e in extra], np.int64),
                np.array([e[3].toordinal() for e in extra], np.int64),
            ),
        ]
    )


def _over_cap(outcomes: _Outcomes, cap: int) -> set[int]:
    if not len(outcomes.owner):
        return set()
    owners, inverse = np.unique(outcomes.owner, return_inverse=True)
    totals = np.zeros(len(owners), np.int64)
    np.add.at(totals, inverse.reshape(-1), outcomes.amount)
    return set(owners[totals > cap].tolist())


def _settled(rule: Settled, outcomes: _Outcomes, paid: Mapping[int, Sequence[PriorAward]]) -> _Outcomes:
    """Settlement and the lifetime cap, by the engine's own functions, for the
    enterprises they can change: those already paid, and those above the cap."""
    special = {o for o in paid if paid[o]}
    if rule.cap_total_fen is not None:
        special |= _over_cap(outcomes, rule.cap_total_fen)
    if not special:
        return outcomes
    redone = []
    for owner, os in _by_owner(outcomes, special):
        history = paid.get(owner, ())
        done = settle(os, history, rule.prior, None)
        if rule.cap_total_fen is not None:
            done = apply_cap(done, history, rule.cap_total_fen, rule.cap_label, None)
        redone.append((owner, done))
    keep = ~np.isin(outcomes.owner, np.fromiter(special, np.int64, len(special)))
    return _rebuilt(outcomes.take(np.flatnonzero(keep)), redone)


def _award_outcomes(
    policy: CompiledPolicy, frame: _Frame, history: Mapping[int, Sequence[PriorAward]]
) -> tuple[_Outcomes, np.ndarray]:
    rule = policy._award_rule
    params = dict(policy._params)
    everything = np.arange(len(frame))
    if isinstance(rule, Settled):
        leaf = _Leaf(frame, everything, params)
        outcomes = _settled(rule, leaf.outcomes(rule.mode), history)
        return outcomes, np.concatenate([np.empty(0, np.int64), *leaf.unsure_owners])
    if not isinstance(rule, Components):
        raise _Unsupported(type(rule).__name__)
    parts = []
    unsure: list[np.ndarray] = []
    for part in rule.parts:
        prefix = f"{part.key}{COMPONENT_SEPARATOR}"
        rows = everything
        if part.record_types is not None:
            rows = np.flatnonzero(_isin(frame.record_type, part.record_types))
        leaf = _Leaf(frame, rows, params)
        paid = {
            owner: [
                dataclasses.replace(a, award_key=a.award_key[len(prefix) :])
                for a in awards
                if a.award_key.startswith(prefix)
            ]
            for owner, awards in history.items()
        }
        done = _settled(part.award, leaf.outcomes(part.award.mode), paid)
        done.key = np.array([prefix + k for k in done.key.tolist()], dtype=object)
        parts.append(done)
        unsure += leaf.unsure_owners
    outcomes = _Outcomes.concat(parts)
    if rule.cap_total_fen is not None:
        outcomes = _capped(outcomes, history, rule.cap_total_fen, rule.cap_label)
    return outcomes, np.concatenate([np.empty(0, np.int64), *unsure])


def _capped(outcomes: _Outcomes, history: Mapping[int, Sequence[PriorAward]], cap: int, label: str) -> _Outcomes:
    """The top-level cap of components: the whole history counts against it."""
    special = {o for o in history if history[o]} | _over_cap(outcomes, cap)
    if not special:
        return outcomes
    redone = [
        (owner, apply_cap(os, history.get(owner, ()), cap, label, None)) for owner, os in _by_owner(outcomes, special)
    ]
    keep = ~np.isin(outcomes.owner, np.fromiter(special, np.int64, len(special)))
    return _rebuilt(outcomes.take(np.flatnonzero(keep)), redone)


# --- the entry point -----------------------------------------------------------------


def _frame(policy: CompiledPolicy, population: Population) -> tuple[_Frame, np.ndarray]:
    """The counted records, and the enterprises whose target attributes are odd."""
    start = policy._effective_from.toordinal()
    end = policy._effective_to.toordinal() if policy._effective_to is not None else None
    in_area = population.in_area(policy._division_prefix)
    parts = []
    odd: list[np.ndarray] = []
    for record_type in sorted(policy.input_record_types):
        table = population.tables.get(record_type)
        if table is None or not len(table):
            continue
        mask = in_area[table.owner] & (table.day >= start)
        if end is not None:
            mask &= table.day <= end
        if policy._enterprise_sizes is not None:
            size = table.column("enterprise_size")
            odd.append(table.owner[mask & size.odd])
            mask &= size.present & ~size.odd & _isin(size.values, policy._enterprise_sizes)
        if policy._enterprise_kinds is not None:
            kind = table.column("enterprise_kind")
            odd.append(table.owner[mask & kind.odd])
            allowed = ~kind.present | (~kind.odd & _isin(kind.values, policy._enterprise_kinds))
            if kind.kind == "null":
                allowed = ~kind.present | ~kind.odd
            mask &= allowed
        parts.append((table, np.flatnonzero(mask)))
    return _Frame(parts, population), np.concatenate([np.empty(0, np.int64), *odd])


def _one_by_one(policy: CompiledPolicy, population: Population, owners: Iterable[int]) -> dict[str, list[BatchAward]]:
    out = {}
    for owner in sorted(set(owners)):
        awards = evaluate(
            policy,
            uscc=population.uscc[owner],
            facts=population.facts_of(owner, policy.input_record_types),
            history=population.history_of(policy.id, owner),
        )
        if awards:
            out[population.uscc[owner]] = [BatchAward(a.award_key, a.amount_fen) for a in awards]
    return out


def evaluate_population(
    policy: CompiledPolicy, population: Population, *, stats: BatchStats | None = None
) -> dict[str, list[BatchAward]]:
    """What `evaluate(policy, ...)` gives each enterprise of `population` that gets
    anything: uscc -> awards sorted by award_key, amounts in fen, none zero.

    Raises what `evaluate` raises for the first enterprise it raises for."""
    stats = stats if stats is not None else BatchStats()
    frame, odd = _frame(policy, population)
    stats.records_counted = len(frame)
    if not len(frame):
        return {}  # no counted record, no award: every mode starts from the records
    history = population.history.get(policy.id, {})
    try:
        outcomes, unsure = _award_outcomes(policy, frame, history)
    except _Unsupported as exc:
        stats.vectorised, stats.reason = False, f"CEL outside the batch subset: {exc}"
        stats.enterprises_delegated = len(np.unique(frame.owner))
        return _one_by_one(policy, population, np.unique(frame.owner).tolist())
    delegated = np.unique(np.concatenate([unsure, odd]))
    stats.enterprises_delegated = len(delegated)
    keep = (outcomes.amount > 0) & ~np.isin(outcomes.owner, delegated)
    result: dict[str, list[BatchAward]] = {}
    codes = population.uscc
    for owner, key, amount in zip(
        outcomes.owner[keep].tolist(), outcomes.key[keep].tolist(), outcomes.amount[keep].tolist(), strict=True
    ):
        result.setdefault(codes[owner], []).append(BatchAward(key, amount))
    for awards in result.values():
        if len(awards) > 1:
            awards.sort()
    result.update(_one_by_one(policy, population, delegated.tolist()))
    return result


__all__ = ["BatchAward", "BatchStats", "Population", "RecordTable", "evaluate_population"]
