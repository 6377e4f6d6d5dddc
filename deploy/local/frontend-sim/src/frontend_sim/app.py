"""The simulator's HTTP API: the notification endpoint of each front end plus `/_sim` controls."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from frontend_sim.store import Store

log = logging.getLogger("frontend_sim")

# The platform's development default (confirmation's Settings.notify_secret).
DEVELOPMENT_SECRET = "mianshen-development-notify-secret"
FrontEnd = Literal["qinqing", "zhenghaoban"]


class NotificationIn(BaseModel):
    """What the platform sends; only the fields the front end needs are checked."""

    model_config = ConfigDict(extra="allow")

    notification_id: str = Field(min_length=1, max_length=64)
    uscc: str = Field(pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$")
    title: str = Field(min_length=1)
    message: str = Field(min_length=1)


class FaultCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(default=1, ge=1, le=1000)
    status: int = Field(default=503, ge=400, le=599, description="the answer each failed delivery gets")


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


def create_app(db_path: Path | str, *, secret: str = DEVELOPMENT_SECRET) -> FastAPI:
    store = Store(db_path)
    faults: list[int] = []  # the answer of each of the next failed deliveries

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            store.close()

    app = FastAPI(title="亲清在线、郑好办消息接收（模拟）", lifespan=lifespan)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/{front_end}/api/v1/notifications")
    async def receive(
        request: Request,
        front_end: Annotated[FrontEnd, PathParam()],
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
        signature: Annotated[str | None, Header(alias="X-Signature")] = None,
    ) -> Response:
        body = await request.body()
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if signature is None or not hmac.compare_digest(signature, expected):
            return _error(401, "bad_signature", "签名校验失败")
        if faults:
            return _error(faults.pop(0), "unavailable", "系统繁忙，请稍后重试")
        if not idempotency_key:
            return _error(400, "idempotency_key_missing", "缺少 Idempotency-Key")
        try:
            notification = NotificationIn.model_validate(json.loads(body))
        except (ValueError, ValidationError):
            return _error(422, "invalid_notification", "消息格式不正确")
        created = store.receive(front_end, idempotency_key, notification.uscc, body.decode())
        log.info("%s notification %s (new=%s)", front_end, idempotency_key, created)
        return JSONResponse({"received": True, "duplicate": not created}, status_code=201 if created else 200)

    @app.get("/_sim/notifications", include_in_schema=False)
    async def notifications(uscc: Annotated[str | None, Query()] = None) -> list[dict[str, Any]]:
        return [{**row, "body": json.loads(row["body"])} for row in store.list(uscc=uscc)]

    @app.post("/_sim/faults", status_code=201, include_in_schema=False)
    async def arm(spec: FaultCreate) -> dict[str, int]:
        faults.extend([spec.status] * spec.count)
        return {"pending": len(faults)}

    @app.delete("/_sim/faults", status_code=204, include_in_schema=False)
    async def clear() -> Response:
        faults.clear()
        return Response(status_code=204)

    return app
