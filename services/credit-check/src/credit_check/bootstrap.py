"""Composition root: the one place where credit-check is wired together."""

from __future__ import annotations

from credit_check.config import Settings
from credit_check.handlers import CONSUMED_TOPICS, HANDLERS
from credit_check.models import Base
from credit_check.sweeper import release_sweeper
from mianshen_shared.runtime import Runtime, build_runtime


def bootstrap(settings: Settings | None = None) -> Runtime:
    return build_runtime(
        settings or Settings(),
        Base.metadata,
        "credit_check.migrations",
        handlers=HANDLERS,
        consumed_topics=CONSUMED_TOPICS,
        extra_tasks=[release_sweeper],
    )
