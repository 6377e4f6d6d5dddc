"""第一批第23项 失业保险稳岗返还: 50% for large enterprises, 90% for 中小微, only
for enterprises that laid off no one or few (national thresholds), in 2022."""

from __future__ import annotations

from datetime import date

import pytest

from mianshen_shared.rules import evaluate
from mianshen_shared.testing import make_uscc

from .factories import JOB_RETENTION, insurance, policy

pytestmark = pytest.mark.unit

POLICY = policy(JOB_RETENTION)


def refunded(*facts: object) -> list[tuple[str, int]]:
    return [(a.award_key, a.amount_fen) for a in evaluate(POLICY, uscc=make_uscc(), facts=facts)]  # type: ignore[arg-type]


def test_large_enterprise_gets_half_of_last_years_contributions() -> None:
    [award] = evaluate(POLICY, uscc=make_uscc(), facts=[insurance(paid_fen=100_000_000, size="large")])

    assert (award.award_key, award.amount_fen) == ("2021", 50_000_000)
    assert "上年度实际缴纳失业保险费 1,000,000.00元 × 50% = 500,000.00元" in award.explanation.computation
    assert award.explanation.computation.startswith("大型企业")


@pytest.mark.parametrize("size", ["medium", "small", "micro"])
def test_small_and_medium_enterprises_get_ninety_percent(size: str) -> None:
    [award] = evaluate(POLICY, uscc=make_uscc(), facts=[insurance(paid_fen=12_345_600, size=size)])

    assert award.amount_fen == 11_111_040
    assert "123,456.00元 × 90% = 111,110.40元" in award.explanation.computation


def test_fractions_of_a_fen_are_dropped() -> None:
    assert refunded(insurance(paid_fen=12_345_679, size="small")) == [("2021", 11_111_111)]


def test_layoff_rate_of_exactly_five_and_a_half_percent_still_qualifies() -> None:
    assert refunded(insurance(paid_fen=1_000_000, start=1000, end=945)) == [("2021", 900_000)]


def test_layoff_rate_above_five_and_a_half_percent_does_not_qualify() -> None:
    assert refunded(insurance(paid_fen=1_000_000, start=1000, end=944)) == []


def test_growing_workforce_counts_as_no_layoffs() -> None:
    assert refunded(insurance(paid_fen=1_000_000, start=50, end=80)) == [("2021", 900_000)]


def test_enterprise_of_thirty_insured_staff_may_lay_off_a_fifth() -> None:
    [award] = evaluate(POLICY, uscc=make_uscc(), facts=[insurance(paid_fen=1_000_000, start=30, end=24)])
    assert award.amount_fen == 900_000
    assert "参保职工30人（含）以下且裁员人数不高于20%" in award.explanation.computation


def test_enterprise_of_thirty_insured_staff_laying_off_more_than_a_fifth_does_not_qualify() -> None:
    assert refunded(insurance(paid_fen=1_000_000, start=30, end=23)) == []


def test_the_twenty_percent_allowance_stops_at_thirty_insured_staff() -> None:
    # 2 of 31 is 6.5%: within 20%, but above 5.5% and the enterprise is not small enough.
    assert refunded(insurance(paid_fen=1_000_000, start=31, end=29)) == []


def test_enterprise_in_arrears_gets_no_refund() -> None:
    assert refunded(insurance(arrears=True)) == []
    assert refunded(insurance(arrears=False, paid_fen=1_000_000)) == [("2021", 900_000)]


def test_contributions_of_a_year_other_than_last_year_do_not_count() -> None:
    assert refunded(insurance(contribution_year=2020, effective=date(2022, 6, 1))) == []


def test_records_outside_the_2022_policy_window_are_ignored() -> None:
    assert refunded(insurance(contribution_year=2020, effective=date(2021, 12, 31))) == []
    assert refunded(insurance(contribution_year=2022, effective=date(2023, 1, 1))) == []
    assert refunded(insurance(paid_fen=1_000_000, effective=date(2022, 12, 31))) == [("2021", 900_000)]


def test_nothing_paid_means_no_award() -> None:
    assert refunded(insurance(paid_fen=0)) == []


def test_a_later_record_for_the_same_year_supersedes_the_earlier_one() -> None:
    first = insurance(paid_fen=1_000_000, effective=date(2022, 3, 1), record_id="rsj-a")
    corrected = insurance(paid_fen=2_000_000, effective=date(2022, 4, 1), record_id="rsj-b")

    [award] = evaluate(POLICY, uscc=make_uscc(), facts=[corrected, first])

    assert award.amount_fen == 1_800_000
    assert [f.record_id for f in award.explanation.facts] == ["rsj-b"]
    assert "取代 rsj-a" in award.explanation.computation


def test_enterprise_registered_outside_zhengzhou_gets_nothing() -> None:
    assert evaluate(POLICY, uscc=make_uscc("440305"), facts=[insurance(paid_fen=1_000_000)]) == []
