"""Where access control attaches: every /v1 route declares its audience with one
dependency from here.

Authentication, authorisation, rate limiting and audit arrive in a later issue;
they go into `_admit` (and, for enterprise routes, compare the caller's
enterprise with the path's USCC) without touching any route.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from enum import StrEnum
from typing import Any

from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam


class Audience(StrEnum):
    department = "department"  # a city department's system pushing data
    enterprise = "enterprise"  # 亲清在线/郑好办 acting for one enterprise, or an operator
    public = "public"  # anyone may read, e.g. the policy catalogue
    operator = "operator"  # the operations team: policy editors, publishers, auditors


def _admit(audience: Audience) -> Callable[[Request], Coroutine[Any, Any, None]]:
    async def admit(request: Request) -> None:
        request.state.audience = audience

    admit.__name__ = f"admit_{audience.value}"
    return admit


_GUARDS: dict[Audience, DependsParam] = {audience: Depends(_admit(audience)) for audience in Audience}


def access(audience: Audience) -> DependsParam:
    """The dependency a route lists in `dependencies=[...]` to declare who may call it."""
    return _GUARDS[audience]


def is_guard(dependency: DependsParam) -> bool:
    return dependency in _GUARDS.values()
