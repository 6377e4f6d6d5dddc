"""绩效评估: the computation over hand-built rows, and the three routes on the
embedded SQLite database with entitlements driven through the real service."""

from __future__ import annotations

import csv
import io
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from confirmation.config import Settings
from confirmation.main import create_app
from confirmation.performance import (
    CSV_HEADER,
    EntitlementFacts,
    HistoryStep,
    PerformanceQuery,
    PerformanceReport,
    evaluate,
    one_decimal,
    quantile,
    render_csv,
    render_html,
    yuan,
)
from mianshen_shared import testing
from mianshen_shared.problems import ProblemError

from .performance_story import HOSTILE_POLICY_ID, HOSTILE_TITLE, POLICY_ID, tell

pytestmark = pytest.mark.unit

DAY = timedelta(days=1)
# Midday in Shanghai, well inside the first half of 2025.
T0 = datetime(2025, 3, 3, 4, tzinfo=UTC)
NOW = datetime(2025, 6, 30, 4, tzinfo=UTC)
H1_2025 = PerformanceQuery(date(2025, 1, 1), date(2025, 6, 30))
_seq = itertools.count(1)


# --- hand-built rows ---------------------------------------------------------------------


@dataclass
class Built:
    facts: EntitlementFacts
    history: list[HistoryStep]


def built(
    *steps: tuple[str, str, datetime],
    policy_id: str = "zz-policy-a",
    title: str = "政策甲",
    uscc: str | None = None,
    amount_fen: int = 100_000,
    benefit_kind: str = "cash_award",
    confirmation: str | None = "pending",
    deadline: date | None = None,
) -> Built:
    """An entitlement whose history is `steps` of (kind, status, at); its status is the last step's."""
    entitlement_id = uuid.uuid4()
    history = [
        HistoryStep(
            entitlement_id=entitlement_id,
            seq=next(_seq),
            status=status,
            kind=kind,
            occurred_at=at,
            paid_amount_fen=amount_fen if kind == "paid" else None,
        )
        for kind, status, at in steps
    ]
    facts = EntitlementFacts(
        entitlement_id=entitlement_id,
        uscc=uscc or testing.make_uscc(),
        enterprise_name="郑州示例科技有限公司",
        policy_id=policy_id,
        policy_title=title,
        benefit_kind=benefit_kind,
        amount_fen=amount_fen,
        status=steps[-1][1],
        determined_at=steps[0][2],
        updated_at=steps[-1][2],
        confirmation_status=confirmation,
        confirmation_deadline=deadline or (steps[0][2] + 30 * DAY).date(),
    )
    return Built(facts, history)


def awaiting(at: datetime = T0, **kw: Any) -> Built:
    return built(
        ("determined", "awaiting_confirmation", at), ("confirmation_requested", "awaiting_confirmation", at), **kw
    )


def paid_after(wait: timedelta, *, at: datetime = T0, **kw: Any) -> Built:
    return built(
        ("determined", "awaiting_confirmation", at),
        ("confirmation_requested", "awaiting_confirmation", at),
        ("accepted", "accepted", at + DAY / 2),
        ("credit_cleared", "awaiting_payment", at + DAY / 2),
        ("paid", "paid", at + wait),
        confirmation="accepted",
        **kw,
    )


def declined(at: datetime = T0, **kw: Any) -> Built:
    return built(
        ("determined", "awaiting_confirmation", at), ("declined", "declined", at + DAY), **kw, confirmation="declined"
    )


def withdrawn(at: datetime = T0, **kw: Any) -> Built:
    return built(
        ("determined", "awaiting_confirmation", at), ("withdrawn", "withdrawn", at + DAY), **kw, confirmation="closed"
    )


def held(since: datetime, *, at: datetime = T0, **kw: Any) -> Built:
    return built(
        ("determined", "awaiting_confirmation", at),
        ("accepted", "accepted", at + DAY / 2),
        ("credit_held", "credit_held", since),
        confirmation="accepted",
        **kw,
    )


def report_of(*entitlements: Built, query: PerformanceQuery = H1_2025, now: datetime = NOW) -> PerformanceReport:
    return evaluate(
        query,
        [b.facts for b in entitlements],
        [s for b in entitlements for s in b.history],
        now=now,
    )


