"""回头看 recovery cases with an in-memory repository and ledger: one case per
overpayment, two people to decide it, each repayment journalled once."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from mianshen_shared import testing
from mianshen_shared.events.catalog import EntitlementOverpaid
from mianshen_shared.messaging import Rejected
from mianshen_shared.problems import ProblemError
from payment import recovery
from payment.models import Payment, RecoveryCase, RecoveryCaseEntry, RecoveryRepayment

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 1, 2, tzinfo=UTC)


class FakeRecoveryRepository:
    """In-memory stand-in for RecoveryRepository."""

    def __init__(self) -> None:
        self.payments: dict[uuid.UUID, Payment] = {}
        self.cases: dict[uuid.UUID, RecoveryCase] = {}
        self.entries: list[RecoveryCaseEntry] = []
        self.paid_back: list[RecoveryRepayment] = []

    async def payment_for(self, entitlement_id: uuid.UUID) -> Payment | None:
        return next((p for p in self.payments.values() if p.entitlement_id == entitlement_id), None)

    async def case_for(self, entitlement_id: uuid.UUID, due_fen: int) -> RecoveryCase | None:
        return next(
            (c for c in self.cases.values() if (c.entitlement_id, c.due_fen) == (entitlement_id, due_fen)), None
        )

    async def get(self, case_id: uuid.UUID, *, for_update: bool = False) -> RecoveryCase | None:
        return self.cases.get(case_id)

    async def listed(self, *, uscc: str | None = None, status: str | None = None) -> list[RecoveryCase]:
        return [
            c
            for c in self.cases.values()
            if (uscc is None or c.uscc == uscc) and (status is None or c.status == status)
        ]

    async def add(self, case: RecoveryCase) -> None:
        self.cases[case.case_id] = case

    async def history(self, case_id: uuid.UUID) -> list[RecoveryCaseEntry]:
        return [e for e in self.entries if e.case_id == case_id]

    async def append(self, entry: RecoveryCaseEntry) -> None:
        self.entries.append(entry)

    async def repayment(self, case_id: uuid.UUID, reference: str) -> RecoveryRepayment | None:
        return next((r for r in self.paid_back if (r.case_id, r.reference) == (case_id, reference)), None)

    async def repayments(self, case_id: uuid.UUID) -> list[RecoveryRepayment]:
        return [r for r in self.paid_back if r.case_id == case_id]

    async def add_repayment(self, repayment: RecoveryRepayment) -> None:
        self.paid_back.append(repayment)


class FakeLedger:
    def __init__(self) -> None:
        self.journals: list[tuple[str, int]] = []

    async def recovery_due(self, case: RecoveryCase, *, now: datetime) -> uuid.UUID:
        self.journals.append(("recovery_due", case.overpaid_fen))
        return uuid.uuid4()

    async def repayment_received(self, case: RecoveryCase, repayment: RecoveryRepayment, *, now: datetime) -> uuid.UUID:
        self.journals.append(("recovery_received", repayment.amount_fen))
        return uuid.uuid4()


def paid(repo: FakeRecoveryRepository, *, status: str = "succeeded", amount_fen: int = 500_000) -> Payment:
    payment = Payment(
        payment_id=uuid.uuid4(),
        entitlement_id=uuid.uuid4(),
        uscc=testing.make_uscc(),
        enterprise_name="郑州示例科技有限公司",
        policy_id="zz-2022-02-specialized-sme-award",
        amount_fen=amount_fen,
        status=status,
    )
    repo.payments[payment.payment_id] = payment
    return payment


def overpaid(payment: Payment, *, due_fen: int = 300_000) -> EntitlementOverpaid:
    return EntitlementOverpaid(
        uscc=payment.uscc,
        entitlement_id=payment.entitlement_id,
        policy_id=payment.policy_id,
        policy_version=1,
        award_key="2022",
        paid_fen=payment.amount_fen,
        due_fen=due_fen,
        reason="市统计局更正了2022年营业收入，应得金额由5,000.00元降为3,000.00元",
        detected_at=NOW,
    )


async def _open(repo: FakeRecoveryRepository, **kwargs: int) -> RecoveryCase:
    return await recovery.open_case(repo, overpaid=overpaid(paid(repo), **kwargs), now=NOW)


async def _decided(repo: FakeRecoveryRepository, ledger: FakeLedger, action: recovery.Action) -> RecoveryCase:
    case = await _open(repo)
    await recovery.propose(repo, case_id=case.case_id, action=action, reason="核实无误", actor="clerk.zhang", now=NOW)
    return await recovery.approve(repo, ledger, case_id=case.case_id, reason="同意", actor="chief.li", now=NOW)


async def test_an_overpayment_opens_one_case_with_the_difference_and_the_reason() -> None:
    repo = FakeRecoveryRepository()
    payment = paid(repo)
    news = overpaid(payment)
    case = await recovery.open_case(repo, overpaid=news, now=NOW)
    again = await recovery.open_case(repo, overpaid=news, now=NOW)
    assert again is case
    assert (case.status, case.paid_fen, case.due_fen, case.overpaid_fen) == ("open", 500_000, 300_000, 200_000)
    assert case.payment_id == payment.payment_id
    assert "营业收入" in case.reason
    assert [e.action for e in repo.entries] == ["opened"]


async def test_a_further_correction_to_another_amount_opens_another_case() -> None:
    repo = FakeRecoveryRepository()
    payment = paid(repo)
    await recovery.open_case(repo, overpaid=overpaid(payment, due_fen=300_000), now=NOW)
    await recovery.open_case(repo, overpaid=overpaid(payment, due_fen=0), now=NOW)
    assert sorted(c.overpaid_fen for c in repo.cases.values()) == [200_000, 500_000]


async def test_an_overpayment_without_a_payment_is_refused_in_chinese() -> None:
    repo = FakeRecoveryRepository()
    orphan = overpaid(Payment(entitlement_id=uuid.uuid4(), uscc=testing.make_uscc(), policy_id="p", amount_fen=900_000))
    with pytest.raises(Rejected) as refused:
        await recovery.open_case(repo, overpaid=orphan, now=NOW)
    assert refused.value.reason == "payment_not_found"
    assert "支付记录" in refused.value.message


async def test_an_unsettled_payment_cannot_have_been_overpaid() -> None:
    repo = FakeRecoveryRepository()
    with pytest.raises(Rejected) as refused:
        await recovery.open_case(repo, overpaid=overpaid(paid(repo, status="pending")), now=NOW)
    assert refused.value.reason == "payment_not_issued"


async def test_a_due_amount_not_below_the_paid_one_is_not_an_overpayment() -> None:
    repo = FakeRecoveryRepository()
    with pytest.raises(Rejected) as refused:
        await recovery.open_case(repo, overpaid=overpaid(paid(repo), due_fen=500_000), now=NOW)
    assert refused.value.reason == "not_overpaid"


async def test_the_proposer_cannot_approve_their_own_proposal() -> None:
    repo, ledger = FakeRecoveryRepository(), FakeLedger()
    case = await _open(repo)
    await recovery.propose(repo, case_id=case.case_id, action="recover", reason="多付", actor="clerk.zhang", now=NOW)
    with pytest.raises(ProblemError) as refused:
        await recovery.approve(repo, ledger, case_id=case.case_id, reason="同意", actor="clerk.zhang", now=NOW)
    assert (refused.value.status, refused.value.code) == (403, "separation_of_duties")
    with pytest.raises(ProblemError):
        await recovery.reject(repo, case_id=case.case_id, reason="不同意", actor="clerk.zhang", now=NOW)
    assert case.status == "proposed"
    assert ledger.journals == []


async def test_an_approved_recovery_moves_the_overpaid_amount_to_a_receivable() -> None:
    repo, ledger = FakeRecoveryRepository(), FakeLedger()
    case = await _decided(repo, ledger, "recover")
    assert (case.status, case.proposed_by, case.decided_by) == ("recovering", "clerk.zhang", "chief.li")
    assert ledger.journals == [("recovery_due", 200_000)]
    assert [(e.action, e.actor) for e in repo.entries] == [
        ("opened", "system"),
        ("proposed_recover", "clerk.zhang"),
        ("approved_recover", "chief.li"),
    ]


async def test_an_approved_waiver_closes_the_case_without_journals() -> None:
    repo, ledger = FakeRecoveryRepository(), FakeLedger()
    case = await _decided(repo, ledger, "waive")
    assert case.status == "waived"
    assert ledger.journals == []


async def test_a_rejected_proposal_reopens_the_case_for_a_new_one() -> None:
    repo = FakeRecoveryRepository()
    case = await _open(repo)
    await recovery.propose(repo, case_id=case.case_id, action="waive", reason="金额小", actor="clerk.zhang", now=NOW)
    await recovery.reject(repo, case_id=case.case_id, reason="应当追回", actor="chief.li", now=NOW)
    assert (case.status, case.proposed_action, case.proposed_by) == ("open", None, None)
    await recovery.propose(repo, case_id=case.case_id, action="recover", reason="追回", actor="clerk.zhang", now=NOW)
    assert case.status == "proposed"
    assert [e.reason for e in repo.entries if e.action == "rejected_waive"] == ["应当追回"]


async def test_a_repayment_is_journalled_once_per_reference_and_closes_the_case_when_complete() -> None:
    repo, ledger = FakeRecoveryRepository(), FakeLedger()
    case = await _decided(repo, ledger, "recover")

    async def repay(amount_fen: int, reference: str) -> RecoveryCase:
        return await recovery.record_repayment(
            repo,
            ledger,
            case_id=case.case_id,
            amount_fen=amount_fen,
            received_on=date(2026, 11, 30),
            reference=reference,
            actor="cashier.wu",
            now=NOW,
        )

    await repay(150_000, "BOC-1")
    await repay(150_000, "BOC-1")
    assert (case.status, case.recovered_fen) == ("recovering", 150_000)
    with pytest.raises(ProblemError) as conflict:
        await repay(10_000, "BOC-1")
    assert conflict.value.code == "repayment_reference_conflict"
    with pytest.raises(ProblemError) as too_much:
        await repay(60_000, "BOC-2")
    assert (too_much.value.status, too_much.value.code) == (422, "repayment_exceeds_outstanding")
    await repay(50_000, "BOC-2")
    assert (case.status, case.recovered_fen) == ("recovered", 200_000)
    assert ledger.journals == [("recovery_due", 200_000), ("recovery_received", 150_000), ("recovery_received", 50_000)]


async def test_no_repayment_is_recorded_before_a_recovery_is_approved() -> None:
    repo, ledger = FakeRecoveryRepository(), FakeLedger()
    case = await _open(repo)
    with pytest.raises(ProblemError) as refused:
        await recovery.record_repayment(
            repo,
            ledger,
            case_id=case.case_id,
            amount_fen=1,
            received_on=date(2026, 11, 30),
            reference="BOC-9",
            actor="cashier.wu",
            now=NOW,
        )
    assert (refused.value.status, refused.value.code) == (409, "case_not_recovering")
    assert ledger.journals == []


async def test_an_unknown_case_is_not_found() -> None:
    with pytest.raises(ProblemError) as absent:
        await recovery.get_case(FakeRecoveryRepository(), case_id=uuid.uuid4())
    assert (absent.value.status, absent.value.code) == (404, "recovery_case_not_found")
