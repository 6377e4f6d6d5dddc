"""Operator routes: the policy lifecycle and re-evaluation progress, passed to the
services with the operator's identity; bodies checked at the door."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from mianshen_shared import testing

from .fakes import ok, problem
from .harness import Harness, assert_problem

pytestmark = pytest.mark.unit


CATALOG = "http://127.0.0.1:8001"
ELIGIBILITY = "http://127.0.0.1:8002"
POLICY = "zz-2022-02-specialized-sme-award"
PUBLISH = f"/v1/operator/policies/{POLICY}/versions/2/publish"
UPSTREAM_PUBLISH = f"/policies/{POLICY}/versions/2/publish"
VERSION = {"policy_id": POLICY, "version": 2, "status": "published", "title": "专精特新"}


async def test_publishing_passes_the_operator_and_the_date_to_the_catalog(gw: Harness) -> None:
    gw.services.reply(CATALOG, UPSTREAM_PUBLISH, ok(VERSION))
    r = await gw.client.post(PUBLISH, json={"effective_from": "2027-01-01"}, headers={"X-Actor": "publisher.li"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "published"
    (sent,) = gw.services.requests_to(UPSTREAM_PUBLISH)
    assert sent.headers["x-actor"] == "publisher.li"
    assert json.loads(sent.content) == {"effective_from": "2027-01-01"}


async def test_the_catalogs_separation_of_duties_refusal_reaches_the_operator_unchanged(gw: Harness) -> None:
    refusal = problem(403, "separation_of_duties", "编辑或提交该政策的人员不能发布该政策")
    gw.services.reply(CATALOG, UPSTREAM_PUBLISH, refusal)
    r = await gw.client.post(PUBLISH, json={}, headers={"X-Actor": "publisher.li"})
    assert r.status_code == 403
    assert r.headers["content-type"] == "application/problem+json"
    assert r.content == refusal.content


@pytest.mark.parametrize(
    ("headers", "body", "field"),
    [
        ({"X-Actor": "publisher.li"}, {"effective_from": "2027-01-01", "status": "published"}, "status"),
        ({"X-Actor": "publisher.li"}, {"effective_from": "明年"}, "effective_from"),
    ],
    ids=["unknown-field", "not-a-date"],
)
async def test_bad_lifecycle_requests_are_refused_at_the_door(
    gw: Harness, headers: dict[str, str], body: dict[str, str], field: str
) -> None:
    problem_body = assert_problem(await gw.client.post(PUBLISH, json=body, headers=headers), 422, "validation_failed")
    assert any(e["field"] == field for e in problem_body["errors"]), problem_body["errors"]
    assert gw.services.requests == []


@pytest.mark.parametrize("headers", [{}, {"X-Actor": "editor wang;drop"}], ids=["no-actor", "malformed-actor"])
async def test_without_credentials_the_operator_must_name_themself_properly(
    gw_open: Harness, headers: dict[str, str]
) -> None:
    # Development gateways without authentication take the operator from X-Actor.
    problem_body = assert_problem(
        await gw_open.client.post(PUBLISH, json={}, headers=headers), 422, "validation_failed"
    )
    assert any(e["field"] == "header.X-Actor" for e in problem_body["errors"]), problem_body["errors"]
    assert gw_open.services.requests == []


async def test_a_draft_document_goes_to_the_catalog_as_written(gw: Harness) -> None:
    document = {"id": POLICY, "version": 2, "title": "专精特新"}
    gw.services.reply(CATALOG, "/policies", ok({**VERSION, "status": "draft"}, status=201))
    r = await gw.client.post("/v1/operator/policies", json=document, headers={"X-Actor": "editor.wang"})
    assert r.status_code == 201, r.text
    (sent,) = gw.services.requests_to("/policies")
    assert json.loads(sent.content) == document
    assert sent.headers["x-actor"] == "editor.wang"


async def test_re_evaluation_progress_is_paged_and_a_new_run_is_started_by_name(gw: Harness) -> None:
    job = {"job_id": str(uuid.uuid4()), "policy_id": POLICY, "status": "running", "total": 10, "done": 4}
    gw.services.reply(ELIGIBILITY, "/reevaluations", ok({"items": [job], "total": 1, "limit": 5, "offset": 0}))
    r = await gw.client.get("/v1/operator/reevaluations", params={"limit": 5})
    assert r.status_code == 200, r.text
    assert r.json()["items"][0]["done"] == 4
    assert gw.services.requests_to("/reevaluations")[0].url.params["limit"] == "5"

    refused = await gw.client.get("/v1/operator/reevaluations", params={"limit": 5000})
    assert_problem(refused, 422, "validation_failed")
    unknown = await gw.client.post(
        "/v1/operator/reevaluations", json={"policy_id": POLICY, "force": True}, headers={"X-Actor": "publisher.li"}
    )
    assert_problem(unknown, 422, "validation_failed")


async def test_an_operator_may_read_any_enterprises_assessment(gw: Harness) -> None:
    code = testing.make_uscc()
    path = f"/enterprises/{code}/policies/{POLICY}/assessment"
    gw.services.reply(ELIGIBILITY, path, ok({"uscc": code, "policy_id": POLICY, "eligible": False, "checks": []}))
    r = await gw.client.get(f"/v1/operator{path}")
    assert r.status_code == 200, r.text
    assert r.json()["eligible"] is False


CONFIRMATION = "http://127.0.0.1:8003"


async def test_the_performance_report_passes_the_period_and_comes_back_as_csv(gw: Harness) -> None:
    csv = "\ufeff政策编号,兑现金额（元）\nzz-2022-02,2000000.00\n"
    answer = httpx.Response(200, content=csv.encode(), headers={"content-type": "text/csv; charset=utf-8"})
    gw.services.reply(CONFIRMATION, "/performance.csv", answer)
    r = await gw.client.get(
        "/v1/operator/performance/report", params={"format": "csv", "from": "2026-01-01", "to": "2026-06-30"}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    sent = gw.services.requests_to("/performance.csv")[0].url.params
    assert (sent["from"], sent["to"], sent["stuck_days"]) == ("2026-01-01", "2026-06-30", "7")


@pytest.mark.parametrize(
    "params",
    [{"format": "pdf"}, {"from": "去年"}, {"stuck_days": "0"}],
    ids=["unknown-format", "not-a-date", "stuck-days-out-of-range"],
)
async def test_bad_report_parameters_are_refused_at_the_door(gw: Harness, params: dict[str, str]) -> None:
    assert_problem(await gw.client.get("/v1/operator/performance/report", params=params), 422, "validation_failed")
    assert gw.services.requests == []


async def test_the_overdue_feeds_list_is_read_from_eligibility(gw: Harness) -> None:
    body = {"as_of": "2026-11-25T08:00:00+00:00", "summary": "1个部门逾期", "items": [{"department": "rsj"}]}
    gw.services.reply(ELIGIBILITY, "/feeds/overdue", ok(body))
    r = await gw.client.get("/v1/operator/feeds/overdue")
    assert r.status_code == 200, r.text
    assert r.json()["items"][0]["department"] == "rsj"
    assert_problem(await gw.client.get("/v1/operator/feeds/RSJ;drop"), 422, "validation_failed")
