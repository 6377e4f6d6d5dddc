"""CEL expressions of a policy document: compiled once, run with typed results.

Every expression runs in a context holding `record` and `params`; formula mode
adds `vars` (its derived values) and, for the computation text, `amount_fen`.
A few helper functions make explanations readable without string formatting
in CEL: yuan(fen), amount_text(fen), permille_text(n), year_of(iso_date).
"""

from __future__ import annotations

from collections.abc import Callable
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


def record_context(fact: Fact, params: dict[str, int]) -> dict[str, Any]:
    return {
        "record": {
            "record_id": fact.record_id,
            "record_type": fact.record_type,
            "department": fact.department,
            "effective_date": fact.effective_date.isoformat(),
            "attributes": fact.attributes,
        },
        "params": params,
    }


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

    @classmethod
    def compile(cls, source: str, *, path: str, policy_ref: str) -> Expression:
        """Raises ValueError with a Chinese message naming `path` on a syntax error."""
        try:
            program = cel.compile(source)
        except (ValueError, RuntimeError) as exc:
            raise ValueError(f"{path}: CEL 表达式无法编译：{exc}") from exc
        return cls(path=path, source=source, program=program, policy_ref=policy_ref)

    def _fail(self, fact: Fact, detail: str) -> PolicyEvaluationError:
        return PolicyEvaluationError(
            f"政策 {self.policy_ref} 的 {self.path} 对记录 {fact.record_id} 求值失败：{detail}（表达式：{self.source}）"
        )

    def run(self, context: dict[str, Any], fact: Fact) -> Any:
        env = cel.Context(context)
        for name, function in HELPERS.items():
            env.add_function(name, function)
        try:
            return self.program.execute(env)
        except KeyError as exc:
            raise self._fail(fact, f"记录中没有字段 {exc}，可用 has() 先判断") from exc
        except (ValueError, TypeError, RuntimeError, OverflowError) as exc:
            raise self._fail(fact, str(exc)) from exc

    def condition(self, context: dict[str, Any], fact: Fact) -> bool:
        value = self.run(context, fact)
        if not isinstance(value, bool):
            raise self._fail(fact, f"条件表达式应得到布尔值，实际得到{_type_name(value)} {value!r}")
        return value

    def key(self, context: dict[str, Any], fact: Fact) -> str:
        value = self.run(context, fact)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self._fail(fact, f"分组/去重键应为字符串或整数，实际得到{_type_name(value)} {value!r}")
        text = str(value)
        if not text:
            raise self._fail(fact, "分组/去重键不能为空字符串")
        return text

    def text(self, context: dict[str, Any], fact: Fact) -> str:
        value = self.run(context, fact)
        if not isinstance(value, str):
            raise self._fail(fact, f"说明文字应为字符串，实际得到{_type_name(value)} {value!r}")
        return value

    def fen(self, context: dict[str, Any], fact: Fact) -> int:
        value = self.run(context, fact)
        if isinstance(value, float):
            raise self._fail(
                fact, f"金额公式得到小数 {value!r}；金额以分为单位必须是整数，请用整数运算或 int() 显式向下取整"
            )
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(fact, f"金额公式应得到整数（分），实际得到{_type_name(value)} {value!r}")
        if value < 0:
            raise self._fail(fact, f"金额公式得到负数 {value} 分；核定金额不能为负")
        return value
