"""Where access control attaches: every /v1 route declares its audience with one
dependency from here, and that dependency authenticates the caller, decides
whether this kind of client may make this call, and leaves the `Principal` on
the request for everything after it (rate limits, audit, X-Actor).

Who may do what:
- front ends act for the one enterprise named in their signed assertion; any
  other USCC in the path answers 404 as if it did not exist (no data, no hint);
- departments push and read back only their own record types and instructions;
- operators need the scope of the role the call belongs to (ROUTE_SCOPES); a
  state-changing operator route missing from that table is refused, not let by;
- third-party apps read one summary, only where the enterprise consented.

With `auth_required` off (development stacks only) a call without credentials is
let through as before; presented credentials are still verified and enforced.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Coroutine
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.params import Depends as DependsParam
from fastapi.responses import JSONResponse

from gateway import consent
from gateway.principal import Principal, anonymous, principal_of
from gateway.ratelimit import enforce_rate_limit
from gateway.tokens import TokenError, verify_assertion
from mianshen_shared import problems
from mianshen_shared import uscc as uscc_rules
from mianshen_shared.problems import ProblemError

log = logging.getLogger(__name__)

ASSERTION_HEADER = "X-Enterprise-Assertion"
ACTOR_PATTERN = r"^[A-Za-z0-9._@-]{1,64}$"


class Audience(StrEnum):
    department = "department"  # a city department's system pushing data
    enterprise = "enterprise"  # 亲清在线/郑好办 acting for one enterprise, or an operator reading
    public = "public"  # anyone may read, e.g. the policy catalogue
    operator = "operator"  # the operations team: policy editors, publishers, auditors
    third_party = "third_party"  # apps an enterprise has consented to


# State-changing operator routes and the scope each needs; reads need operator:read.
ROUTE_SCOPES: dict[tuple[str, str], str] = {
    ("POST", "/v1/operator/policies"): "policies:edit",
    ("POST", "/v1/operator/policies/{policy_id}/versions/{version}/submit"): "policies:edit",
    ("POST", "/v1/operator/policies/{policy_id}/versions/{version}/withdraw"): "policies:edit",
    ("POST", "/v1/operator/policies/{policy_id}/versions/{version}/reject"): "policies:publish",
    ("POST", "/v1/operator/policies/{policy_id}/versions/{version}/publish"): "policies:publish",
    ("POST", "/v1/operator/policies/{policy_id}/versions/{version}/retire"): "policies:publish",
    ("POST", "/v1/operator/reevaluations"): "policies:publish",
    ("POST", "/v1/operator/objections/{objection_id}/decision"): "payments:approve",
    ("PUT", "/v1/operator/budgets/{policy_id}/{year}"): "payments:approve",
    ("POST", "/v1/operator/reconciliations"): "payments:approve",
    ("POST", "/v1/operator/recovery-cases/{case_id}/proposal"): "payments:approve",
    ("POST", "/v1/operator/recovery-cases/{case_id}/approval"): "payments:approve",
    ("POST", "/v1/operator/recovery-cases/{case_id}/rejection"): "payments:approve",
    ("POST", "/v1/operator/recovery-cases/{case_id}/repayments"): "payments:approve",
}
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class Unauthenticated(ProblemError):
    """401 with the RFC 6750 challenge; `error` is left out when no token was sent."""

    def __init__(
        self,
        detail: str,
        *,
        code: str = "invalid_token",
        error: str | None = "invalid_token",
        scheme: str = "Bearer",
        **extra: Any,
    ) -> None:
        super().__init__(401, code, detail, **extra)
        challenge = f'{scheme} realm="mianshen-gateway"'
        self.challenge = challenge + (f', error="{error}"' if error and scheme == "Bearer" else "")


def install(app: FastAPI) -> None:
    """The 401 handler, which adds WWW-Authenticate to the usual problem+json."""

    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(request: Request, exc: Unauthenticated) -> JSONResponse:
        response = problems.problem(exc.status, exc.code, exc.detail, request=request, **exc.extra)
        response.headers["WWW-Authenticate"] = exc.challenge
        return response


def _forbidden(code: str, detail: str) -> ProblemError:
    return ProblemError(403, code, detail)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        # Basic belongs to the token endpoint only; elsewhere it is no credential.
        return None
    token = token.strip()
    if not token:
        raise Unauthenticated("访问令牌为空")
    return token


def authenticate(request: Request, token: str) -> Principal:
    from gateway.bootstrap import get_gateway

    gateway = get_gateway(request)
    assert gateway.keys is not None, "the gateway's lifespan has not started"
    try:
        claims = gateway.keys.verify(token, issuer=gateway.settings.token_issuer)
    except TokenError as exc:
        log.info("refused token: %s", exc)
        raise Unauthenticated("访问令牌无效或已过期") from exc
    kind = claims.get("kind")
    if kind not in ("frontend", "department", "operator", "third_party"):
        raise Unauthenticated("访问令牌无效或已过期")
    client_id = str(claims["sub"])
    department = claims.get("department")
    return Principal(
        client_id=client_id,
        kind=kind,
        scopes=frozenset(str(claims.get("scope", "")).split()),
        department=str(department) if department else None,
        roles=frozenset(claims.get("roles") or ()),
        actor=str(department) if kind == "department" and department else client_id,
    )


async def _with_enterprise(request: Request, principal: Principal) -> Principal:
    """A front end's principal, narrowed to the enterprise its assertion names."""
    from gateway.bootstrap import get_gateway

    assertion = request.headers.get(ASSERTION_HEADER)
    if not assertion:
        raise Unauthenticated("缺少企业身份断言（X-Enterprise-Assertion）", code="enterprise_assertion_required")
    assertion_keys = await get_gateway(request).front_end_keys(principal.client_id)
    if assertion_keys is None:
        raise Unauthenticated("客户端已停用")
    try:
        verified = verify_assertion(assertion, frontend=principal.client_id, keys=assertion_keys)
    except TokenError as exc:
        log.info("refused enterprise assertion from %s: %s", principal.client_id, exc)
        raise Unauthenticated("企业身份断言无效或已过期", code="invalid_enterprise_assertion") from exc
    return Principal(
        client_id=principal.client_id,
        kind=principal.kind,
        scopes=principal.scopes,
        enterprise=verified.uscc,
        actor=f"{principal.client_id}:{verified.user}",
    )


