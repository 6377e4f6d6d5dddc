"""数据共享督办 on the real Kafka and PostgreSQL: records of two departments through
the consumer, one refused by the domain and one unreadable, then /feeds and the
通报 list."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from prometheus_client import REGISTRY

from mianshen_shared import testing
from mianshen_shared.events.catalog import DepartmentRecordSubmitted
from mianshen_shared.topics import physical

from .factories import title_record
from .test_eligibility_integration import running_app, send

pytestmark = pytest.mark.integration


def insurance_record(uscc: str) -> DepartmentRecordSubmitted:
    raw = testing.make_record(
        record_type="hrss.unemployment_insurance_annual",
        department="rsj",
        uscc_code=uscc,
        effective_date=date(2024, 1, 1),
        attributes={
            "contribution_year": 2023,
            "paid_fen": 1_234_500,
            "enterprise_size": "small",
            "insured_at_year_start": 12,
            "insured_at_year_end": 14,
        },
    )
    return DepartmentRecordSubmitted(**raw, received_at=datetime.now(UTC))


def accepted_total(department: str, record_type: str) -> float:
    labels = {"department": department, "record_type": record_type, "outcome": "accepted"}
    return REGISTRY.get_sample_value("mianshen_feed_records_total", labels) or 0.0


async def test_feeds_show_what_each_department_pushed_and_what_was_refused(pg_database, topic_prefix) -> None:
    app = await running_app(pg_database, topic_prefix)
    records = physical("department-records", topic_prefix)
    one, two, three = testing.make_uscc(), testing.make_uscc(), testing.make_uscc()
    titles_before = accepted_total("gxj", "miit.sme_title_recognized")
    # received_at is set when a record is built: the last built is the last to arrive.
    first, refused = title_record(one), title_record(one, attributes={"title": "world_champion", "document_no": "x"})
    latest, insurance = title_record(two), insurance_record(three)
    async with app.router.lifespan_context(app):
        await send(records, first, one)
        await send(records, refused, one)
        await testing.produce(records, b"{not json", key=one)
        await send(records, latest, two)
        await send(records, insurance, three)

        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client:

            async def counted() -> dict[str, Any] | None:
                feeds = {f["department"]: f for f in (await client.get("/feeds")).json()["items"]}
                seen = (feeds["gxj"]["accepted_7d"], feeds["gxj"]["rejected_7d"], feeds["rsj"]["accepted_7d"])
                return feeds if seen == (2, 1, 1) else None

            feeds = await testing.wait_for(counted)
            gxj, rsj = feeds["gxj"], feeds["rsj"]
            assert gxj["rejected_by_reason_30d"] == {"invalid_attributes": 1}
            assert datetime.fromisoformat(gxj["last_arrival"]) == latest.received_at
            assert (gxj["status"]["code"], rsj["status"]["code"]) == ("on_time", "on_time")
            assert gxj["volume"]["today"] == 2
            assert sum(f["rejected_30d"] for f in feeds.values()) == 1, "the unreadable message named no department"

            overdue = (await client.get("/feeds/overdue")).json()
            assert {f["department"] for f in overdue["items"]} == {"tjj", "cjj", "gzw", "credit"}
            assert all(f["status"] == "never" for f in overdue["items"])

            [today] = (await client.get("/feeds/gxj")).json()["days"][-1:]
            assert (today["accepted"], today["rejected"]) == (2, 1)

    assert accepted_total("gxj", "miit.sme_title_recognized") - titles_before == 2
    gauge = REGISTRY.get_sample_value("mianshen_feed_last_record_timestamp_seconds", {"department": "rsj"})
    assert gauge is not None and gauge >= insurance.received_at.timestamp()
