"""Unit tests of the credit gate, with an in-memory repository."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from credit_check import service
from mianshen_shared import city, testing
from mianshen_shared.messaging import Rejected

from .factories import accepted, credit_record
from .fakes import FakeCreditRepository

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 25, 8, tzinfo=UTC)
TODAY = date(2026, 11, 25)


async def test_enterprise_without_records_is_cleared() -> None:
    decision = await service.assess(
        FakeCreditRepository(), accepted=accepted(testing.make_uscc()), today=TODAY, now=NOW
    )
    assert decision.decision == "cleared"
    assert decision.reasons == []


async def test_listed_enterprise_is_held_with_the_record_it_rested_on() -> None:
    repo, uscc = FakeCreditRepository(), testing.make_uscc()
    record = credit_record(uscc)
    await service.record_credit(repo, city=city.current(), record=record, now=NOW)
    decision = await service.assess(repo, accepted=accepted(uscc), today=TODAY, now=NOW)
    assert decision.decision == "held"
    assert [r.record_id for r in decision.reasons] == [record.record_id]
    assert decision.reasons[0].list_type == "credit.dishonest_judgment_debtor"


async def test_expired_record_no_longer_holds() -> None:
    repo, uscc = FakeCreditRepository(), testing.make_uscc()
    await service.record_credit(repo, city=city.current(), record=credit_record(uscc, expires_on="2024-12-31"), now=NOW)
    decision = await service.assess(repo, accepted=accepted(uscc), today=TODAY, now=NOW)
    assert decision.decision == "cleared"


async def test_revoked_record_no_longer_holds() -> None:
    repo, uscc = FakeCreditRepository(), testing.make_uscc()
    listed = credit_record(uscc)
    await service.record_credit(repo, city=city.current(), record=listed, now=NOW)
    revoke = credit_record(uscc, action="revoke", record_id=listed.record_id)
    await service.record_credit(repo, city=city.current(), record=revoke, now=NOW)
    assert (await service.assess(repo, accepted=accepted(uscc), today=TODAY, now=NOW)).decision == "cleared"


async def test_reassessing_the_same_confirmation_keeps_the_first_decision() -> None:
    repo, uscc = FakeCreditRepository(), testing.make_uscc()
    acceptance = accepted(uscc)
    first = await service.assess(repo, accepted=acceptance, today=TODAY, now=NOW)
    await service.record_credit(repo, city=city.current(), record=credit_record(uscc), now=NOW)
    again = await service.assess(repo, accepted=acceptance, today=TODAY, now=NOW)
    assert (
        (first.assessment_id, first.decision)
        == (again.assessment_id, again.decision)
        == (first.assessment_id, "cleared")
    )


async def test_credit_record_with_bad_attributes_is_rejected() -> None:
    record = credit_record(testing.make_uscc()).model_copy(update={"attributes": {"authority": "x"}})
    with pytest.raises(Rejected) as err:
        await service.record_credit(FakeCreditRepository(), city=city.current(), record=record, now=NOW)
    assert err.value.reason == "invalid_attributes"
    assert "document_no" in err.value.message
