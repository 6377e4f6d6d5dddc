"""减免指令 with an in-memory repository: a non-cash benefit becomes an instruction to
its executing department, which acknowledges it once; nothing is paid."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest

from mianshen_shared import testing
from mianshen_shared.events.catalog import BenefitExecuted, ConfirmationRevoked, CreditAssessed, CreditRecordRef
from mianshen_shared.messaging import Rejected
from mianshen_shared.problems import ProblemError
from payment import instructions
from payment.models import ExecutionInstruction

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 1, 2, tzinfo=UTC)  # 10:00 in Zhengzhou
RENT_POLICY = "zz-2022-25-state-owned-premises-rent-relief"


class FakeInstructionRepository:
    """In-memory stand-in for InstructionRepository with the same rules of visibility."""

    def __init__(self, departments: dict[tuple[str, int], str | None] | None = None) -> None:
        self.instructions: dict[uuid.UUID, ExecutionInstruction] = {}
        self.departments = departments if departments is not None else {(RENT_POLICY, 2): "gzw"}
        self.revoked: dict[uuid.UUID, str] = {}

    async def by_acceptance(self, acceptance_id: uuid.UUID) -> ExecutionInstruction | None:
        return next((i for i in self.instructions.values() if i.acceptance_id == acceptance_id), None)

    async def for_entitlement(self, entitlement_id: uuid.UUID) -> list[ExecutionInstruction]:
        return [i for i in self.instructions.values() if i.entitlement_id == entitlement_id]

    async def get_for_update(self, instruction_id: uuid.UUID) -> ExecutionInstruction | None:
        return self.instructions.get(instruction_id)

    async def listed(
        self, *, department: str | None = None, uscc: str | None = None, statuses: Sequence[str] = ()
    ) -> list[ExecutionInstruction]:
        return [
            i
            for i in self.instructions.values()
            if (department is None or i.executing_department == department)
            and (uscc is None or i.uscc == uscc)
            and (not statuses or i.status in statuses)
        ]

    async def add(self, instruction: ExecutionInstruction) -> None:
        self.instructions[instruction.instruction_id] = instruction

    async def executing_department(self, policy_id: str, policy_version: int) -> str | None:
        return self.departments.get((policy_id, policy_version))

    async def revocation_reason(self, acceptance_id: uuid.UUID) -> str | None:
        return self.revoked.get(acceptance_id)


@dataclass
class Emitted:
    events: list[tuple[Any, str]] = field(default_factory=list)

    async def __call__(self, payload: Any, *, key: str, correlation_id: str) -> None:
        self.events.append((payload, key))


def rent_relief(
    *,
    decision: str = "cleared",
    amount_fen: int = 2_700_000,
    acceptance_id: uuid.UUID | None = None,
    entitlement_id: uuid.UUID | None = None,
    uscc: str | None = None,
) -> CreditAssessed:
    reasons = (
        [
            CreditRecordRef(
                record_id="credit-9",
                list_type="credit.serious_dishonesty",
                department="credit",
                effective_date=date(2025, 1, 1),
            )
        ]
        if decision == "held"
        else []
    )
    return CreditAssessed(
        assessment_id=uuid.uuid4(),
        confirmation_id=uuid.uuid4(),
        acceptance_id=acceptance_id or uuid.uuid4(),
        entitlement_id=entitlement_id or uuid.uuid4(),
        uscc=uscc or testing.make_uscc(),
        enterprise_name="郑州示例商贸有限公司",
        policy_id=RENT_POLICY,
        policy_version=2,
        amount_fen=amount_fen,
        benefit_kind="rent_reduction",
        bank_account=None,
        decision=decision,  # type: ignore[arg-type]
        reasons=reasons,
        assessed_at=NOW,
    )


async def _record(repo: FakeInstructionRepository, event: CreditAssessed) -> ExecutionInstruction:
    return await instructions.record_assessment(repo, assessed=event, correlation_id="c-1", now=NOW)


async def _acknowledge(
    repo: FakeInstructionRepository,
    instruction: ExecutionInstruction,
    emit: Emitted,
    *,
    department: str = "gzw",
    reference: str = "GZW-2026-0091",
    amount_fen: int | None = None,
    note: str | None = None,
) -> ExecutionInstruction:
    return await instructions.acknowledge(
        repo,
        department=department,
        instruction_id=instruction.instruction_id,
        reference=reference,
        executed_on=date(2026, 11, 30),
        amount_fen=instruction.amount_fen if amount_fen is None else amount_fen,
        note=note,
        now=NOW,
        emit=emit,
    )


async def test_a_cleared_rent_reduction_becomes_an_instruction_to_the_policys_department() -> None:
    repo = FakeInstructionRepository()
    event = rent_relief()
    instruction = await _record(repo, event)
    assert (instruction.status, instruction.executing_department) == ("issued", "gzw")
    assert (instruction.amount_fen, instruction.acceptance_id, instruction.uscc) == (
        2_700_000,
        event.acceptance_id,
        event.uscc,
    )


async def test_a_cash_award_is_not_an_instruction() -> None:
    cash = rent_relief().model_copy(update={"benefit_kind": "cash_award"})
    assert not instructions.is_non_cash(cash)
    assert instructions.is_non_cash(rent_relief())


async def test_the_same_decision_redelivered_leaves_one_instruction() -> None:
    repo = FakeInstructionRepository()
    event = rent_relief()
    first = await _record(repo, event)
    again = await _record(repo, event)
    assert again is first
    assert len(repo.instructions) == 1


async def test_a_held_instruction_waits_until_a_later_cleared_decision_on_the_same_acceptance() -> None:
    repo = FakeInstructionRepository()
    held = rent_relief(decision="held")
    instruction = await _record(repo, held)
    assert instruction.status == "held"
    assert instruction.hold_reasons[0]["record_id"] == "credit-9"
    assert await instructions.department_instructions(repo, department="gzw", status=None) == []

    cleared = rent_relief(acceptance_id=held.acceptance_id, entitlement_id=held.entitlement_id, uscc=held.uscc)
    released = await _record(repo, cleared)
    assert released is instruction
    assert (released.status, released.hold_reasons, released.issued_at) == ("issued", [], NOW)


async def test_a_policy_without_an_executing_department_is_refused() -> None:
    repo = FakeInstructionRepository(departments={})
    with pytest.raises(Rejected) as refused:
        await _record(repo, rent_relief())
    assert refused.value.reason == "executing_department_unknown"
    assert "实施部门" in refused.value.message


async def test_a_zero_reduction_is_refused() -> None:
    with pytest.raises(Rejected) as refused:
        await _record(FakeInstructionRepository(), rent_relief(amount_fen=0))
    assert refused.value.reason == "zero_amount"


async def test_acknowledging_emits_benefit_executed_once_even_when_repeated() -> None:
    repo, emit = FakeInstructionRepository(), Emitted()
    instruction = await _record(repo, rent_relief())
    await _acknowledge(repo, instruction, emit, note="已按合同减免")
    again = await _acknowledge(repo, instruction, emit, note="已按合同减免")
    assert again.status == "acknowledged"
    ((event, key),) = emit.events
    assert isinstance(event, BenefitExecuted)
    assert (event.executed_by, event.reference, event.amount_fen, key) == (
        "gzw",
        "GZW-2026-0091",
        2_700_000,
        instruction.uscc,
    )
    # 30 November in Zhengzhou begins at 16:00 UTC the day before.
    assert event.executed_at == datetime(2026, 11, 29, 16, tzinfo=UTC)


async def test_a_different_acknowledgement_after_the_first_is_a_conflict() -> None:
    repo, emit = FakeInstructionRepository(), Emitted()
    instruction = await _record(repo, rent_relief())
    await _acknowledge(repo, instruction, emit)
    with pytest.raises(ProblemError) as conflict:
        await _acknowledge(repo, instruction, emit, reference="GZW-2026-0092")
    assert (conflict.value.status, conflict.value.code) == (409, "instruction_already_acknowledged")
    assert len(emit.events) == 1


async def test_an_amount_other_than_the_instructions_is_refused_in_chinese() -> None:
    repo, emit = FakeInstructionRepository(), Emitted()
    instruction = await _record(repo, rent_relief())
    with pytest.raises(ProblemError) as mismatch:
        await _acknowledge(repo, instruction, emit, amount_fen=2_600_000)
    assert (mismatch.value.status, mismatch.value.code) == (422, "amount_mismatch")
    assert "27,000.00元" in mismatch.value.detail and "26,000.00元" in mismatch.value.detail
    assert instruction.status == "issued"
    assert emit.events == []


async def test_another_department_cannot_see_or_answer_the_instruction() -> None:
    repo, emit = FakeInstructionRepository(), Emitted()
    instruction = await _record(repo, rent_relief())
    with pytest.raises(ProblemError) as absent:
        await _acknowledge(repo, instruction, emit, department="gxj")
    assert (absent.value.status, absent.value.code) == (404, "instruction_not_found")
    assert await instructions.department_instructions(repo, department="gxj", status="issued") == []
    assert await instructions.department_instructions(repo, department="gzw", status="issued") == [instruction]


async def test_a_refusal_is_kept_with_its_reason_and_blocks_a_later_acknowledgement() -> None:
    repo, emit = FakeInstructionRepository(), Emitted()
    instruction = await _record(repo, rent_relief())
    await instructions.refuse(
        repo, department="gzw", instruction_id=instruction.instruction_id, reason="租赁合同已解除", now=NOW
    )
    assert (instruction.status, instruction.refusal_reason) == ("refused", "租赁合同已解除")
    assert await instructions.instructions(repo, status="refused") == [instruction]
    with pytest.raises(ProblemError) as conflict:
        await _acknowledge(repo, instruction, emit)
    assert conflict.value.code == "instruction_refused"


async def test_a_revocation_before_acknowledgement_cancels_the_instruction() -> None:
    repo, emit = FakeInstructionRepository(), Emitted()
    event = rent_relief()
    instruction = await _record(repo, event)
    await instructions.cancel_for_revocation(repo, revoked=_revocation(event), now=NOW)
    assert instruction.status == "cancelled"
    assert "企业撤回确认" in (instruction.cancel_reason or "")
    with pytest.raises(ProblemError) as conflict:
        await _acknowledge(repo, instruction, emit)
    assert conflict.value.code == "instruction_cancelled"


async def test_a_revocation_after_acknowledgement_is_refused() -> None:
    repo, emit = FakeInstructionRepository(), Emitted()
    event = rent_relief()
    instruction = await _record(repo, event)
    await _acknowledge(repo, instruction, emit)
    with pytest.raises(Rejected) as refused:
        await instructions.cancel_for_revocation(repo, revoked=_revocation(event), now=NOW)
    assert refused.value.reason == "benefit_already_executed"
    assert instruction.status == "acknowledged"


async def test_a_revocation_that_overtook_the_decision_leaves_a_cancelled_instruction() -> None:
    repo = FakeInstructionRepository()
    event = rent_relief()
    repo.revoked[event.acceptance_id] = "经营场所已搬迁"
    instruction = await _record(repo, event)
    assert instruction.status == "cancelled"
    assert await instructions.department_instructions(repo, department="gzw", status="issued") == []


async def test_a_newer_acceptance_supersedes_an_instruction_not_yet_carried_out() -> None:
    repo = FakeInstructionRepository()
    first = rent_relief()
    old = await _record(repo, first)
    new = await _record(repo, rent_relief(entitlement_id=first.entitlement_id, uscc=first.uscc))
    assert (old.status, new.status) == ("cancelled", "issued")


def _revocation(event: CreditAssessed) -> ConfirmationRevoked:
    return ConfirmationRevoked(
        uscc=event.uscc,
        confirmation_id=event.confirmation_id,
        acceptance_id=event.acceptance_id,
        entitlement_id=event.entitlement_id,
        reason="经营场所已搬迁",
        revoked_at=NOW,
    )