# --- durations -------------------------------------------------------------------------------


def test_the_median_and_90th_percentile_of_an_odd_count_are_exact() -> None:
    report = report_of(*(paid_after(d * DAY) for d in (1, 2, 3, 4, 10)))

    assert report.total.median_days == Decimal("3.0")
    # rank 0.9 × 4 = 3.6: 4 days + 0.6 × (10 − 4) days
    assert report.total.p90_days == Decimal("7.6")


def test_the_median_of_an_even_count_is_the_mean_of_the_middle_two() -> None:
    report = report_of(*(paid_after(d * DAY) for d in (7, 1, 4, 2)))

    assert report.total.median_days == Decimal("3.0")
    assert report.total.p90_days == Decimal("6.1")  # 4 + 0.7 × 3


def test_a_single_payment_is_its_own_median_and_90th_percentile_to_the_tenth_of_a_day() -> None:
    report = report_of(paid_after(2 * DAY + timedelta(hours=3)))  # 2.125 days

    assert (report.total.median_days, report.total.p90_days) == (Decimal("2.1"), Decimal("2.1"))


def test_quantiles_are_exact_fractions_and_rounding_is_half_up() -> None:
    assert quantile([], Fraction(1, 2)) is None
    assert quantile([1, 2], Fraction(1, 2)) == Fraction(3, 2)
    assert quantile([10, 20, 30], Fraction(9, 10)) == 28
    assert one_decimal(Fraction(1, 4)) == Decimal("0.3")  # a float would round 0.25 to 0.2
    assert one_decimal(Fraction(-1, 4)) == Decimal("-0.3")
    assert one_decimal(Fraction(2)) == Decimal("2.0")


def test_days_are_measured_from_the_first_determination_not_a_later_redetermination() -> None:
    late_change = built(
        ("determined", "awaiting_confirmation", T0),
        ("accepted", "accepted", T0 + DAY),
        ("paid", "paid", T0 + 4 * DAY),
        ("changed_after_answer", "paid", T0 + 9 * DAY),
        confirmation="accepted",
    )
    moved = replace(late_change.facts, determined_at=T0 + 9 * DAY)

    report = evaluate(H1_2025, [moved], late_change.history, now=NOW)

    assert report.total.median_days == Decimal("4.0")


def test_payments_in_the_period_count_whenever_their_data_arrived() -> None:
    last_year = datetime(2024, 12, 20, 4, tzinfo=UTC)
    report = report_of(paid_after(20 * DAY, at=last_year, amount_fen=123_456))

    assert report.total.determined == 0, "determined before the period"
    assert (report.total.paid_in_period, report.total.paid_in_period_amount_fen) == (1, 123_456)
    assert report.total.median_days == Decimal("20.0")


def test_the_period_is_bounded_by_midnight_in_shanghai() -> None:
    just_inside = datetime(2025, 1, 1, 0, 30, tzinfo=UTC) - timedelta(hours=8)  # 00:30 on 1 January in Shanghai
    just_outside = datetime(2025, 7, 1, tzinfo=UTC) - timedelta(hours=8)  # midnight after 30 June
    report = report_of(awaiting(just_inside), awaiting(just_outside), now=datetime(2025, 7, 2, tzinfo=UTC))

    assert report.total.determined == 1


# --- the funnel and take-up ----------------------------------------------------------------


def test_take_up_leaves_withdrawn_entitlements_out_of_the_eligible() -> None:
    report = report_of(paid_after(3 * DAY), declined(), awaiting(NOW - DAY), withdrawn())

    row = report.policies[0]
    assert (row.determined, row.withdrawn, row.eligible, row.paid) == (4, 1, 3, 1)
    assert row.take_up_percent == Decimal("33.3")


def test_reductions_are_never_paid_so_they_have_no_take_up() -> None:
    reduction = built(("determined", "awaiting_execution", T0), benefit_kind="rent_reduction", confirmation=None)

    report = report_of(reduction, query=H1_2025, now=T0 + DAY)

    assert report.policies[0].determined == 1
    assert (report.policies[0].eligible, report.policies[0].take_up_percent) == (0, None)


