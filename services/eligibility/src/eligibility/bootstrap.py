"""Composition root: the one place where eligibility is wired together."""

from __future__ import annotations

from eligibility.config import Settings
from eligibility.handlers import BATCH_HANDLERS, CONSUMED_TOPICS, HANDLERS
from eligibility.models import Base
from eligibility.worker import reevaluation_worker
from mianshen_shared.runtime import Runtime, build_runtime


def bootstrap(settings: Settings | None = None) -> Runtime:
    return build_runtime(
        settings or Settings(),
        Base.metadata,
        "eligibility.migrations",
        handlers=HANDLERS,
        batch_handlers=BATCH_HANDLERS,
        consumed_topics=CONSUMED_TOPICS,
        extra_tasks=[reevaluation_worker],
    )
