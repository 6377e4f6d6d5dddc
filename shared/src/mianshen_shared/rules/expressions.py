"""CEL expressions of a policy document: compiled once, run with typed results.

Every expression runs in a scope holding `record` and `params`; formula mode
adds `vars` (its derived values) and, for the computation text, `amount_fen`.
A few helper functions make explanations readable without string formatting
in CEL: yuan(fen), amount_text(fen), permille_text(n), year_of(iso_date).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import cel

from mianshen_shared.money import FEN_PER_WAN_YUAN, format_yuan
from mianshen_shared.rules.model import Fact, PolicyEvaluationError


def amount_text(fen: int) -> str:
    """Whole 万元 amounts read as the policy text writes them ("200万元")."""
    if fen != 0 and fen % FEN_PER_WAN_YUAN == 0:
        return f"{fen // FEN_PER_WAN_YUAN:,}万元"
    return format_yuan(fen)


def permille_text(value: int) -> str:
    """55 → "5.5%": rates are kept as integer per-mille so no float enters a rule."""
    whole, tenth = divmod(int(value), 10)
    return f"{whole}%" if tenth == 0 else f"{whole}.{tenth}%"


def year_of(iso_date: str) -> int:
    return date.fromisoformat(iso_date).year


def _yuan(fen: int) -> str:
    return format_yuan(int(fen))


def _amount_text(fen: int) -> str:
    return amount_text(int(fen))


HELPERS: dict[str, Callable[..., Any]] = {
    "yuan": _yuan,
    "amount_text": _amount_text,
    "permille_text": permille_text,
    "year_of": year_of,
}


@dataclass(frozen=True)
class RecordShape:
    """The parts of `record` a policy's expressions can reach (None: all of them).

    A map only enters CEL by conversion, which costs microseconds per entry, so a
    record is handed over without the fields and attributes no expression names.
    """

    fields: frozenset[str] | None = None
    attributes: frozenset[str] | None = None


FULL_RECORD = RecordShape()
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _selected_only(name: str, sources: Iterable[str]) -> bool:
    """Whether every mention of `name` is a plain field selection `name.field` (not a
    method call): then only the selected fields can be read. Anything else (an index,
    `in`, a macro, size(), a string that happens to hold the word) keeps it whole."""
    pattern = re.compile(rf"\b{name}\b")
    selection = re.compile(r"\s*\.\s*[A-Za-z_][A-Za-z0-9_]*(?![A-Za-z0-9_])(?!\s*\()")
    for source in sources:
        for mention in pattern.finditer(source):
            if not selection.match(source, mention.end()):
                return False
    return True


def record_shape(sources: Iterable[str]) -> RecordShape:
    """The narrowest record the expressions `sources` cannot tell from the whole one.

    Sound because a map is reached in CEL only through its name: a field that is
    named nowhere in any expression (not even inside a string) cannot be read.
    """
    sources = list(sources)
    words = {w for source in sources for w in _WORD.findall(source)}
    if not _selected_only("record", sources):
        return FULL_RECORD
    fields = frozenset(words & {"record_id", "record_type", "department", "effective_date", "attributes"})
    attributes = frozenset(words) if _selected_only("attributes", sources) else None
    return RecordShape(fields=fields, attributes=attributes)


def record_variable(fact: Fact, shape: RecordShape = FULL_RECORD) -> dict[str, Any]:
    """The `record` an expression sees, reduced to `shape`."""
    if shape.attributes is None:
        attributes = fact.attributes
    else:
        attributes = {k: v for k, v in fact.attributes.items() if k in shape.attributes}
    record = {
        "record_id": fact.record_id,
        "record_type": fact.record_type,
        "department": fact.department,
        "effective_date": fact.effective_date.isoformat(),
        "attributes": attributes,
    }
    if shape.fields is None:
        return record
    return {k: v for k, v in record.items() if k in shape.fields}


class Scope:
    """The variables of one evaluation, held in one CEL context.

    Converting a Python value into CEL is by far the dearest step of running an
    expression (tens of microseconds per record, more than the run itself), so
    the helpers and `params` are registered once per evaluation, and a variable
    is converted only after it was (re)bound and only when an expression that
    names it is about to run. A bound variable stays visible until rebound:
    callers bind everything an expression may read before running it.
    """

    def __init__(self, params: dict[str, int], shape: RecordShape = FULL_RECORD) -> None:
        self._params = params
        self._shape = shape
        self._env: Any = None
        self._pending: dict[str, Any] = {"params": params}
        self._record_of: Fact | None = None

    def fresh(self) -> Scope:
        """A new scope over the same parameters, with nothing else bound."""
        return Scope(self._params, self._shape)

    def bind(self, name: str, value: Any) -> None:
        self._pending[name] = value

    def bind_record(self, fact: Fact) -> None:
        if fact is not self._record_of:
            self._record_of = fact
            self.bind("record", record_variable(fact, self._shape))

    def env(self, reads: frozenset[str] | None) -> Any:
        """The context for an expression naming `reads` (None: it may read anything)."""
        if self._env is None:
            self._env = cel.Context()
            for name, function in HELPERS.items():
                self._env.add_function(name, function)
        if self._pending:
            for name in [n for n in self._pending if reads is None or n in reads]:
                self._env.add_variable(name, self._pending.pop(name))
        return self._env


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "布尔值"
    if isinstance(value, int):
        return "整数"
    if isinstance(value, float):
        return "小数"
    if isinstance(value, str):
        return "字符串"
    if value is None:
        return "null"
    return type(value).__name__


@dataclass(frozen=True)
class Expression:
    """One compiled CEL expression and where it sits in the document."""

    path: str
    source: str
    program: Any
    policy_ref: str
    # Every name the expression mentions (a superset of the variables it reads).
    reads: frozenset[str] | None = None

    @classmethod
    def compile(cls, source: str, *, path: str, policy_ref: str) -> Expression:
        """Raises ValueError with a Chinese message naming `path` on a syntax error."""
        try:
            program = cel.compile(source)
        except (ValueError, RuntimeError) as exc:
            raise ValueError(f"{path}: CEL 表达式无法编译：{exc}") from exc
        reads = frozenset(program.variables())
        return cls(path=path, source=source, program=program, policy_ref=policy_ref, reads=reads)

    def _fail(self, fact: Fact, detail: str) -> PolicyEvaluationError:
        return PolicyEvaluationError(
            f"政策 {self.policy_ref} 的 {self.path} 对记录 {fact.record_id} 求值失败：{detail}（表达式：{self.source}）"
        )

    def run(self, scope: Scope, fact: Fact) -> Any:
        env = scope.env(self.reads)
        try:
            return self.program.execute(env)
        except KeyError as exc:
            raise self._fail(fact, f"记录中没有字段 {exc}，可用 has() 先判断") from exc
        except (ValueError, TypeError, RuntimeError, OverflowError, ZeroDivisionError) as exc:
            raise self._fail(fact, str(exc)) from exc

    def condition(self, scope: Scope, fact: Fact) -> bool:
        value = self.run(scope, fact)
        if not isinstance(value, bool):
            raise self._fail(fact, f"条件表达式应得到布尔值，实际得到{_type_name(value)} {value!r}")
        return value

    def key(self, scope: Scope, fact: Fact) -> str:
        value = self.run(scope, fact)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self._fail(fact, f"分组/去重键应为字符串或整数，实际得到{_type_name(value)} {value!r}")
        text = str(value)
        if not text:
            raise self._fail(fact, "分组/去重键不能为空字符串")
        return text

    def text(self, scope: Scope, fact: Fact) -> str:
        value = self.run(scope, fact)
        if not isinstance(value, str):
            raise self._fail(fact, f"说明文字应为字符串，实际得到{_type_name(value)} {value!r}")
        return value

    def fen(self, scope: Scope, fact: Fact) -> int:
        value = self.run(scope, fact)
        if isinstance(value, float):
            raise self._fail(
                fact, f"金额公式得到小数 {value!r}；金额以分为单位必须是整数，请用整数运算或 int() 显式向下取整"
            )
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(fact, f"金额公式应得到整数（分），实际得到{_type_name(value)} {value!r}")
        if value < 0:
            raise self._fail(fact, f"金额公式得到负数 {value} 分；核定金额不能为负")
        return value
