"""Unit tests of announcing: a published version reaches `policies` on the day it
takes effect, once, in version order, and never if it is retired before that day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from mianshen_shared.events.catalog import PolicyPublished, PolicyRetired
from policy_catalog import service
from policy_catalog.models import PolicyVersion

from .factories import POLICY_ID, policy_document
from .fakes import FakePolicyRepository, RecordingEmitter

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 25, 8, tzinfo=UTC)
TODAY = date(2026, 11, 25)  # NOW in Asia/Shanghai
NEW_YEAR = date(2027, 1, 1)
EDITOR, PUBLISHER = "li.editor", "zhao.publisher"


async def submitted(*versions: int) -> FakePolicyRepository:
    repo = FakePolicyRepository()
    for version in versions or (1,):
        document = policy_document(version=version, per_item_fen=10_000_000 * version)
        await service.create_policy(repo, document=document, actor=EDITOR, now=NOW)
        await service.submit_policy(repo, policy_id=POLICY_ID, version=version, actor=EDITOR, now=NOW)
    return repo


async def publish(
    repo: FakePolicyRepository, version: int, emit: RecordingEmitter, *, effective_from: date | None = None
) -> PolicyVersion:
    return await service.publish_policy(
        repo, policy_id=POLICY_ID, version=version, actor=PUBLISHER, emit=emit, now=NOW, effective_from=effective_from
    )


async def retire(repo: FakePolicyRepository, version: int, emit: RecordingEmitter, *, now: datetime = NOW) -> None:
    await service.retire_policy(
        repo, policy_id=POLICY_ID, version=version, actor=PUBLISHER, reason="发布有误", emit=emit, now=now
    )


async def announce_due(repo: FakePolicyRepository, emit: RecordingEmitter, today: date) -> list[int]:
    """What the announcer does in one round, one version at a time; the versions announced."""
    now = datetime.combine(today, datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)
    announced = []
    while (policy := await service.announce_next_due(repo, emit=emit, today=today, now=now)) is not None:
        announced.append(policy.version)
    return announced


def publications(emit: RecordingEmitter) -> list[tuple[int, date | None]]:
    return [(e.version, e.effective_from) for e, _ in emit.emitted if isinstance(e, PolicyPublished)]


async def test_a_version_taking_effect_today_is_announced_when_it_is_published() -> None:
    repo, emit = await submitted(), RecordingEmitter()
    policy = await publish(repo, 1, emit)
    assert publications(emit) == [(1, TODAY)]
    assert policy.announced_at == NOW
    assert service.status_text(policy.status, effective_from=TODAY, announced_at=policy.announced_at) == "已发布"
    assert await announce_due(repo, emit, TODAY) == [], "nothing is left to announce"


async def test_a_version_taking_effect_later_is_published_but_not_yet_announced() -> None:
    repo, emit = await submitted(), RecordingEmitter()
    policy = await publish(repo, 1, emit, effective_from=NEW_YEAR)
    assert (policy.status, policy.announced_at, emit.emitted) == ("published", None, [])
    assert service.status_text("published", effective_from=NEW_YEAR, announced_at=None) == "已发布，2027-01-01起施行"
    assert await announce_due(repo, emit, TODAY) == []
    assert await announce_due(repo, emit, NEW_YEAR - timedelta(days=1)) == [], "not the day before"
    assert emit.emitted == []


async def test_a_version_is_announced_when_its_day_comes_with_its_publication_time() -> None:
    repo, emit = await submitted(), RecordingEmitter()
    await publish(repo, 1, emit, effective_from=NEW_YEAR)
    assert await announce_due(repo, emit, NEW_YEAR) == [1]
    [(event, key)] = emit.emitted
    assert isinstance(event, PolicyPublished)
    assert (key, event.version, event.effective_from, event.published_at) == (POLICY_ID, 1, NEW_YEAR, NOW)
    assert event.document == policy_document(version=1, per_item_fen=10_000_000)
    announced_at = repo.policies[(POLICY_ID, 1)].announced_at
    assert announced_at is not None and service.shanghai_date(announced_at) == NEW_YEAR


async def test_a_version_whose_day_passed_unnoticed_is_announced_on_the_next_round() -> None:
    repo, emit = await submitted(), RecordingEmitter()
    await publish(repo, 1, emit, effective_from=NEW_YEAR)
    assert await announce_due(repo, emit, NEW_YEAR + timedelta(days=3)) == [1]


async def test_running_the_announcer_twice_announces_a_version_once() -> None:
    repo, emit = await submitted(), RecordingEmitter()
    await publish(repo, 1, emit, effective_from=NEW_YEAR)
    assert await announce_due(repo, emit, NEW_YEAR) == [1]
    assert await announce_due(repo, emit, NEW_YEAR) == []
    assert await announce_due(repo, emit, NEW_YEAR + timedelta(days=1)) == []
    assert publications(emit) == [(1, NEW_YEAR)]


async def test_versions_due_together_are_announced_in_version_order() -> None:
    repo, emit = await submitted(1, 2), RecordingEmitter()
    # Version 2 published first and taking effect first: the order announced is still 1, then 2.
    await publish(repo, 2, emit, effective_from=NEW_YEAR)
    await publish(repo, 1, emit, effective_from=NEW_YEAR + timedelta(days=5))
    assert await announce_due(repo, emit, NEW_YEAR + timedelta(days=10)) == [1, 2]
    assert publications(emit) == [(1, NEW_YEAR + timedelta(days=5)), (2, NEW_YEAR)]


async def test_a_version_retired_before_its_day_is_never_announced_nor_its_retirement() -> None:
    repo, emit = await submitted(1, 2), RecordingEmitter()
    await publish(repo, 1, emit)
    await publish(repo, 2, emit, effective_from=NEW_YEAR)
    await retire(repo, 2, emit, now=NOW + timedelta(days=3))
    for day in (NEW_YEAR, NEW_YEAR + timedelta(days=30)):
        assert await announce_due(repo, emit, day) == []
    assert [(type(e).__name__, e.version) for e, _ in emit.emitted] == [("PolicyPublished", 1)], (
        "eligibility keeps version 1, which stays in force"
    )
    assert repo.policies[(POLICY_ID, 2)].announced_at is None


async def test_retiring_an_announced_version_announces_the_retirement() -> None:
    repo, emit = await submitted(), RecordingEmitter()
    await publish(repo, 1, emit, effective_from=NEW_YEAR)
    await announce_due(repo, emit, NEW_YEAR)
    await retire(repo, 1, emit, now=datetime(2027, 2, 1, 8, tzinfo=UTC))
    assert [(type(e).__name__, e.version) for e, _ in emit.emitted] == [("PolicyPublished", 1), ("PolicyRetired", 1)]


async def test_retiring_a_version_whose_day_came_before_the_announcer_did_announces_only_the_retirement() -> None:
    repo, emit = await submitted(1, 2), RecordingEmitter()
    await publish(repo, 1, emit)
    await publish(repo, 2, emit, effective_from=NEW_YEAR)
    await retire(repo, 2, emit, now=datetime(2027, 1, 1, 2, tzinfo=UTC))  # 10:00 on its first day
    assert await announce_due(repo, emit, NEW_YEAR) == []
    # The catalogue counts version 2 as having taken effect, so version 1 is out of force too.
    assert [(type(e).__name__, e.version) for e, _ in emit.emitted] == [("PolicyPublished", 1), ("PolicyRetired", 2)]
    assert await repo.in_force(NEW_YEAR, POLICY_ID) == []
    retirement = emit.emitted[-1][0]
    assert isinstance(retirement, PolicyRetired) and retirement.reason == "发布有误"


@pytest.mark.parametrize(
    ("status", "announced", "text"),
    [
        ("draft", False, "草稿"),
        ("submitted", False, "待审核"),
        ("published", False, "已发布，2027-01-01起施行"),
        ("published", True, "已发布"),
        ("retired", False, "已废止"),
    ],
)
def test_the_status_text_names_the_day_a_waiting_version_takes_effect(status: str, announced: bool, text: str) -> None:
    announced_at = NOW if announced else None
    assert service.status_text(status, effective_from=NEW_YEAR, announced_at=announced_at) == text
