"""免申即享 end to end: a department pushes data and, without anyone applying, the
enterprise is matched, asked to confirm, checked for credit and paid — exactly once."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from typing import Any

import httpx
import pytest

from gateway.testing import AutoAuth, load_registry
from mianshen_shared import testing
from mianshen_shared.stack import LocalStack
from mianshen_shared.topics import physical

pytestmark = pytest.mark.e2e

ACCOUNT = {"account_number": "6222020200001234567", "bank_name": "中国工商银行郑州分行"}
TERMINAL = {"paid", "credit_held", "payment_failed", "declined", "withdrawn"}


def record(code: str, department: str, record_type: str, attributes: dict[str, Any], day: date) -> dict[str, Any]:
    return testing.make_record(
        record_type=record_type, department=department, uscc_code=code, attributes=attributes, effective_date=day
    )


def title(code: str, which: str, day: date = date(2022, 8, 20)) -> dict[str, Any]:
    return record(
        code, "gxj", "miit.sme_title_recognized", {"title": which, "document_no": "工信厅企业函〔2022〕191号"}, day
    )


def by_department(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """A batch holds one department's records: that department is who pushes it."""
    batches: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        batches.setdefault(r["department"], []).append(r)
    return batches


async def poll(what: str, fetch: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := await fetch():
            return result
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def accept_all(gw: httpx.AsyncClient, code: str, expected: int) -> list[dict[str, Any]]:
    async def pending() -> Any:
        items = (await gw.get(f"/v1/enterprises/{code}/confirmations", params={"status": "pending"})).json()["items"]
        return items if len(items) >= expected else None

    items = await poll(f"{expected} confirmation request(s) for {code}", pending)
    for item in items:
        r = await gw.post(
            f"/v1/enterprises/{code}/confirmations/{item['confirmation_id']}/accept",
            json={"bank_account": {**ACCOUNT, "account_name": f"企业{code[-4:]}"}},
        )
        assert r.status_code == 200, r.text
    return items  # type: ignore[no-any-return]


async def settled(gw: httpx.AsyncClient, code: str) -> list[dict[str, Any]]:
    async def done() -> Any:
        items = (await gw.get(f"/v1/enterprises/{code}/entitlements")).json()["items"]
        return items if items and all(i["status"] in TERMINAL for i in items) else None

    return await poll(f"entitlements of {code} to settle", done)  # type: ignore[no-any-return]


async def test_department_push_is_matched_confirmed_checked_and_paid_exactly_once(stack: LocalStack) -> None:
    giant, apps, insured, dishonest = (testing.make_uscc() for _ in range(4))
    batch = [
        record(
            dishonest,
            "credit",
            "credit.dishonest_judgment_debtor",
            {"authority": "郑州市中级人民法院", "document_no": "（2022）豫01执456号"},
            date(2022, 1, 10),
        ),
        title(giant, "provincial_specialized", date(2022, 7, 15)),
        title(giant, "national_little_giant"),
        *[
            record(
                apps,
                "gxj",
                "miit.industrial_app_solution_awarded",
                {"solution_name": f"解决方案{i}", "product_series": f"系列{i}", "award_year": 2022},
                date(2022, 9, 1),
            )
            for i in range(4)
        ],
        record(
            insured,
            "rsj",
            "hrss.unemployment_insurance_annual",
            {
                "contribution_year": 2021,
                "paid_fen": 12_345_678,
                "enterprise_size": "small",
                "insured_at_year_start": 40,
                "insured_at_year_end": 39,
            },
            date(2022, 3, 31),
        ),
        title(dishonest, "national_little_giant"),
    ]
    async with (
        httpx.AsyncClient(base_url=stack.url("gateway"), timeout=30, auth=AutoAuth(load_registry())) as gw,
        httpx.AsyncClient(base_url=stack.url("finance-sim"), timeout=30) as finance,
    ):
        pushed_at = time.monotonic()
        # Each department pushes only its own records: one batch per department.
        pushes = {}
        for department, records in by_department(batch).items():
            pushes[department] = await gw.post("/v1/data-events", json={"records": records})
            assert pushes[department].status_code == 202, pushes[department].text
            assert pushes[department].json()["accepted"] == len(records)
        assert sum(p.json()["accepted"] for p in pushes.values()) == len(batch)
        r = pushes["gxj"]  # 工信局's push reaches every service: it is the one followed through the logs

        await poll("credit-check to list the dishonest enterprise", lambda: _listed(gw, dishonest))
        for code in (giant, apps, insured, dishonest):
            await accept_all(gw, code, expected=1)

        views = {code: await settled(gw, code) for code in (giant, apps, insured, dishonest)}
        first_paid_after = time.monotonic() - pushed_at
        assert [(v["amount_fen"], v["status"]) for v in views[giant]] == [(200_000_000, "paid")]
        assert [(v["amount_fen"], v["status"]) for v in views[apps]] == [(300_000_000, "paid")]
        assert [(v["amount_fen"], v["status"]) for v in views[insured]] == [(11_111_110, "paid")]
        assert [(v["amount_fen"], v["status"]) for v in views[dishonest]] == [(200_000_000, "credit_held")]

        correlation_id = r.json()["correlation_id"]
        for service in ("gateway", "eligibility", "confirmation", "credit-check", "payment"):
            assert correlation_id in stack.procs[service].log_path.read_text(errors="replace"), (
                f"the push's correlation id does not reach {service}'s logs"
            )
        # Other tests share the stack: only this test's payees are compared.
        mine = {f"企业{code[-4:]}" for code in (giant, apps, insured, dishonest)}
        paid = _settled_by_payee(await _instructions(finance), only=mine)
        assert paid == {
            f"企业{giant[-4:]}": [200_000_000],
            f"企业{apps[-4:]}": [300_000_000],
            f"企业{insured[-4:]}": [11_111_110],
        }

        # The same department push again (a retry by the department's system): nothing new is paid.
        for records in by_department(batch).values():
            again = await gw.post("/v1/data-events", json={"records": records})
            assert again.status_code == 202, again.text
        marker = testing.make_uscc()
        await gw.post("/v1/data-events", json={"records": [title(marker, "provincial_specialized")]})
        await accept_all(gw, marker, expected=1)
        await settled(gw, marker)  # everything pushed before the marker has been processed too
        mine.add(f"企业{marker[-4:]}")
        assert _settled_by_payee(await _instructions(finance), only=mine) == {
            **paid,
            f"企业{marker[-4:]}": [50_000_000],
        }
        for code in (giant, apps, insured):
            assert len((await gw.get(f"/v1/enterprises/{code}/entitlements")).json()["items"]) == 1
        print(f"\n[e2e] department push → all payments settled in {first_paid_after:.2f}s (HTTP view)")
        await _report_push_to_payment(stack, [giant, apps, insured])


async def test_malformed_kafka_message_is_dead_lettered_and_the_pipeline_keeps_going(stack: LocalStack) -> None:
    topic = physical("department-records", stack.topic_prefix)
    code = testing.make_uscc()
    await testing.produce(topic, b'{"type": "department.record.submitted", "oops"', key=code)
    async with httpx.AsyncClient(base_url=stack.url("gateway"), timeout=30, auth=AutoAuth(load_registry())) as gw:
        r = await gw.post("/v1/data-events", json={"records": [title(code, "national_little_giant")]})
        assert r.status_code == 202
        items = await accept_all(gw, code, expected=1)
        assert items[0]["amount_fen"] == 200_000_000
    async with testing.TopicReader(physical("dead-letter", stack.topic_prefix)) as dlq:
        dead = await dlq.wait_for(lambda m: m.key == code.encode())
    headers = dict(dead.headers)
    assert headers["dlq.reason"] == b"malformed_json"
    assert headers["dlq.source.topic"] == topic.encode()


async def _report_push_to_payment(stack: LocalStack, codes: list[str]) -> None:
    """Broker timestamps: the department record's arrival to that enterprise's payment.issued."""
    first_push: dict[str, int] = {}
    issued: dict[str, int] = {}
    async with testing.TopicReader(physical("department-records", stack.topic_prefix)) as records:
        for _ in range(5):
            await records.poll()
    async with testing.TopicReader(physical("payments", stack.topic_prefix)) as payments:
        for _ in range(5):
            await payments.poll()
    for m in records.messages:
        first_push.setdefault(m.key.decode(), m.timestamp)
    for m in payments.messages:
        issued.setdefault(m.key.decode(), m.timestamp)
    spans = [issued[c] - first_push[c] for c in codes if c in issued and c in first_push]
    assert len(spans) == len(codes)
    print(f"[e2e] push → payment.issued (broker timestamps): max {max(spans)} ms, min {min(spans)} ms")


async def _listed(gw: httpx.AsyncClient, code: str) -> bool:
    r = await gw.get(f"/v1/enterprises/{code}/credit")
    return r.status_code == 200 and r.json()["listed"]


async def _instructions(finance: httpx.AsyncClient) -> list[dict[str, Any]]:
    r = await finance.get("/_sim/instructions")
    r.raise_for_status()
    body = r.json()
    return body["items"] if isinstance(body, dict) else body  # type: ignore[no-any-return]


def _settled_by_payee(instructions: list[dict[str, Any]], only: set[str] | None = None) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for i in instructions:
        if i.get("status") == "settled" and (only is None or i["payee"]["name"] in only):
            out.setdefault(i["payee"]["name"], []).append(i["amount_fen"])
    return out


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b'{"records": [', {"content-type": "application/json"}, 400, "malformed_json"),
        (b"x" * (10 * 1024 * 1024), {"content-type": "application/json"}, 413, "payload_too_large"),
        (b'{"records": []}', {"content-type": "application/json"}, 422, "validation_failed"),
    ],
    ids=["malformed-json", "ten-megabytes", "empty-batch"],
)
async def test_gateway_refuses_bad_bodies_with_problem_details(
    stack: LocalStack, body: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    async with httpx.AsyncClient(base_url=stack.url("gateway"), timeout=30, auth=AutoAuth(load_registry())) as gw:
        r = await gw.post("/v1/data-events", content=body, headers=headers)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in problem["detail"]), "the message for people is in Chinese"
    assert r.headers.get("x-request-id")


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: r.update(record_type="miit.no_such_type"), "record_type"),
        (lambda r: r.update(uscc=r["uscc"][:-1] + ("0" if r["uscc"][-1] != "0" else "1")), "uscc"),
        (lambda r: r.pop("effective_date"), "effective_date"),
    ],
    ids=["unknown-record-type", "bad-check-digit", "missing-field"],
)
async def test_gateway_refuses_invalid_records_and_publishes_nothing(
    stack: LocalStack, mutate: Any, field: str
) -> None:
    good = title(testing.make_uscc(), "national_little_giant")
    bad = title(testing.make_uscc(), "national_little_giant")
    mutate(bad)
    async with httpx.AsyncClient(base_url=stack.url("gateway"), timeout=30, auth=AutoAuth(load_registry())) as gw:
        r = await gw.post("/v1/data-events", json={"records": [good, bad]})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        errors = r.json()["errors"]
        assert errors and all(e["index"] == 1 for e in errors)
        assert any(field in (e.get("field") or "") for e in errors), errors
        await asyncio.sleep(2)
        # Nothing of the batch was accepted: the valid record was not published either.
        assert (await gw.get(f"/v1/enterprises/{good['uscc']}/determinations")).json()["items"] == []


async def test_gateway_refuses_a_batch_with_another_departments_record_and_publishes_nothing(
    stack: LocalStack,
) -> None:
    good = title(testing.make_uscc(), "national_little_giant")
    foreign = title(testing.make_uscc(), "national_little_giant")
    foreign["department"] = "credit"
    async with httpx.AsyncClient(base_url=stack.url("gateway"), timeout=30, auth=AutoAuth(load_registry())) as gw:
        r = await gw.post("/v1/data-events", json={"records": [good, foreign]})
        assert r.status_code == 403, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert (r.json()["code"], r.json()["records"]) == ("record_type_not_permitted", [1])
        await asyncio.sleep(2)
        assert (await gw.get(f"/v1/enterprises/{good['uscc']}/determinations")).json()["items"] == []