def test_the_outcomes_partition_the_determined_and_confirmed_overlaps_them() -> None:
    overdue = awaiting(T0)  # its 30 days ran out in April; the sweep has not closed it yet
    swept = built(
        ("determined", "awaiting_confirmation", T0),
        ("confirmation_expired", "awaiting_confirmation", T0 + 31 * DAY),
        confirmation="expired",
    )
    report = report_of(
        paid_after(2 * DAY, amount_fen=50_000),
        paid_after(3 * DAY, amount_fen=70_000),
        held(NOW - DAY),
        declined(),
        withdrawn(),
        overdue,
        swept,
        awaiting(NOW - DAY),
    )

    row = report.total
    assert (row.paid, row.declined, row.expired, row.withdrawn, row.open) == (2, 1, 2, 1, 2)
    assert row.paid + row.declined + row.expired + row.withdrawn + row.open == row.determined == 8
    assert row.confirmed == 3
    assert row.paid_amount_fen == 120_000


def test_enterprises_are_counted_once_however_many_entitlements_they_have() -> None:
    uscc = testing.make_uscc()
    report = report_of(awaiting(uscc=uscc), declined(uscc=uscc), awaiting(), awaiting(NOW + DAY, uscc=uscc))

    assert report.total.enterprises_matched == 2


def test_each_policy_has_its_row_and_the_total_is_computed_over_all_of_them() -> None:
    report = report_of(
        paid_after(1 * DAY, policy_id="zz-b", title="政策乙"),
        paid_after(9 * DAY, policy_id="zz-a"),
        paid_after(3 * DAY, policy_id="zz-a"),
    )

    assert [(p.policy_id, p.policy_title, p.paid) for p in report.policies] == [
        ("zz-a", "政策甲", 2),
        ("zz-b", "政策乙", 1),
    ]
    assert report.policies[0].median_days == Decimal("6.0")
    assert report.total.median_days == Decimal("3.0"), "the median of all payments, not of the medians"
    assert report.total.policy_title == "合计"


def test_an_empty_period_reports_zeros_and_no_rates() -> None:
    report = report_of()

    assert report.policies == []
    assert (report.total.determined, report.total.paid, report.total.paid_in_period_amount_fen) == (0, 0, 0)
    assert (report.total.take_up_percent, report.total.median_days, report.total.p90_days) == (None, None, None)
    assert report.stuck_groups == [] and report.stuck_total == 0
    assert "本期无数据" in render_html(report)


# --- stuck ---------------------------------------------------------------------------------


def test_an_entitlement_is_stuck_only_after_more_than_the_given_days_without_a_status_change() -> None:
    exactly = held(NOW - 7 * DAY)
    just_over = held(NOW - 7 * DAY - timedelta(seconds=1))

    report = report_of(exactly, just_over)

    assert [s.entitlement_id for s in report.stuck_items] == [just_over.facts.entitlement_id]
    assert report.stuck_items[0].days == 7
    three_days = PerformanceQuery(H1_2025.date_from, H1_2025.date_to, stuck_days=3)
    assert report_of(held(NOW - 4 * DAY), query=three_days).stuck_total == 1


def test_settled_and_expired_entitlements_are_never_stuck() -> None:
    report = report_of(paid_after(2 * DAY), declined(), withdrawn(), awaiting(T0))

    assert report.stuck_total == 0


def test_stuck_entitlements_are_grouped_by_status_with_the_reason_and_the_oldest() -> None:
    oldest_unanswered = awaiting(NOW - 20 * DAY, title="政策丙")
    report = report_of(
        awaiting(NOW - 10 * DAY),
        oldest_unanswered,
        held(NOW - 30 * DAY),
        awaiting(NOW - 2 * DAY),
    )

    assert [(g.status, g.reason, g.count) for g in report.stuck_groups] == [
        ("awaiting_confirmation", "企业未确认", 2),
        ("credit_held", "因信用记录暂缓兑现", 1),
    ]
    oldest = report.stuck_groups[0].oldest
    assert (oldest.entitlement_id, oldest.days, oldest.policy_title) == (
        oldest_unanswered.facts.entitlement_id,
        20,
        "政策丙",
    )
    assert report.stuck_items[0].reason == "因信用记录暂缓兑现", "the oldest first"


