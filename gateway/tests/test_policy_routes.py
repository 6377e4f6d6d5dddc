"""Public policy routes: the 办事指南 is fetched from policy-catalog in the format
asked for and passed on unchanged, HTML or Markdown, problems included."""

from __future__ import annotations

import httpx
import pytest

from .fakes import problem
from .harness import Harness, assert_problem

pytestmark = pytest.mark.unit
CATALOG = "http://127.0.0.1:8001"
POLICY = "zz-2022-02-specialized-sme-award"
GUIDE = f"/v1/policies/{POLICY}/guide"
UPSTREAM_GUIDE = f"/policies/{POLICY}/guide"
PAGE = '<!DOCTYPE html>\n<html lang="zh-CN"><body><h1>专精特新办事指南</h1><p>200万元</p></body></html>\n'


def guide_answer(text: str, media_type: str) -> httpx.Response:
    return httpx.Response(200, content=text.encode(), headers={"content-type": f"{media_type}; charset=utf-8"})


async def test_the_guide_is_an_html_page_by_default(gw: Harness) -> None:
    gw.services.reply(CATALOG, UPSTREAM_GUIDE, guide_answer(PAGE, "text/html"))
    r = await gw.client.get(GUIDE, headers={"X-Request-ID": "req-9", "X-Correlation-ID": "corr-9"})

    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.text == PAGE
    (sent,) = gw.services.requests_to(UPSTREAM_GUIDE)
    assert sent.url.params["format"] == "html"
    assert (sent.headers["x-request-id"], sent.headers["x-correlation-id"]) == ("req-9", "corr-9")


async def test_the_guide_can_be_asked_for_as_markdown(gw: Harness) -> None:
    markdown = "# 专精特新办事指南\n\n- 国家级专精特新‘小巨人’企业：200万元\n"
    gw.services.reply(CATALOG, UPSTREAM_GUIDE, guide_answer(markdown, "text/markdown"))
    r = await gw.client.get(GUIDE, params={"format": "markdown"})

    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/markdown; charset=utf-8"
    assert r.text == markdown
    assert gw.services.requests_to(UPSTREAM_GUIDE)[0].url.params["format"] == "markdown"


@pytest.mark.parametrize("fmt", ["pdf", "HTML", "markdown;drop", ""])
async def test_an_unknown_guide_format_is_refused_at_the_door(gw: Harness, fmt: str) -> None:
    body = assert_problem(await gw.client.get(GUIDE, params={"format": fmt}), 422, "validation_failed")
    assert body["errors"][0]["field"] == "query.format"
    assert gw.services.requests == []


async def test_an_unpublished_policy_has_no_guide(gw: Harness) -> None:
    upstream = problem(404, "policy_not_found", "政策 zz-draft 不存在，或在 2026-11-25 未施行")
    gw.services.reply(CATALOG, "/policies/zz-draft/guide", upstream)
    r = await gw.client.get("/v1/policies/zz-draft/guide")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.content == upstream.content


@pytest.mark.parametrize("policy_id", ["..hidden", "a b", "-leading-dash", "x" * 121])
async def test_a_malformed_policy_id_is_refused_before_the_guide_is_fetched(gw: Harness, policy_id: str) -> None:
    assert_problem(await gw.client.get(f"/v1/policies/{policy_id}/guide"), 422, "validation_failed")
    assert gw.services.requests == []


async def test_the_guide_is_read_again_once_after_a_dropped_connection(gw: Harness) -> None:
    gw.services.reply(CATALOG, UPSTREAM_GUIDE, httpx.ReadError("reset"), guide_answer(PAGE, "text/html"))
    r = await gw.client.get(GUIDE)
    assert (r.status_code, r.text) == (200, PAGE)
    assert len(gw.services.requests_to(UPSTREAM_GUIDE)) == 2


async def test_a_catalog_that_is_down_is_a_bad_gateway_for_the_guide(gw: Harness) -> None:
    gw.services.reply(CATALOG, UPSTREAM_GUIDE, httpx.ConnectError("refused"))
    body = assert_problem(await gw.client.get(GUIDE), 502, "upstream_unavailable")
    assert "政策库服务" in body["detail"]


async def test_a_catalog_crash_page_is_never_passed_on_as_the_guide(gw: Harness) -> None:
    gw.services.reply(CATALOG, UPSTREAM_GUIDE, httpx.Response(500, text="<html>Internal Server Error</html>"))
    body = assert_problem(await gw.client.get(GUIDE), 502, "upstream_error")
    assert body["upstream_status"] == 500


async def test_the_published_contract_offers_the_guide_as_html_or_markdown(gw: Harness) -> None:
    spec = (await gw.client.get("/openapi.json")).json()
    operation = spec["paths"]["/v1/policies/{policy_id}/guide"]["get"]
    assert operation["tags"] == ["policies"]
    assert set(operation["responses"]["200"]["content"]) == {"text/html", "text/markdown"}
    assert {p["name"] for p in operation["parameters"]} == {"policy_id", "format"}
    assert list(operation["responses"]["404"]["content"]) == ["application/problem+json"]
