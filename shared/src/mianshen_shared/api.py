"""Response shapes every API shares."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Items(BaseModel, Generic[T]):
    """A list response. Always an object, so paging fields can be added without breaking clients."""

    items: list[T]
