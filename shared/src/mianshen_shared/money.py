"""Money is an integer number of fen (分); 1 yuan = 100 fen, 1 万元 = 1,000,000 fen."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

Fen = Annotated[int, Field(ge=0, description="金额，单位：分")]
FEN_PER_YUAN = 100
FEN_PER_WAN_YUAN = 1_000_000


def wan_yuan(amount: int) -> int:
    return amount * FEN_PER_WAN_YUAN


def format_yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{yuan:,}.{cents:02d}元"
