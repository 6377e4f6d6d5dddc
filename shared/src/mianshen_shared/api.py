"""Response shapes every API shares."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

T = TypeVar("T")

# Paging by offset is for people turning pages; beyond this a filter or an export
# serves better. The bound also keeps the number inside the databases' 64-bit range.
MAX_OFFSET = 1_000_000
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="跳过条数")]


class Items(BaseModel, Generic[T]):
    """A list response. Always an object, so paging fields can be added without breaking clients."""

    items: list[T]
