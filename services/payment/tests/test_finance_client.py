"""The finance adapter sorts every answer by what it proves about the money."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from payment.finance import FinanceClient, PaymentInstruction

pytestmark = pytest.mark.unit

INSTRUCTION = PaymentInstruction(
    idempotency_key="mjx-1",
    payer_budget_code="410100-HQZC-001",
    payee_name="郑州示例科技有限公司",
    payee_account_number="6222020200001234567",
    payee_bank_name="中国工商银行郑州分行",
    amount_fen=200_000_000,
    purpose="惠企政策兑现",
    reference="p-1",
)
SETTLED = {
    "instruction_id": "CZ1",
    "idempotency_key": "mjx-1",
    "status": "settled",
    "amount_fen": 200_000_000,
    "settled_at": "2026-11-25T01:00:00Z",
}


def client(answer: Callable[[httpx.Request], httpx.Response]) -> FinanceClient:
    return FinanceClient("http://finance", timeout_seconds=1, transport=httpx.MockTransport(answer))


def raising(exc: type[Exception]) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        raise exc("boom", request=request)  # type: ignore[call-arg]

    return answer


async def test_the_instruction_is_posted_with_its_idempotency_key_and_exact_amount() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=SETTLED)

    result = await client(answer).submit(INSTRUCTION)
    assert (result.outcome, result.instruction_id, result.amount_fen) == ("settled", "CZ1", 200_000_000)
    assert result.settled_at is not None and result.settled_at.tzinfo is not None
    assert seen[0].url.path == "/api/v1/payment-instructions"
    assert b'"idempotency_key":"mjx-1"' in seen[0].content
    assert b'"amount_fen":200000000' in seen[0].content


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "settled"),
        (503, "not_applied"),
        (429, "not_applied"),
        (500, "ambiguous"),
        (502, "ambiguous"),
        (504, "ambiguous"),
    ],
)
async def test_each_status_of_a_submission_means_what_it_proves(status: int, outcome: str) -> None:
    result = await client(lambda _r: httpx.Response(status, json=SETTLED if status == 200 else {})).submit(INSTRUCTION)
    assert result.outcome == outcome


@pytest.mark.parametrize("status", [409, 422, 400])
async def test_a_refusal_is_a_rejection_carrying_the_finance_code(status: int) -> None:
    body = {"code": "account_invalid", "message": "收款账户无效"}
    result = await client(lambda _r: httpx.Response(status, json=body)).submit(INSTRUCTION)
    assert (result.outcome, result.code, result.message) == ("rejected", "account_invalid", "收款账户无效")


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (httpx.ConnectError, "not_applied"),
        (httpx.ConnectTimeout, "not_applied"),
        (httpx.ReadTimeout, "ambiguous"),
        (httpx.RemoteProtocolError, "ambiguous"),
        (httpx.ReadError, "ambiguous"),
    ],
)
async def test_a_transport_failure_is_ambiguous_unless_the_request_never_left(
    exc: type[Exception], outcome: str
) -> None:
    assert (await client(raising(exc)).submit(INSTRUCTION)).outcome == outcome


async def test_a_settled_answer_that_cannot_be_read_is_ambiguous() -> None:
    result = await client(lambda _r: httpx.Response(201, text="<html>ok</html>")).submit(INSTRUCTION)
    assert result.outcome == "ambiguous"


async def test_a_query_finds_settled_not_found_or_cannot_tell() -> None:
    found = await client(lambda _r: httpx.Response(200, json=SETTLED)).query("mjx-1")
    missing = await client(lambda _r: httpx.Response(404, json={"code": "instruction_not_found"})).query("mjx-1")
    broken = await client(lambda _r: httpx.Response(503)).query("mjx-1")
    timed_out = await client(raising(httpx.ReadTimeout)).query("mjx-1")
    assert [r.outcome for r in (found, missing, broken, timed_out)] == [
        "settled",
        "not_found",
        "ambiguous",
        "ambiguous",
    ]
