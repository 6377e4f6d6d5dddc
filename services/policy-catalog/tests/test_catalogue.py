"""Unit tests of the policy catalogue's rules, with an in-memory repository."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mianshen_shared.events.catalog import PolicyPublished, PolicyRetired
from mianshen_shared.problems import ProblemError
from policy_catalog import service

from .factories import POLICY_ID, policy_document
from .fakes import FakePolicyRepository, RecordingEmitter

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 25, 8, tzinfo=UTC)


async def drafted(*documents: dict) -> FakePolicyRepository:
    repo = FakePolicyRepository()
    for document in documents or (policy_document(),):
        await service.create_policy(repo, document=document, now=NOW)
    return repo


async def test_a_valid_document_is_stored_as_a_draft() -> None:
    policy, created = await service.create_policy(FakePolicyRepository(), document=policy_document(), now=NOW)
    assert created
    assert (policy.policy_id, policy.version, policy.status, policy.title) == (
        POLICY_ID,
        1,
        "draft",
        "工业APP优秀解决方案奖励",
    )
    assert policy.benefit_kind == "cash_award"


async def test_submitting_the_identical_document_again_changes_nothing() -> None:
    repo = await drafted()
    policy, created = await service.create_policy(repo, document=policy_document(), now=NOW)
    assert not created
    assert len(repo.policies) == 1 and policy.status == "draft"


async def test_a_different_document_under_an_existing_version_is_a_conflict() -> None:
    repo = await drafted()
    with pytest.raises(ProblemError) as err:
        await service.create_policy(repo, document=policy_document(per_item_fen=1), now=NOW)
    assert (err.value.status, err.value.code) == (409, "policy_version_conflict")


async def test_an_invalid_document_is_refused_with_every_fault_listed() -> None:
    document = policy_document() | {"list_no": 0, "surprise": True}
    with pytest.raises(ProblemError) as err:
        await service.create_policy(FakePolicyRepository(), document=document, now=NOW)
    assert (err.value.status, err.value.code) == (422, "policy_invalid")
    assert len(err.value.extra["errors"]) == 2
    assert any("surprise" in e for e in err.value.extra["errors"])


async def test_publishing_announces_the_document_once() -> None:
    repo, emit = await drafted(), RecordingEmitter()
    policy = await service.publish_policy(repo, policy_id=POLICY_ID, version=1, emit=emit, now=NOW)
    await service.publish_policy(repo, policy_id=POLICY_ID, version=1, emit=emit, now=NOW)
    assert (policy.status, policy.published_at) == ("published", NOW)
    [(event, key)] = emit.emitted
    assert isinstance(event, PolicyPublished)
    assert (key, event.policy_id, event.version, event.document) == (POLICY_ID, POLICY_ID, 1, policy_document())


async def test_retiring_a_published_version_announces_it_once() -> None:
    repo, emit = await drafted(), RecordingEmitter()
    await service.publish_policy(repo, policy_id=POLICY_ID, version=1, emit=emit, now=NOW)
    await service.retire_policy(repo, policy_id=POLICY_ID, version=1, reason="政策到期", emit=emit, now=NOW)
    await service.retire_policy(repo, policy_id=POLICY_ID, version=1, reason="政策到期", emit=emit, now=NOW)
    retirements = [e for e, _ in emit.emitted if isinstance(e, PolicyRetired)]
    assert [(r.version, r.reason) for r in retirements] == [(1, "政策到期")]
    assert await service.policies_in_force(repo) == []


async def test_retiring_a_draft_announces_nothing_and_it_can_no_longer_be_published() -> None:
    repo, emit = await drafted(), RecordingEmitter()
    await service.retire_policy(repo, policy_id=POLICY_ID, version=1, reason="起草有误", emit=emit, now=NOW)
    assert emit.emitted == []
    with pytest.raises(ProblemError) as err:
        await service.publish_policy(repo, policy_id=POLICY_ID, version=1, emit=emit, now=NOW)
    assert (err.value.status, err.value.code) == (409, "policy_retired")


async def test_the_newest_published_version_is_the_one_in_force() -> None:
    repo, emit = (
        await drafted(policy_document(), policy_document(version=2, per_item_fen=30_000_000)),
        RecordingEmitter(),
    )
    await service.publish_policy(repo, policy_id=POLICY_ID, version=1, emit=emit, now=NOW)
    assert (await service.policy_in_force(repo, POLICY_ID)).version == 1, "a draft is not in force"
    await service.publish_policy(repo, policy_id=POLICY_ID, version=2, emit=emit, now=NOW)
    assert (await service.policy_in_force(repo, POLICY_ID)).version == 2


@pytest.mark.parametrize("action", ["publish", "retire", "versions", "in_force"])
async def test_an_unknown_policy_is_not_found(action: str) -> None:
    repo, emit = FakePolicyRepository(), RecordingEmitter()
    calls = {
        "publish": lambda: service.publish_policy(repo, policy_id="nope", version=1, emit=emit, now=NOW),
        "retire": lambda: service.retire_policy(repo, policy_id="nope", version=1, reason="x", emit=emit, now=NOW),
        "versions": lambda: service.policy_versions(repo, "nope"),
        "in_force": lambda: service.policy_in_force(repo, "nope"),
    }
    with pytest.raises(ProblemError) as err:
        await calls[action]()
    assert (err.value.status, err.value.code) == (404, "policy_not_found")
