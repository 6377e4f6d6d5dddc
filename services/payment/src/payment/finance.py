"""Adapter to the city's 财政预算管理一体化系统 (finance budget system).

Every answer is sorted into what it proves about the money:
`settled` (paid, here is the instruction), `rejected` (refused for good, nothing
paid), `not_applied` (certainly not paid: the request never arrived or the system
said it was unavailable), `ambiguous` (it may or may not have been paid) and, for
queries, `not_found` (no instruction under this key, as of now).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

Outcome = Literal["settled", "rejected", "not_applied", "ambiguous", "not_found"]
INSTRUCTIONS = "/api/v1/payment-instructions"


@dataclass(frozen=True)
class PaymentInstruction:
    """支付指令 — the body sent under one idempotency key; the same on every retry."""

    idempotency_key: str
    payer_budget_code: str
    payee_name: str
    payee_account_number: str
    payee_bank_name: str
    amount_fen: int
    purpose: str
    reference: str

    def to_json(self) -> dict[str, Any]:
        return {
            "idempotency_key": self.idempotency_key,
            "payer_budget_code": self.payer_budget_code,
            "payee": {
                "name": self.payee_name,
                "account_number": self.payee_account_number,
                "bank_name": self.payee_bank_name,
            },
            "amount_fen": self.amount_fen,
            "purpose": self.purpose,
            "reference": self.reference,
        }


@dataclass(frozen=True)
class FinanceResult:
    outcome: Outcome
    http_status: int | None = None
    instruction_id: str | None = None
    amount_fen: int | None = None
    settled_at: datetime | None = None
    code: str | None = None
    message: str = ""


class FinanceClient:
    def __init__(
        self, base_url: str, *, timeout_seconds: float, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(timeout_seconds), transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def submit(self, instruction: PaymentInstruction) -> FinanceResult:
        try:
            response = await self._http.post(INSTRUCTIONS, json=instruction.to_json())
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return FinanceResult("not_applied", message=f"未能连接财政系统：{type(exc).__name__}")
        except httpx.TransportError as exc:
            # The request may have reached the finance system before the
            # connection broke or the answer failed to arrive in time.
            return FinanceResult("ambiguous", message=f"财政系统未返回结果：{type(exc).__name__}")
        status = response.status_code
        if status in (200, 201):
            return _settled(response)
        if status in (408, 429, 503):
            return FinanceResult("not_applied", http_status=status, message=_message(response))
        if 400 <= status < 500 and status != 404:
            code, message = _problem(response)
            return FinanceResult("rejected", http_status=status, code=code, message=message)
        # A 500/502/504 may come from a proxy after the system already acted.
        return FinanceResult("ambiguous", http_status=status, message=_message(response))

    async def query(self, idempotency_key: str) -> FinanceResult:
        try:
            response = await self._http.get(f"{INSTRUCTIONS}/{idempotency_key}")
        except httpx.TransportError as exc:
            return FinanceResult("ambiguous", message=f"查询财政系统失败：{type(exc).__name__}")
        if response.status_code == 200:
            return _settled(response)
        if response.status_code == 404:
            return FinanceResult("not_found", http_status=404, message="财政系统无此支付指令")
        return FinanceResult("ambiguous", http_status=response.status_code, message=_message(response))


def _settled(response: httpx.Response) -> FinanceResult:
    try:
        body = response.json()
        if body["status"] != "settled":
            return FinanceResult(
                "ambiguous", http_status=response.status_code, message=f"支付指令状态：{body['status']}"
            )
        return FinanceResult(
            "settled",
            http_status=response.status_code,
            instruction_id=str(body["instruction_id"]),
            amount_fen=int(body["amount_fen"]),
            settled_at=_aware(datetime.fromisoformat(body["settled_at"])),
        )
    except (ValueError, KeyError, TypeError):
        return FinanceResult("ambiguous", http_status=response.status_code, message="财政系统返回内容无法解析")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _problem(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
        return str(body.get("code") or "finance_rejected"), str(body.get("message") or "财政系统拒绝支付指令")
    except ValueError:
        return "finance_rejected", f"财政系统拒绝支付指令（HTTP {response.status_code}）"


def _message(response: httpx.Response) -> str:
    return f"财政系统返回 HTTP {response.status_code}"
