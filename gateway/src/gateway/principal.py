"""Who is calling: the one identity every part of the gateway reads.

The access guard (gateway.access) authenticates the caller and leaves a
`Principal` on the request; rate limiting, audit and the routes read it with
`principal_of(request)` and never look at credentials themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastapi import Request

PrincipalKind = Literal["frontend", "department", "operator", "third_party", "anonymous"]
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Principal:
    client_id: str  # registered client, or "anonymous" on public routes
    kind: PrincipalKind
    scopes: frozenset[str]
    department: str | None = None  # kind == department: its code in the city file (gxj, rsj, …)
    roles: frozenset[str] = frozenset()  # kind == operator: policy_editor, policy_publisher, …
    enterprise: str | None = None  # kind == frontend: USCC from the verified enterprise assertion
    actor: str = ""  # who services record: operator client id, "<frontend>:<user ref>", department code…

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def anonymous(client_ip: str | None) -> Principal:
    """A caller without credentials on a public route; rate limits key it by IP."""
    return Principal(client_id=ANONYMOUS, kind="anonymous", scopes=frozenset(), actor=f"ip:{client_ip or 'unknown'}")


def principal_of(request: Request) -> Principal:
    """The principal the access guard admitted. A route without a guard has none:
    it is then treated as anonymous rather than failing, since probes and the
    OpenAPI document have no audience."""
    principal = getattr(request.state, "principal", None)
    if isinstance(principal, Principal):
        return principal
    return anonymous(request.client.host if request.client else None)
