"""Unit tests of background re-evaluation: a policy's enterprises re-checked in chunks,
with progress, resumable after a crash, never announcing a change twice; and the
"why (not)?" assessment."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eligibility import service
from eligibility.models import ReevaluationJob
from mianshen_shared import city, testing
from mianshen_shared.events.catalog import EntitlementDetermined
from mianshen_shared.problems import ProblemError

from .factories import (
    SPECIALIZED_SME_POLICY,
    city_policy,
    payment_for,
    published,
    retired,
    title_record,
)
from .fakes import FakeEligibilityRepository, run_jobs

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 25, 8, tzinfo=UTC)
ZHENGZHOU = city.current()
SME = city_policy(SPECIALIZED_SME_POLICY)


class WorkerKilled(Exception):
    pass


async def enterprises_with_titles(
    count: int = 0, *, usccs: list[str] | None = None
) -> tuple[FakeEligibilityRepository, list[str]]:
    """Enterprises whose titles arrived before the policy was published: only a job finds them."""
    repo = FakeEligibilityRepository()
    usccs = sorted(usccs or (testing.make_uscc() for _ in range(count)))
    for uscc in usccs:
        await service.record_submitted(repo, city=ZHENGZHOU, record=title_record(uscc), now=NOW)
    return repo, usccs


async def queue(repo: FakeEligibilityRepository, document: dict[str, Any] = SME) -> ReevaluationJob:
    job = await service.policy_published(repo, event=published(document), now=NOW, correlation_id="c-publish")
    assert job is not None
    return job


async def chunk(repo: FakeEligibilityRepository, job: ReevaluationJob, batch: int = 3) -> list[EntitlementDetermined]:
    done = await service.reevaluate_next_chunk(repo, job_id=job.job_id, batch=batch, now=NOW)
    assert done is not None
    return done.determinations


def progress(job: ReevaluationJob) -> tuple[str, int, int, int]:
    return (job.status, job.done, job.total, job.determinations)


def announced(events: list[EntitlementDetermined]) -> list[tuple[str, str, str, int]]:
    return sorted((e.uscc, e.award_key, e.change, e.amount_fen) for e in events)


async def test_publishing_queues_a_job_and_determines_nothing_in_the_handler() -> None:
    repo, _ = await enterprises_with_titles(2)
    job = await queue(repo)
    assert (job.policy_id, job.policy_version, job.reason, job.status, job.correlation_id) == (
        SME["id"],
        1,
        "published",
        "queued",
        "c-publish",
    )
    assert repo.entitlements == {}


async def test_a_job_goes_through_the_enterprises_in_chunks_with_visible_progress() -> None:
    repo, usccs = await enterprises_with_titles(7)
    job = await queue(repo)

    first = await chunk(repo, job)
    assert progress(job) == ("running", 3, 7, 3)
    assert [e.uscc for e in first] == usccs[:3]
    await chunk(repo, job)
    assert progress(job) == ("running", 6, 7, 6)
    last = await chunk(repo, job)
    assert progress(job) == ("done", 7, 7, 7)
    assert [e.uscc for e in last] == usccs[6:]
    assert job.finished_at == NOW
    assert await service.reevaluate_next_chunk(repo, job_id=job.job_id, batch=3, now=NOW) is None


async def test_a_worker_killed_after_a_chunk_resumes_there_and_announces_each_change_once() -> None:
    reference_repo, usccs = await enterprises_with_titles(8)
    reference_job = await queue(reference_repo)
    reference = await run_jobs(reference_repo, batch=3)

    repo, _ = await enterprises_with_titles(usccs=usccs)
    job = await queue(repo)
    committed: list[EntitlementDetermined] = []
    with pytest.raises(WorkerKilled):
        for n in range(1, 4):
            committed += await chunk(repo, job)
            if n == 2:
                raise WorkerKilled
    assert progress(job) == ("running", 6, 8, 6)

    committed += await run_jobs(repo, batch=3)  # a new worker picks the job up

    assert progress(job) == progress(reference_job) == ("done", 8, 8, 8)
    assert len({e.uscc for e in committed}) == len(committed) == 8, "an enterprise was announced twice"
    assert announced(committed) == announced(reference)


async def test_running_a_chunk_again_announces_nothing_new() -> None:
    repo, usccs = await enterprises_with_titles(5)
    job = await queue(repo)
    first = await chunk(repo, job)
    # Worse than any real crash: the chunk's entitlements were kept but its progress was lost.
    job.cursor, job.done, job.determinations = None, 0, 0

    assert await chunk(repo, job) == []
    assert progress(job) == ("running", 3, 5, 0)
    rest = await run_jobs(repo, batch=3)
    assert [e.uscc for e in first + rest] == usccs
    assert {e.change for e in first + rest} == {"new"}


async def test_enterprises_that_get_their_first_facts_during_a_run_are_counted_as_they_come() -> None:
    repo, usccs = await enterprises_with_titles(3)
    job = await queue(repo)
    await chunk(repo, job, batch=2)
    # Sorts after every enterprise done so far, so the running job still reaches it.
    late = next(u for u in (testing.make_uscc() for _ in range(200)) if u > max(usccs))
    await service.record_submitted(repo, city=ZHENGZHOU, record=title_record(late), now=NOW)
    await run_jobs(repo, batch=2)
    assert progress(job) == ("done", 4, 4, 3), "the late enterprise was determined by its own record"


async def test_a_newer_publication_supersedes_the_open_job_and_an_older_one_queues_nothing() -> None:
    repo, _ = await enterprises_with_titles(4)
    first = await queue(repo)
    await chunk(repo, first)
    second = await queue(repo, SME | {"version": 2})
    assert (first.status, first.finished_at) == ("superseded", NOW)
    assert (second.status, second.policy_version) == ("queued", 2)
    assert await service.policy_published(repo, event=published(SME), now=NOW, correlation_id="c") is None
    assert [j.status for j in repo.jobs.values()] == ["superseded", "queued"]


async def test_retiring_queues_a_withdrawal_job_that_skips_paid_entitlements() -> None:
    repo, usccs = await enterprises_with_titles(4)
    await queue(repo)
    await run_jobs(repo)
    paid = next(r for r in repo.entitlements.values() if r.uscc == usccs[0])
    await service.payment_issued(repo, payment=payment_for(paid), event_id="e-1", now=NOW)
    job = await service.policy_retired(repo, event=retired(SME, "政策到期"), now=NOW, correlation_id="c-retire")
    assert job is not None and job.reason == "retired"

    events = await run_jobs(repo, batch=2)

    assert sorted((e.uscc, e.change) for e in events) == [(u, "withdrawn") for u in usccs[1:]]
    assert progress(job) == ("done", 3, 3, 3), "the paid enterprise is not even visited"
    assert repo.entitlements[paid.entitlement_id].status == "active"


async def test_an_operator_can_check_a_policy_again_but_not_while_it_is_being_checked() -> None:
    repo, _ = await enterprises_with_titles(2)
    await queue(repo)
    with pytest.raises(ProblemError) as busy:
        await service.request_reevaluation(repo, policy_id=SME["id"], now=NOW, correlation_id="c-op")
    assert (busy.value.status, busy.value.code) == (409, "reevaluation_in_progress")
    await run_jobs(repo)

    job = await service.request_reevaluation(repo, policy_id=SME["id"], now=NOW, correlation_id="c-op")
    assert (job.reason, job.status, job.correlation_id) == ("manual", "queued", "c-op")
    assert await run_jobs(repo) == [], "nothing changed since the last check"
    assert progress(job) == ("done", 2, 2, 0)
    with pytest.raises(ProblemError) as unknown:
        await service.request_reevaluation(repo, policy_id="zz-no-such-policy", now=NOW, correlation_id="c-op")
    assert (unknown.value.status, unknown.value.code) == (404, "policy_not_found")


async def test_a_failed_job_keeps_its_progress_and_says_why() -> None:
    repo, _ = await enterprises_with_titles(4)
    job = await queue(repo)
    await chunk(repo, job)
    later = NOW + timedelta(minutes=1)
    await service.fail_job(repo, job_id=job.job_id, error="政策无法适用", now=later)
    assert (job.status, job.done, job.last_error, job.finished_at) == ("failed", 3, "政策无法适用", later)
    assert await service.reevaluate_next_chunk(repo, job_id=job.job_id, batch=3, now=NOW) is None


async def test_a_job_for_an_unknown_job_id_does_nothing() -> None:
    repo, _ = await enterprises_with_titles(1)
    assert await service.reevaluate_next_chunk(repo, job_id=uuid.uuid4(), batch=3, now=NOW) is None


# --- "why (not)?" --------------------------------------------------------------------------


async def test_the_assessment_shows_the_checks_the_facts_and_what_was_paid() -> None:
    repo, [uscc, other] = await enterprises_with_titles(2)
    await queue(repo)
    [determined] = [e for e in await run_jobs(repo) if e.uscc == uscc]
    await service.payment_issued(repo, payment=payment_for(determined), event_id="e-1", now=NOW)

    result = await service.assess(repo, uscc=uscc, policy_id=SME["id"])

    assert (result.assessment.policy_id, result.assessment.policy_version) == (SME["id"], 1)
    assert result.assessment.awards == [], "the paid award is not payable again"
    assert result.assessment.checks, "the engine explains itself"
    assert all(f.uscc == uscc for f in result.facts) and len(result.facts) == 1
    assert [(h.award_key, h.amount_fen) for h in result.history] == [("once", determined.amount_fen)]
    unpaid = await service.assess(repo, uscc=other, policy_id=SME["id"])
    assert (unpaid.assessment.eligible, [a.amount_fen for a in unpaid.assessment.awards]) == (True, [200_000_000])
    assert unpaid.history == []


async def test_there_is_no_assessment_under_an_unknown_or_retired_policy() -> None:
    repo, [uscc] = await enterprises_with_titles(1)
    await queue(repo)
    await service.policy_retired(repo, event=retired(SME), now=NOW, correlation_id="c")
    for policy_id in (SME["id"], "zz-no-such-policy"):
        with pytest.raises(ProblemError) as err:
            await service.assess(repo, uscc=uscc, policy_id=policy_id)
        assert (err.value.status, err.value.code) == (404, "policy_not_found")