def test_a_resent_request_does_not_reset_the_time_without_a_status_change() -> None:
    resent = built(
        ("determined", "awaiting_confirmation", NOW - 12 * DAY),
        ("confirmation_requested", "awaiting_confirmation", NOW - 12 * DAY),
        ("redetermined", "awaiting_confirmation", NOW - DAY),
        ("confirmation_requested", "awaiting_confirmation", NOW - DAY),
    )
    moved_on = built(
        ("determined", "awaiting_confirmation", NOW - 40 * DAY),
        ("accepted", "accepted", NOW - 3 * DAY),
        confirmation="accepted",
    )

    report = report_of(resent, moved_on)

    assert [(s.entitlement_id, s.days) for s in report.stuck_items] == [(resent.facts.entitlement_id, 12)]


def test_stuck_entitlements_count_whatever_the_period_and_in_their_policy_row() -> None:
    long_ago = datetime(2023, 5, 1, tzinfo=UTC)
    report = report_of(held(long_ago + DAY, at=long_ago, policy_id="zz-old", title="旧政策"))

    assert report.total.determined == 0
    assert [(p.policy_id, p.stuck) for p in report.policies] == [("zz-old", 1)]
    assert report.total.stuck == report.stuck_total == 1


# --- the query ------------------------------------------------------------------------------


def parse(**kw: Any) -> PerformanceQuery:
    values: dict[str, Any] = {"date_from": None, "date_to": None, "policy_id": None, "stuck_days": None}
    return PerformanceQuery.parse(**{**values, **kw}, today=date(2025, 6, 30))


def test_the_period_defaults_to_the_current_year_up_to_today() -> None:
    assert parse() == PerformanceQuery(date(2025, 1, 1), date(2025, 6, 30), None, 7)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"date_from": date(2025, 2, 1), "date_to": date(2025, 1, 31)}, "invalid_period"),
        ({"date_from": date(2020, 1, 1), "date_to": date(2025, 1, 1)}, "period_too_long"),
        ({"date_from": date(2020, 2, 29), "date_to": date(2025, 3, 1)}, "period_too_long"),
        ({"stuck_days": 0}, "invalid_stuck_days"),
        ({"stuck_days": 366}, "invalid_stuck_days"),
    ],
)
def test_a_bad_query_is_refused_in_chinese(changes: dict[str, Any], code: str) -> None:
    with pytest.raises(ProblemError) as refused:
        parse(**changes)
    assert (refused.value.status, refused.value.code) == (422, code)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in refused.value.detail)


def test_five_whole_years_and_the_stuck_days_bounds_are_accepted() -> None:
    assert parse(date_from=date(2020, 1, 1), date_to=date(2024, 12, 31)).date_to == date(2024, 12, 31)
    assert parse(stuck_days=1).stuck_days == 1
    assert parse(stuck_days=365).stuck_days == 365


# --- renderings ------------------------------------------------------------------------------


def test_the_csv_has_a_bom_a_chinese_header_and_amounts_in_yuan_and_fen() -> None:
    report = report_of(paid_after(2 * DAY, amount_fen=123_405), paid_after(4 * DAY, amount_fen=5))

    body = render_csv(report)

    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == CSV_HEADER
    policy = dict(zip(rows[0], rows[1], strict=True))
    assert (policy["已兑现金额（元）"], policy["已兑现金额（分）"]) == ("1234.10", "123410")
    assert (policy["兑现率（%）"], policy["用时中位数（天）"]) == ("100.0", "3.0")
    assert rows[-1][1] == "合计"


def test_a_title_that_looks_like_a_formula_stays_text_in_the_csv() -> None:
    report = report_of(awaiting(title='=HYPERLINK("http://x")', policy_id="-1"))

    rows = list(csv.reader(io.StringIO(render_csv(report).decode("utf-8-sig"))))

    assert rows[1][:2] == ["'-1", '\'=HYPERLINK("http://x")']


def test_yuan_keeps_two_decimals_without_grouping() -> None:
    assert [yuan(f) for f in (0, 5, 100, 123_456_789, -250)] == ["0.00", "0.05", "1.00", "1234567.89", "-2.50"]


