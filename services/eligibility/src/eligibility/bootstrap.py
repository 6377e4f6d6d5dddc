"""Composition root: the one place where eligibility is wired together."""

from __future__ import annotations

from eligibility import supervision
from eligibility.config import Settings
from eligibility.handlers import BATCH_HANDLERS, CONSUMED_TOPICS, HANDLERS, count_refused_records
from eligibility.models import Base
from eligibility.repository import EligibilityRepository
from eligibility.worker import reevaluation_worker
from mianshen_shared import city as city_config
from mianshen_shared.db import transaction
from mianshen_shared.runtime import Runtime, build_runtime


def bootstrap(settings: Settings | None = None) -> Runtime:
    runtime = build_runtime(
        settings or Settings(),
        Base.metadata,
        "eligibility.migrations",
        handlers=HANDLERS,
        batch_handlers=BATCH_HANDLERS,
        consumed_topics=CONSUMED_TOPICS,
        extra_tasks=[reevaluation_worker],
    )
    runtime.on_dead_letter = count_refused_records(runtime.sessions)
    return runtime


async def export_feed_gauges(runtime: Runtime) -> None:
    """The feed gauges from the database at startup, so a restart does not make every
    department look silent (or a late one look fresh) until its next push."""
    city = city_config.current()
    supervision.export_schedules(city)
    async with transaction(runtime.sessions) as session:
        arrivals = await EligibilityRepository(session).last_arrivals()
    supervision.export_last_arrivals({d: t for d, t in arrivals.items() if d in city.departments})
