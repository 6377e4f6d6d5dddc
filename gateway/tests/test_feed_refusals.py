"""数据共享督办 at the door: records of a batch the gateway refuses are counted per
department and record type, under names the city knows."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from .factories import batch, insurance_record, title_record
from .harness import Harness

pytestmark = pytest.mark.unit


def refused(department: str, record_type: str) -> float:
    labels = {"department": department, "record_type": record_type, "outcome": "rejected"}
    return REGISTRY.get_sample_value("mianshen_feed_records_total", labels) or 0.0


async def test_every_record_of_a_refused_batch_counts_as_rejected_for_its_department(gw: Harness) -> None:
    title_before = refused("gxj", "miit.sme_title_recognized")
    insurance_before = refused("rsj", "hrss.unemployment_insurance_annual")
    bad = insurance_record()
    bad["attributes"]["paid_fen"] = -1

    r = await gw.client.post("/v1/data-events", json=batch(insurance_record(), bad))

    assert r.status_code == 422
    assert refused("rsj", "hrss.unemployment_insurance_annual") - insurance_before == 2, "the valid record too"
    assert refused("gxj", "miit.sme_title_recognized") == title_before


async def test_names_the_city_does_not_know_are_counted_as_unknown(gw_open: Harness) -> None:
    # Only a development gateway without credentials lets an unknown department's
    # name reach validation; authenticated, the guard refuses it first (test_security).
    before = refused("unknown", "unknown")
    r = await gw_open.client.post(
        "/v1/data-events",
        json=batch(title_record(department="bureau_of_mischief", record_type="x.y"), ["not", "a", "record"]),
    )
    assert r.status_code == 422
    assert refused("unknown", "unknown") - before == 2
    assert refused("bureau_of_mischief", "x.y") == 0


async def test_an_accepted_batch_counts_nothing_as_rejected(gw: Harness) -> None:
    before = refused("gxj", "miit.sme_title_recognized")
    assert (await gw.client.post("/v1/data-events", json=batch(title_record()))).status_code == 202
    assert refused("gxj", "miit.sme_title_recognized") == before
