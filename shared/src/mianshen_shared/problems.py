"""RFC 9457 problem details: a Chinese message for people, a stable English code for machines."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"

_STATUS_TEXT = {
    400: ("bad_request", "请求有误"),
    401: ("unauthorized", "未认证或凭证无效"),
    403: ("forbidden", "无权执行此操作"),
    404: ("not_found", "资源不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    409: ("conflict", "与当前状态冲突"),
    413: ("payload_too_large", "请求体过大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
    422: ("validation_failed", "请求数据校验未通过"),
    429: ("rate_limited", "请求过于频繁，请稍后再试"),
    500: ("internal_error", "服务内部错误，请稍后重试"),
    502: ("upstream_error", "上游服务错误"),
    503: ("service_unavailable", "服务暂不可用，请稍后重试"),
    504: ("upstream_timeout", "上游服务超时"),
}


class ProblemError(Exception):
    """A domain error that carries its HTTP status, stable code and Chinese message."""

    def __init__(self, status: int, code: str, detail: str, *, title: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or _STATUS_TEXT.get(status, ("error", "错误"))[1]
        self.extra = extra


def problem(
    status: int, code: str, detail: str, *, title: str | None = None, request: Request | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://mianshen.zhengzhou.gov.cn/problems/{code}",
        "title": title or _STATUS_TEXT.get(status, ("error", "错误"))[1],
        "status": status,
        "code": code,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
        if rid := getattr(request.state, "request_id", None):
            body["request_id"] = rid
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        out.append({"field": ".".join(loc) or "<body>", "code": err.get("type", "invalid"), "message": _zh(err)})
    return out


def _zh(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    fallback = str(err.get("msg", "数据不合法"))
    messages: dict[str, str] = {
        "missing": "缺少必填字段",
        "extra_forbidden": "不允许的字段",
        "json_invalid": "JSON格式错误",
        "string_too_short": "内容过短",
        "string_too_long": "内容过长",
        "string_pattern_mismatch": "格式不正确",
        "date_from_datetime_parsing": "日期格式应为YYYY-MM-DD",
        "date_parsing": "日期格式应为YYYY-MM-DD",
        "too_long": f"条目过多（最多{ctx.get('max_length', '')}条）",
        "too_short": f"条目过少（至少{ctx.get('min_length', '')}条）",
        "int_parsing": "应为整数",
        "greater_than_equal": f"应不小于{ctx.get('ge', '')}",
        "literal_error": f"取值不在允许范围内：{ctx.get('expected', '')}",
        "value_error": str(ctx.get("error", err.get("msg", ""))),
    }
    return messages.get(kind, fallback)


def install(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem(exc.status, exc.code, exc.detail, title=exc.title, request=request, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        if any(e["code"] == "json_invalid" for e in errors):
            return problem(400, "malformed_json", "请求体不是合法的JSON", request=request, errors=errors)
        return problem(422, "validation_failed", "请求数据校验未通过", request=request, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, title = _STATUS_TEXT.get(exc.status_code, ("error", "错误"))
        detail = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 else title
        return problem(exc.status_code, code, detail, title=title, request=request)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        # Imported here: the messaging package imports this module.
        from mianshen_shared.messaging.consumer import is_transient

        if is_transient(exc):
            # The database is restarting or unreachable: the caller should simply retry.
            log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
            response = problem(503, "database_unavailable", "数据库暂时不可用，请稍后重试", request=request)
            response.headers["Retry-After"] = "2"
            return response
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal_error", "服务内部错误，请稍后重试", request=request)
