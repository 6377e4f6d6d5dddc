"""统一社会信用代码 — the 18-character unified social credit code (GB 32100-2015).

Layout: 1 registration authority, 2 organisation category, 3-8 administrative
division code (GB/T 2260), 9-17 organisation code (GB 11714, whose ninth character
is itself a check character), 18 check character over the first seventeen.
"""

from __future__ import annotations

import re

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # I, O, Z, S, V are never used
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
# GB 11714 values letters over the full Latin alphabet (A=10 … Z=35).
_ORG_VALUE = {ch: i for i, ch in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")}
_SHAPE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$")


class InvalidUSCC(ValueError):
    """The text is not a valid 统一社会信用代码; `reason` is a stable machine code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def check_character(first17: str) -> str:
    total = sum(_VALUE[ch] * w for ch, w in zip(first17, _WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def organisation_check_character(first8: str) -> str:
    """GB 11714 check character of the nine-character organisation code."""
    total = sum(_ORG_VALUE[ch] * w for ch, w in zip(first8, _ORG_WEIGHTS, strict=True))
    remainder = 11 - total % 11
    return {10: "X", 11: "0"}.get(remainder, str(remainder))


def validate(code: str) -> str:
    """Return the code if valid, else raise InvalidUSCC with a Chinese message."""
    if not isinstance(code, str) or len(code) != 18:
        raise InvalidUSCC("uscc_length", "统一社会信用代码应为18位")
    if not _SHAPE.match(code):
        raise InvalidUSCC("uscc_charset", "统一社会信用代码含有不允许的字符（应为数字或大写字母，不含I、O、Z、S、V）")
    if organisation_check_character(code[8:16]) != code[16]:
        raise InvalidUSCC("uscc_org_check_digit", "统一社会信用代码中组织机构代码校验位错误")
    if check_character(code[:17]) != code[17]:
        raise InvalidUSCC("uscc_check_digit", "统一社会信用代码校验位错误")
    return code


def is_valid(code: str) -> bool:
    try:
        validate(code)
    except InvalidUSCC:
        return False
    return True


def division_code(code: str) -> str:
    """The six-digit administrative division code where the entity is registered."""
    return code[2:8]


def build(authority: str, category: str, division: str, org_body: str) -> str:
    """Compose a valid code from its parts (org_body: the first 8 organisation characters)."""
    org = org_body + organisation_check_character(org_body)
    first17 = authority + category + division + org
    return first17 + check_character(first17)
