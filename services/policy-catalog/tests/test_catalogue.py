"""Unit tests of the policy catalogue's lifecycle, with an in-memory repository:
every allowed step, every refused one, separation of duties, effective dates and
what is in force on a day."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from mianshen_shared.config import REPO_ROOT
from mianshen_shared.events import make_envelope
from mianshen_shared.events.catalog import PolicyPublished, PolicyRetired
from mianshen_shared.problems import ProblemError
from policy_catalog import service
from policy_catalog.models import PolicyVersion

from .factories import POLICY_ID, document_whose_case_fails, policy_document
from .fakes import FakePolicyRepository, RecordingEmitter

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 25, 8, tzinfo=UTC)
TODAY = date(2026, 11, 25)  # NOW in Asia/Shanghai
EDITOR, REVIEWER, PUBLISHER = "li.editor", "wang.reviewer", "zhao.publisher"
CONTRACT = REPO_ROOT / "tests" / "contract"
PUBLISHED_SCHEMA = json.loads((CONTRACT / "schemas" / "policy.published.schema.json").read_text("utf-8"))
PUBLISHED_EXAMPLE = json.loads((CONTRACT / "examples" / "policy.published.json").read_text("utf-8"))


async def drafted(*documents: dict, actor: str = EDITOR) -> FakePolicyRepository:
    repo = FakePolicyRepository()
    for document in documents or (policy_document(),):
        await service.create_policy(repo, document=document, actor=actor, now=NOW)
    return repo


async def submitted(*documents: dict) -> FakePolicyRepository:
    repo = await drafted(*documents)
    for policy_id, version in list(repo.policies):
        await service.submit_policy(repo, policy_id=policy_id, version=version, actor=EDITOR, now=NOW)
    return repo


async def publish(
    repo: FakePolicyRepository,
    version: int = 1,
    *,
    actor: str = PUBLISHER,
    emit: RecordingEmitter | None = None,
    now: datetime = NOW,
    effective_from: date | None = None,
) -> PolicyVersion:
    return await service.publish_policy(
        repo,
        policy_id=POLICY_ID,
        version=version,
        actor=actor,
        emit=emit or RecordingEmitter(),
        now=now,
        effective_from=effective_from,
    )


async def refused(call) -> ProblemError:  # type: ignore[no-untyped-def]
    with pytest.raises(ProblemError) as err:
        await call
    return err.value


async def history(repo: FakePolicyRepository, version: int = 1) -> list[tuple[str, str | None, str, str]]:
    return [
        (t.action, t.from_status, t.to_status, t.actor) for t in await service.policy_history(repo, POLICY_ID, version)
    ]


# --- drafting -------------------------------------------------------------------


async def test_a_valid_document_is_stored_as_a_draft_by_its_editor() -> None:
    repo = FakePolicyRepository()
    policy, created = await service.create_policy(repo, document=policy_document(), actor=EDITOR, now=NOW)
    assert created
    assert (policy.policy_id, policy.version, policy.status, policy.title) == (
        POLICY_ID,
        1,
        "draft",
        "工业APP优秀解决方案奖励",
    )
    assert (policy.benefit_kind, policy.created_by, policy.created_at) == ("cash_award", EDITOR, NOW)
    assert await history(repo) == [("create", None, "draft", EDITOR)]


async def test_sending_the_identical_document_again_changes_nothing() -> None:
    repo = await drafted()
    policy, created = await service.create_policy(repo, document=policy_document(), actor=REVIEWER, now=NOW)
    assert not created
    assert len(repo.policies) == 1 and policy.status == "draft"
    assert len(await history(repo)) == 1


async def test_a_draft_may_be_replaced_and_the_edit_is_recorded() -> None:
    repo = await drafted()
    policy, created = await service.create_policy(
        repo, document=policy_document(per_item_fen=30_000_000), actor=REVIEWER, now=NOW
    )
    assert not created
    assert policy.document["award"]["amount_per_item_fen"] == 30_000_000
    assert await history(repo) == [("create", None, "draft", EDITOR), ("edit", "draft", "draft", REVIEWER)]


async def test_once_submitted_a_versions_document_is_frozen() -> None:
    repo = await submitted()
    err = await refused(service.create_policy(repo, document=policy_document(per_item_fen=1), actor=EDITOR, now=NOW))
    assert (err.status, err.code, err.extra["policy_status"]) == (409, "policy_version_conflict", "submitted")


async def test_an_invalid_document_is_refused_with_every_fault_listed() -> None:
    document = policy_document() | {"list_no": 0, "surprise": True}
    err = await refused(service.create_policy(FakePolicyRepository(), document=document, actor=EDITOR, now=NOW))
    assert (err.status, err.code) == (422, "policy_invalid")
    assert len(err.extra["errors"]) == 2
    assert {e["field"] for e in err.extra["errors"]} == {"surprise", "list_no"}


# --- submitting -------------------------------------------------------------------


async def test_submitting_a_draft_whose_cases_pass_puts_it_up_for_review() -> None:
    repo = await drafted()
    policy = await service.submit_policy(repo, policy_id=POLICY_ID, version=1, actor=EDITOR, now=NOW)
    assert (policy.status, policy.submitted_by, policy.submitted_at) == ("submitted", EDITOR, NOW)
    again = await service.submit_policy(repo, policy_id=POLICY_ID, version=1, actor=REVIEWER, now=NOW)
    assert again.submitted_by == EDITOR, "submitting twice changes nothing"
    assert await history(repo) == [("create", None, "draft", EDITOR), ("submit", "draft", "submitted", EDITOR)]


async def test_submitting_a_draft_that_no_longer_compiles_is_refused_with_the_place_of_each_fault() -> None:
    repo = FakePolicyRepository()
    broken = policy_document() | {"record_types": ["miit.not_in_the_city"]}
    # A draft stored under an earlier city configuration that has since dropped the record type.
    await repo.add(
        PolicyVersion(
            policy_id=POLICY_ID,
            version=1,
            status="draft",
            title="x",
            benefit_kind="cash_award",
            document=broken,
            created_at=NOW,
            created_by=EDITOR,
        )
    )
    err = await refused(service.submit_policy(repo, policy_id=POLICY_ID, version=1, actor=EDITOR, now=NOW))
    assert (err.status, err.code) == (422, "policy_invalid")
    assert any(e["field"] == "record_types[0]" for e in err.extra["errors"])
    assert repo.policies[(POLICY_ID, 1)].status == "draft"


async def test_run_cases__a_document_whose_case_fails_cannot_be_submitted() -> None:
    repo = await drafted(document_whose_case_fails())
    err = await refused(service.submit_policy(repo, policy_id=POLICY_ID, version=1, actor=EDITOR, now=NOW))
    assert (err.status, err.code) == (422, "policy_invalid")
    [failure] = err.extra["errors"]
    assert failure["field"] == "cases[0]（获评一个解决方案，奖励一次）"
    assert "30万元" in failure["message"] and "20万元" in failure["message"]
    assert repo.policies[(POLICY_ID, 1)].status == "draft"
    assert [a for a, *_ in await history(repo)] == ["create"]


async def test_run_cases__a_document_with_fewer_than_three_cases_cannot_be_submitted() -> None:
    repo = await drafted(policy_document(cases=[]))
    err = await refused(service.submit_policy(repo, policy_id=POLICY_ID, version=1, actor=EDITOR, now=NOW))
    assert (err.status, err.code) == (422, "policy_invalid")
    assert any(e["field"] == "cases" and "至少应有3个测试用例" in e["message"] for e in err.extra["errors"])


async def test_withdrawing_and_rejecting_return_a_submission_to_draft_with_the_reason() -> None:
    repo = await submitted()
    await service.withdraw_submission(
        repo, policy_id=POLICY_ID, version=1, actor=EDITOR, reason="金额需与财政局复核", now=NOW
    )
    await service.submit_policy(repo, policy_id=POLICY_ID, version=1, actor=EDITOR, now=NOW)
    policy = await service.reject_submission(
        repo, policy_id=POLICY_ID, version=1, actor=REVIEWER, reason="缺少解读说明", now=NOW
    )
    assert (policy.status, policy.submitted_by) == ("draft", None)
    steps = await service.policy_history(repo, POLICY_ID, 1)
    assert [(t.action, t.to_status, t.reason) for t in steps[2:]] == [
        ("withdraw", "draft", "金额需与财政局复核"),
        ("submit", "submitted", None),
        ("reject", "draft", "缺少解读说明"),
    ]


@pytest.mark.parametrize("step", ["withdraw", "reject"])
async def test_only_a_submission_can_be_sent_back(step: str) -> None:
    repo = await drafted()
    send_back = service.withdraw_submission if step == "withdraw" else service.reject_submission
    err = await refused(send_back(repo, policy_id=POLICY_ID, version=1, actor=EDITOR, reason="x", now=NOW))
    assert (err.status, err.code) == (409, "policy_not_submitted")


async def test_a_published_version_cannot_be_submitted_again() -> None:
    repo = await submitted()
    await publish(repo)
    err = await refused(service.submit_policy(repo, policy_id=POLICY_ID, version=1, actor=EDITOR, now=NOW))
    assert (err.status, err.code) == (409, "policy_not_draft")


# --- publishing -------------------------------------------------------------------


async def test_publishing_announces_the_document_once_with_the_day_it_takes_effect() -> None:
    repo, emit = await submitted(), RecordingEmitter()
    policy = await publish(repo, emit=emit)
    await publish(repo, emit=emit)
    assert (policy.status, policy.published_at, policy.published_by) == ("published", NOW, PUBLISHER)
    [(event, key)] = emit.emitted
    assert isinstance(event, PolicyPublished)
    assert (key, event.policy_id, event.version, event.document) == (POLICY_ID, POLICY_ID, 1, policy_document())
    assert event.effective_from == policy.effective_from == TODAY
    assert (await history(repo))[-1] == ("publish", "submitted", "published", PUBLISHER)


async def test_the_published_event_matches_the_recorded_contract() -> None:
    repo, emit = await submitted(), RecordingEmitter()
    await publish(repo, emit=emit)
    [(event, _)] = emit.emitted
    body = json.loads(make_envelope(event, source="policy-catalog", subject=POLICY_ID, correlation_id="c").to_bytes())
    assert list(Draft202012Validator(PUBLISHED_SCHEMA, format_checker=FormatChecker()).iter_errors(body)) == []
    assert set(body["data"]) == set(PUBLISHED_EXAMPLE["data"])


async def test_publishing_a_draft_is_refused() -> None:
    repo = await drafted()
    err = await refused(publish(repo))
    assert (err.status, err.code) == (409, "policy_not_submitted")


@pytest.mark.parametrize("who", [EDITOR, "submitter"])
async def test_whoever_edited_or_submitted_a_version_cannot_publish_it(who: str) -> None:
    repo = await drafted()
    await service.submit_policy(repo, policy_id=POLICY_ID, version=1, actor="submitter", now=NOW)
    err = await refused(publish(repo, actor=who))
    assert (err.status, err.code, err.detail) == (403, "separation_of_duties", "编辑或提交该政策的人员不能发布该政策")
    assert repo.policies[(POLICY_ID, 1)].status == "submitted"


async def test_an_editor_from_an_earlier_review_round_still_cannot_publish() -> None:
    repo = await drafted()
    await service.create_policy(repo, document=policy_document(per_item_fen=1_000_000), actor="early.editor", now=NOW)
    await service.submit_policy(repo, policy_id=POLICY_ID, version=1, actor=EDITOR, now=NOW)
    await service.reject_submission(repo, policy_id=POLICY_ID, version=1, actor=REVIEWER, reason="金额有误", now=NOW)
    await service.create_policy(repo, document=policy_document(per_item_fen=2_000_000), actor=EDITOR, now=NOW)
    await service.submit_policy(repo, policy_id=POLICY_ID, version=1, actor=EDITOR, now=NOW)
    assert (await refused(publish(repo, actor="early.editor"))).code == "separation_of_duties"
    assert (await publish(repo, actor=REVIEWER)).status == "published", "who rejected may publish the resubmission"


async def test_publishing_a_retired_version_is_refused() -> None:
    repo, emit = await submitted(), RecordingEmitter()
    await publish(repo)
    await service.retire_policy(
        repo, policy_id=POLICY_ID, version=1, actor=PUBLISHER, reason="到期", emit=emit, now=NOW
    )
    err = await refused(publish(repo))
    assert (err.status, err.code) == (409, "policy_retired")


async def test_by_default_a_version_takes_effect_today_or_when_its_document_starts_if_later() -> None:
    repo = await submitted(
        policy_document(version=1),
        policy_document(version=2, effective_from="2027-03-01", effective_to=None, per_item_fen=1_000_000),
    )
    assert (await publish(repo, 1)).effective_from == TODAY, "a document that started in 2022 takes effect today"
    assert (await publish(repo, 2)).effective_from == date(2027, 3, 1)


async def test_a_version_cannot_take_effect_before_today() -> None:
    repo = await submitted()
    err = await refused(publish(repo, effective_from=TODAY - timedelta(days=1)))
    assert (err.status, err.code) == (422, "effective_from_in_past")
    assert repo.policies[(POLICY_ID, 1)].status == "submitted"


async def test_publishing_again_with_another_effective_date_is_a_conflict() -> None:
    repo = await submitted()
    await publish(repo, effective_from=TODAY + timedelta(days=5))
    assert (await publish(repo, effective_from=TODAY + timedelta(days=5))).status == "published"
    err = await refused(publish(repo, effective_from=TODAY + timedelta(days=6)))
    assert (err.status, err.code) == (409, "policy_already_published")


# --- in force on a day ------------------------------------------------------------


async def in_force_on(repo: FakePolicyRepository, day: date) -> int | None:
    found = await repo.in_force(day, POLICY_ID)
    return found[0].version if found else None


async def test_a_new_version_supersedes_the_previous_one_from_its_effective_date() -> None:
    repo = await submitted(policy_document(), policy_document(version=2, per_item_fen=30_000_000))
    assert await service.policies_in_force(repo, on=TODAY) == [], "a submitted version is not in force"
    await publish(repo, 1)
    await publish(repo, 2, effective_from=TODAY + timedelta(days=10))
    assert [await in_force_on(repo, TODAY + timedelta(days=d)) for d in (-1, 0, 9, 10, 400)] == [None, 1, 1, 2, 2]
    assert (await service.policy_in_force(repo, POLICY_ID, on=TODAY)).version == 1


async def test_retiring_a_published_version_announces_it_once_and_takes_the_policy_out_of_force() -> None:
    repo, emit = await submitted(), RecordingEmitter()
    await publish(repo)
    later = NOW + timedelta(days=3)
    for _ in range(2):
        await service.retire_policy(
            repo, policy_id=POLICY_ID, version=1, actor=PUBLISHER, reason="政策到期", emit=emit, now=later
        )
    retirements = [e for e, _ in emit.emitted if isinstance(e, PolicyRetired)]
    assert [(r.version, r.reason) for r in retirements] == [(1, "政策到期")]
    assert (repo.policies[(POLICY_ID, 1)].retired_by, repo.policies[(POLICY_ID, 1)].retired_on) == (
        PUBLISHER,
        TODAY + timedelta(days=3),
    )
    assert await service.policies_in_force(repo, on=TODAY + timedelta(days=3)) == []
    assert await in_force_on(repo, TODAY + timedelta(days=2)) == 1, "it was in force until the day it was retired"


async def test_retiring_the_newest_version_does_not_revive_the_previous_one() -> None:
    repo = await submitted(policy_document(), policy_document(version=2, per_item_fen=30_000_000))
    await publish(repo, 1)
    await publish(repo, 2)
    await service.retire_policy(
        repo, policy_id=POLICY_ID, version=2, actor=PUBLISHER, reason="撤销", emit=RecordingEmitter(), now=NOW
    )
    assert await in_force_on(repo, TODAY) is None


async def test_a_version_retired_before_it_took_effect_leaves_the_previous_one_in_force() -> None:
    repo = await submitted(policy_document(), policy_document(version=2, per_item_fen=30_000_000))
    await publish(repo, 1)
    await publish(repo, 2, effective_from=TODAY + timedelta(days=30))
    await service.retire_policy(
        repo, policy_id=POLICY_ID, version=2, actor=PUBLISHER, reason="发布有误", emit=RecordingEmitter(), now=NOW
    )
    assert await in_force_on(repo, TODAY + timedelta(days=60)) == 1


@pytest.mark.parametrize("stage", ["draft", "submitted"])
async def test_a_version_never_published_cannot_be_retired(stage: str) -> None:
    repo, emit = (await drafted() if stage == "draft" else await submitted()), RecordingEmitter()
    err = await refused(
        service.retire_policy(repo, policy_id=POLICY_ID, version=1, actor=PUBLISHER, reason="x", emit=emit, now=NOW)
    )
    assert (err.status, err.code, err.extra["policy_status"]) == (409, "policy_not_published", stage)
    assert emit.emitted == []


async def test_the_history_names_every_step_and_its_actor() -> None:
    repo = await submitted()
    await publish(repo)
    await service.retire_policy(
        repo, policy_id=POLICY_ID, version=1, actor="sun.operator", reason="到期", emit=RecordingEmitter(), now=NOW
    )
    assert await history(repo) == [
        ("create", None, "draft", EDITOR),
        ("submit", "draft", "submitted", EDITOR),
        ("publish", "submitted", "published", PUBLISHER),
        ("retire", "published", "retired", "sun.operator"),
    ]


@pytest.mark.parametrize(
    "action", ["submit", "withdraw", "reject", "publish", "retire", "version", "versions", "in_force", "history"]
)
async def test_an_unknown_policy_is_not_found(action: str) -> None:
    repo, emit = FakePolicyRepository(), RecordingEmitter()
    key = {"policy_id": "nope", "version": 1}
    calls = {
        "submit": lambda: service.submit_policy(repo, **key, actor=EDITOR, now=NOW),
        "withdraw": lambda: service.withdraw_submission(repo, **key, actor=EDITOR, reason="x", now=NOW),
        "reject": lambda: service.reject_submission(repo, **key, actor=EDITOR, reason="x", now=NOW),
        "publish": lambda: service.publish_policy(repo, **key, actor=EDITOR, emit=emit, now=NOW),
        "retire": lambda: service.retire_policy(repo, **key, actor=EDITOR, reason="x", emit=emit, now=NOW),
        "version": lambda: service.policy_version(repo, "nope", 1),
        "versions": lambda: service.policy_versions(repo, "nope"),
        "in_force": lambda: service.policy_in_force(repo, "nope", on=TODAY),
        "history": lambda: service.policy_history(repo, "nope", 1),
    }
    err = await refused(calls[action]())
    assert (err.status, err.code) == (404, "policy_not_found")