def _route_path(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", request.url.path))


def _need(principal: Principal, scope: str) -> None:
    if scope not in principal.scopes:
        raise _forbidden("insufficient_scope", f"访问令牌缺少权限：{scope}")


async def _authorise(audience: Audience, principal: Principal, request: Request) -> None:
    read = request.method in _READS
    if audience is Audience.public:
        return
    if audience is Audience.enterprise:
        if principal.kind == "operator" and read:
            _need(principal, "operator:read")
            return
        if principal.kind != "frontend":
            raise _forbidden("client_not_permitted", "该客户端无权代企业办理")
        path_uscc = request.path_params.get("uscc")
        # An invalid code is left to the route, which explains the broken rule.
        if isinstance(path_uscc, str) and uscc_rules.is_valid(path_uscc) and path_uscc != principal.enterprise:
            raise ProblemError(404, "enterprise_not_found", "企业不存在或无权访问")
        if "/consents" in _route_path(request):
            _need(principal, "consents:manage")
        else:
            _need(principal, "enterprises:read" if read else "enterprises:act")
        return
    if audience is Audience.department:
        if principal.kind != "department" or principal.department is None:
            raise _forbidden("client_not_permitted", "仅限委办局客户端调用")
        _need(principal, "records:read" if read else "records:write")
        path_department = request.path_params.get("department")
        if path_department is not None and path_department != principal.department:
            raise _forbidden("department_not_permitted", "只能访问本部门的数据")
        if request.url.path == "/v1/data-events":
            await _check_record_ownership(request, principal.department)
        return
    if audience is Audience.operator:
        if principal.kind != "operator":
            raise _forbidden("client_not_permitted", "仅限运营人员调用")
        if read:
            _need(principal, "operator:read")
            return
        scope = ROUTE_SCOPES.get((request.method, _route_path(request)))
        if scope is None:
            raise _forbidden("insufficient_scope", "该操作未登记所需权限，暂不开放")
        _need(principal, scope)
        return
    if audience is Audience.third_party:
        if principal.kind != "third_party":
            raise _forbidden("client_not_permitted", "仅限经企业授权的第三方应用调用")
        _need(principal, "eligibility:summary")
        path_uscc = request.path_params.get("uscc")
        if isinstance(path_uscc, str) and uscc_rules.is_valid(path_uscc):
            from gateway.bootstrap import get_gateway

            sessions = get_gateway(request).sessions
            assert sessions is not None
            async with sessions() as session:
                granted = await consent.active(session, path_uscc, principal.client_id)
            if granted is None:
                raise _forbidden("consent_required", "该企业未授权此应用查询")
        return
    raise _forbidden("client_not_permitted", "无权调用该接口")


async def _check_record_ownership(request: Request, department: str) -> None:
    """Refuse the whole batch if any record claims another department or a record
    type registered to another one; malformed batches are left to the route."""
    from gateway.bootstrap import get_gateway

    city = get_gateway(request).city
    own = city.departments[department].record_types if department in city.departments else frozenset()
    try:
        document = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return
    records = document.get("records") if isinstance(document, dict) else None
    if not isinstance(records, list):
        return
    refused = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            continue
        record_type, claimed = record.get("record_type"), record.get("department")
        if (isinstance(claimed, str) and claimed != department) or (
            isinstance(record_type, str) and record_type in city.record_types and record_type not in own
        ):
            refused.append(index)
    if refused:
        raise ProblemError(
            403,
            "record_type_not_permitted",
            f"本部门（{department}）无权推送这些记录：第{'、'.join(str(i + 1) for i in refused)}条，整批未接收",
            records=refused,
        )


def _admit(audience: Audience) -> Callable[[Request], Coroutine[Any, Any, None]]:
    async def admit(request: Request) -> None:
        from gateway.bootstrap import get_gateway

        request.state.audience = audience
        token = _bearer(request)
        client_ip = request.client.host if request.client else None
        if token is None:
            if audience is Audience.public or not get_gateway(request).settings.auth_required:
                request.state.principal = anonymous(client_ip)
                await enforce_rate_limit(request)
                return
            raise Unauthenticated("缺少访问令牌（Authorization: Bearer）", code="authentication_required", error=None)
        principal = authenticate(request, token)
        if audience is Audience.enterprise and principal.kind == "frontend":
            principal = await _with_enterprise(request, principal)
        request.state.principal = principal
        # Charged before authorisation, so probing for what is refused costs allowance too.
        await enforce_rate_limit(request)
        await _authorise(audience, principal, request)

    admit.__name__ = f"admit_{audience.value}"
    return admit


_GUARDS: dict[Audience, DependsParam] = {audience: Depends(_admit(audience)) for audience in Audience}


def access(audience: Audience) -> DependsParam:
    """The dependency a route lists in `dependencies=[...]` to declare who may call it."""
    return _GUARDS[audience]


def is_guard(dependency: DependsParam) -> bool:
    return dependency in _GUARDS.values()


def _actor_from(request: Request, header: str | None, *, required: bool) -> str | None:
    principal = principal_of(request)
    if principal.kind != "anonymous":
        # Whatever the client wrote in X-Actor, the record names who authenticated.
        return principal.actor
    # Reached only with auth off and no credentials (development stacks): the
    # operator still names themself, as before authentication existed.
    if header is None:
        if not required:
            return None
        raise RequestValidationError(
            [{"type": "missing", "loc": ("header", "X-Actor"), "msg": "Field required", "input": None}]
        )
    if not re.match(ACTOR_PATTERN, header):
        raise RequestValidationError(
            [
                {
                    "type": "string_pattern_mismatch",
                    "loc": ("header", "X-Actor"),
                    "msg": "String should match pattern",
                    "input": header,
                    "ctx": {"pattern": ACTOR_PATTERN},
                }
            ]
        )
    return header


_ACTOR_HEADER_DOC = "操作人员标识：仅在未启用认证的开发环境使用；启用认证时以访问令牌中的身份为准，此头被忽略"


async def operator_actor(
    request: Request,
    x_actor: Annotated[str | None, Header(alias="X-Actor", description=_ACTOR_HEADER_DOC)] = None,
) -> str:
    actor = _actor_from(request, x_actor, required=True)
    assert actor is not None
    return actor


async def optional_operator_actor(
    request: Request,
    x_actor: Annotated[str | None, Header(alias="X-Actor", description=_ACTOR_HEADER_DOC)] = None,
) -> str | None:
    return _actor_from(request, x_actor, required=False)


# What routes take instead of reading X-Actor themselves (separation of duties rests on it).
Actor = Annotated[str, Depends(operator_actor)]
OptionalActor = Annotated[str | None, Depends(optional_operator_actor)]
