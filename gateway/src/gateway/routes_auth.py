"""Getting in: the OAuth2 token endpoint, an enterprise's consents to third-party
apps (managed through its front end), and the one read those apps may make."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qs, unquote_plus

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway import clients, consent
from gateway.access import Audience, Unauthenticated, access
from gateway.bootstrap import GatewayDep, UpstreamsDep
from gateway.principal import principal_of
from gateway.router import JsonBody, problem_responses
from gateway.schemas import Problem
from mianshen_shared.api import Items
from mianshen_shared.problems import ProblemError
from mianshen_shared.web import EnterpriseUSCC

ClientId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,64}$", description="第三方应用的客户端标识")]


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    scope: str


class ConsentGrant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$", description="被授权的第三方应用")


class ConsentRead(BaseModel):
    client_id: str
    client_name: str
    granted_at: datetime
    granted_by: str


class PolicyAmount(BaseModel):
    policy_id: str
    policy_title: str | None = None
    amount_fen: int


class ThirdPartySummary(BaseModel):
    """Only what a consent covers: how much and from which policies — no accounts,
    no explanations, no records."""

    model_config = ConfigDict(extra="ignore")

    uscc: str
    total_amount_fen: int | None = Field(default=None, description="比对所得总金额（分）")
    policies: list[PolicyAmount] = Field(default_factory=list)


# --- token endpoint ---------------------------------------------------------------------

oauth = APIRouter(prefix="/v1/oauth", tags=["oauth"], dependencies=[access(Audience.public)])
_TOKEN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["grant_type"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["client_credentials"]},
                        "scope": {"type": "string", "description": "空格分隔的权限；缺省为该客户端的全部权限"},
                        "client_id": {"type": "string", "description": "不用HTTP Basic时提供"},
                        "client_secret": {"type": "string", "description": "不用HTTP Basic时提供"},
                    },
                }
            }
        },
    }
}


def _token_error(status: int, error: str, detail: str) -> ProblemError:
    # `error` is RFC 6749's field, so OAuth2 client libraries understand the refusal.
    if status == 401:
        refusal = Unauthenticated(detail, code=error, scheme="Basic", error=None)
        refusal.extra["error"] = error
        return refusal
    return ProblemError(status, error, detail, error=error)


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            client_id, sep, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            sep = ""
        if not sep:
            raise _token_error(401, "invalid_client", "客户端认证信息格式不正确")
        return unquote_plus(client_id), unquote_plus(secret)
    client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    if not client_id or not secret:
        raise _token_error(401, "invalid_client", "缺少客户端认证信息（client_id 与 client_secret）")
    return client_id, secret


@oauth.post(
    "/token",
    response_model=TokenResponse,
    summary="获取访问令牌（OAuth2 client credentials）",
    openapi_extra=_TOKEN_BODY,
    responses={
        400: {
            "model": Problem,
            "description": "请求不合法（invalid_request / unsupported_grant_type / invalid_scope）",
        },
        401: {"model": Problem, "description": "客户端认证失败（invalid_client）"},
        413: {"model": Problem, "description": "请求体过大（payload_too_large）"},
    },
)
async def issue_token(request: Request, gateway: GatewayDep) -> Response:
    mime = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if mime != "application/x-www-form-urlencoded":
        raise _token_error(400, "invalid_request", "请求体应为 application/x-www-form-urlencoded")
    try:
        parsed = parse_qs((await request.body()).decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise _token_error(400, "invalid_request", "请求体不是合法的表单") from exc
    if any(len(values) > 1 for values in parsed.values()):
        raise _token_error(400, "invalid_request", "参数不得重复")
    form = {key: values[0] for key, values in parsed.items()}
    if form.get("grant_type") != "client_credentials":
        raise _token_error(400, "unsupported_grant_type", "仅支持 grant_type=client_credentials")
    client_id, secret = _client_credentials(request, form)
    sessions = gateway.sessions
    assert sessions is not None and gateway.keys is not None
    async with sessions() as session:
        client = await clients.find(session, client_id)
    # Hash even for an unknown client, so timing does not reveal which ids exist.
    if client is None:
        await asyncio.to_thread(clients.new_secret)
    valid = client is not None and await asyncio.to_thread(clients.secret_matches, client, secret)
    if client is None or not valid or client.status != "active":
        raise _token_error(401, "invalid_client", "客户端认证失败")
    allowed = set(client.scopes)
    requested = set(form["scope"].split()) if form.get("scope") else allowed
    if not requested or not requested <= allowed:
        raise _token_error(400, "invalid_scope", "申请的权限超出该客户端的授权范围")
    claims: dict[str, Any] = {"sub": client.client_id, "kind": client.kind, "scope": " ".join(sorted(requested))}
    if client.department:
        claims["department"] = client.department
    if client.roles:
        claims["roles"] = list(client.roles)
    lifetime = gateway.settings.token_lifetime_seconds
    token = gateway.keys.issue(claims, issuer=gateway.settings.token_issuer, lifetime=lifetime)
    body = TokenResponse(access_token=token, expires_in=lifetime, scope=claims["scope"])
    return JSONResponse(body.model_dump(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


# --- consents (an enterprise, through its front end) ----------------------------------

consents = APIRouter(prefix="/v1/enterprises", tags=["enterprises"], dependencies=[access(Audience.enterprise)])


async def _read(gateway: GatewayDep, rows: list[Any]) -> list[ConsentRead]:
    assert gateway.sessions is not None
    async with gateway.sessions() as session:
        names = {}
        for row in rows:
            client = await clients.find(session, row.client_id)
            names[row.client_id] = client.name if client else row.client_id
    return [
        ConsentRead(
            client_id=r.client_id, client_name=names[r.client_id], granted_at=r.granted_at, granted_by=r.granted_by
        )
        for r in rows
    ]


@consents.post(
    "/{uscc}/consents",
    status_code=201,
    response_model=ConsentRead,
    dependencies=[JsonBody],
    responses=problem_responses(400, 404, 413, 415, 422),
    summary="授权第三方应用查询本企业的比对概况",
)
async def grant_consent(request: Request, gateway: GatewayDep, uscc: EnterpriseUSCC, body: ConsentGrant) -> ConsentRead:
    assert gateway.sessions is not None
    async with gateway.sessions() as session, session.begin():
        client = await clients.find(session, body.client_id)
        if client is None or client.kind != "third_party" or client.status != "active":
            raise ProblemError(404, "client_not_found", "没有这个第三方应用")
        row = await consent.grant(session, uscc=uscc, client_id=body.client_id, actor=principal_of(request).actor)
    return (await _read(gateway, [row]))[0]


@consents.get(
    "/{uscc}/consents",
    response_model=Items[ConsentRead],
    responses=problem_responses(404, 422),
    summary="本企业当前有效的第三方授权",
)
async def list_consents(gateway: GatewayDep, uscc: EnterpriseUSCC) -> Items[ConsentRead]:
    assert gateway.sessions is not None
    async with gateway.sessions() as session:
        rows = await consent.list_active(session, uscc)
    return Items[ConsentRead](items=await _read(gateway, rows))


@consents.delete(
    "/{uscc}/consents/{client_id}",
    status_code=204,
    response_class=Response,
    responses=problem_responses(404, 422),
    summary="撤销对第三方应用的授权",
)
async def revoke_consent(request: Request, gateway: GatewayDep, uscc: EnterpriseUSCC, client_id: ClientId) -> Response:
    assert gateway.sessions is not None
    async with gateway.sessions() as session, session.begin():
        revoked = await consent.revoke(session, uscc=uscc, client_id=client_id, actor=principal_of(request).actor)
    if revoked is None:
        raise ProblemError(404, "consent_not_found", "没有对该应用的有效授权")
    return Response(status_code=204)


# --- third-party apps -------------------------------------------------------------------

third_party = APIRouter(prefix="/v1/third-party", tags=["third-party"], dependencies=[access(Audience.third_party)])


@third_party.get(
    "/enterprises/{uscc}/eligibility-summary",
    response_model=ThirdPartySummary,
    responses={
        403: {"model": Problem, "description": "企业未授权（consent_required）或客户端无权调用"},
        **problem_responses(404, 422, 502, 504),
    },
    summary="经企业授权的比对概况（仅金额与政策）",
)
async def third_party_summary(request: Request, upstreams: UpstreamsDep, uscc: EnterpriseUSCC) -> Response:
    upstream = await upstreams.forward(
        "eligibility", "GET", f"/enterprises/{uscc}/eligibility-summary", request=request
    )
    if upstream.status_code != 200:
        return upstream
    # Re-shaped, not relayed: fields the service may add later do not leak to apps.
    summary = ThirdPartySummary.model_validate(json.loads(bytes(upstream.body)))
    return JSONResponse(summary.model_dump(mode="json"))


ROUTERS = [oauth, consents, third_party]