# --- the routes, on SQLite ---------------------------------------------------------------------


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, AsyncClient]]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'confirmation.sqlite'}", messaging_enabled=False)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield app, client


def recent_period(base: datetime) -> dict[str, str]:
    return {"from": (base - DAY).date().isoformat(), "to": datetime.now(UTC).date().isoformat()}


async def test_the_report_follows_entitlements_driven_through_the_service(api: tuple[FastAPI, AsyncClient]) -> None:
    app, client = api
    story = await tell(app, base=datetime.now(UTC) - 20 * DAY)

    response = await client.get("/performance", params=recent_period(story.base))

    assert response.status_code == 200, response.text
    body = response.json()
    by_policy = {p["policy_id"]: p for p in body["policies"]}
    main = by_policy[POLICY_ID]
    assert (main["determined"], main["confirmed"], main["declined"], main["withdrawn"], main["paid"]) == (5, 3, 1, 1, 2)
    assert (main["paid_amount_fen"], main["open"], main["take_up_percent"]) == (500_000, 1, "50.0")
    assert (main["median_days"], main["p90_days"]) == ("4.3", "5.3")
    assert body["total"]["enterprises_matched"] == 2
    assert {(g["status"], g["reason"], g["count"]) for g in body["stuck"]} == {
        ("credit_held", "因信用记录暂缓兑现", 1),
        ("awaiting_confirmation", "企业未确认", 1),
    }
    assert body["period"]["stuck_days"] == 7 and "from" in body["period"]
    assert any("determined_at" in note for note in body["notes"])


async def test_the_report_can_be_narrowed_to_one_policy(api: tuple[FastAPI, AsyncClient]) -> None:
    app, client = api
    story = await tell(app, base=datetime.now(UTC) - 20 * DAY)

    body = (
        await client.get("/performance", params={**recent_period(story.base), "policy_id": HOSTILE_POLICY_ID})
    ).json()

    assert [p["policy_id"] for p in body["policies"]] == [HOSTILE_POLICY_ID]
    assert body["total"]["determined"] == 1 and body["stuck_total"] == 1


async def test_the_csv_download_opens_in_excel(api: tuple[FastAPI, AsyncClient]) -> None:
    app, client = api
    story = await tell(app, base=datetime.now(UTC) - 20 * DAY)

    response = await client.get("/performance.csv", params=recent_period(story.base))

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="performance-')
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    main = dict(zip(rows[0], next(r for r in rows if r[0] == POLICY_ID), strict=True))
    assert (main["已兑现金额（元）"], main["已兑现金额（分）"]) == ("5000.00", "500000")


async def test_the_printable_page_is_self_contained_and_escapes_what_policies_say(
    api: tuple[FastAPI, AsyncClient],
) -> None:
    app, client = api
    story = await tell(app, base=datetime.now(UTC) - 20 * DAY)

    response = await client.get("/performance.html", params=recent_period(story.base))

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert HOSTILE_TITLE not in page
    assert page.count("<svg") == 2 and "<rect" in page
    assert "src=" not in page and "href=" not in page and "<link" not in page
    assert "因信用记录暂缓兑现" in page and "5,000.00元" in page


@pytest.mark.parametrize("route", ["/performance", "/performance.csv", "/performance.html"])
@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"from": "2025-13-01"}, "validation_failed"),
        ({"to": "yesterday"}, "validation_failed"),
        ({"from": "2025-02-01", "to": "2025-01-31"}, "invalid_period"),
        ({"from": "2019-01-01", "to": "2025-01-01"}, "period_too_long"),
        ({"stuck_days": "0"}, "invalid_stuck_days"),
        ({"stuck_days": "366"}, "invalid_stuck_days"),
        ({"stuck_days": "seven"}, "validation_failed"),
        ({"policy_id": "x" * 121}, "validation_failed"),
        ({"form": "2025-01-01"}, "validation_failed"),
    ],
)
async def test_bad_query_parameters_are_refused_with_a_problem_in_chinese(
    api: tuple[FastAPI, AsyncClient], route: str, params: dict[str, str], code: str
) -> None:
    _app, client = api

    response = await client.get(route, params=params)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in problem["detail"])
    for error in problem.get("errors", []):
        assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"]), error
