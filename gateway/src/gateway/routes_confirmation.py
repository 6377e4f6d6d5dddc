"""Gateway routes of the money path's 意愿确认 side: an enterprise's saved bank
accounts (masked), and the front-end notifications operators follow up on."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from gateway.access import Audience, OptionalActor, access
from gateway.bootstrap import UpstreamsDep
from gateway.router import problem_responses
from mianshen_shared.api import Offset
from mianshen_shared.web import EnterpriseUSCC


class SavedBankAccountRead(BaseModel):
    account_id: uuid.UUID = Field(description="账户编号；确认申领时以 reuse_account_id 选用")
    account_name: str
    account_number: str = Field(description="脱敏后的银行账号")
    bank_name: str
    last_used_at: datetime


class SavedBankAccountList(BaseModel):
    items: list[SavedBankAccountRead]


class NotificationRead(BaseModel):
    notification_id: uuid.UUID
    uscc: str
    kind: str
    title: str
    message: str = Field(description="发给企业的中文消息")
    entitlement_id: uuid.UUID | None
    confirmation_id: uuid.UUID | None
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    delivered_to: list[str] = Field(description="已送达的前端（qinqing 亲清在线、zhenghaoban 郑好办）")
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class NotificationList(BaseModel):
    items: list[NotificationRead]


enterprise_accounts = APIRouter(
    prefix="/v1/enterprises", tags=["enterprises"], dependencies=[access(Audience.enterprise)]
)


@enterprise_accounts.get(
    "/{uscc}/bank-accounts",
    response_model=SavedBankAccountList,
    responses=problem_responses(404, 422, 502, 504),
    summary="企业已保存的收款账户（仅显示脱敏账号）",
)
async def list_bank_accounts(request: Request, upstreams: UpstreamsDep, uscc: EnterpriseUSCC) -> Response:
    return await upstreams.forward("confirmation", "GET", f"/enterprises/{uscc}/bank-accounts", request=request)


operator_notifications = APIRouter(prefix="/v1/operator", tags=["operators"], dependencies=[access(Audience.operator)])


@operator_notifications.get(
    "/notifications",
    response_model=NotificationList,
    responses=problem_responses(422, 502, 504),
    summary="发往亲清在线、郑好办的企业消息（如 status=failed 查看发送失败的）",
)
async def list_notifications(
    request: Request,
    upstreams: UpstreamsDep,
    actor: OptionalActor = None,
    status: Annotated[Literal["pending", "delivered", "failed"] | None, Query(description="发送状态")] = None,
    uscc: Annotated[str | None, Query(pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$", description="统一社会信用代码")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    offset: Offset = 0,
) -> Response:
    params = {"limit": str(limit), "offset": str(offset)}
    if status is not None:
        params["status"] = status
    if uscc is not None:
        params["uscc"] = uscc
    return await upstreams.forward("confirmation", "GET", "/notifications", request=request, params=params, actor=actor)


ROUTERS = [enterprise_accounts, operator_notifications]
