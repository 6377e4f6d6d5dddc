"""Load the city's policy documents into the catalogue and publish them.

    python -m policy_catalog.seed [DIR]      (default: <repo>/policies/zhengzhou)

Runs against the configured database through the service layer, in one
transaction, so the `policy.published` events leave through the outbox like any
other. Each document takes the same path an operator's would: drafted and submitted
by `seed-editor` (so its test cases run), published by `seed-publisher` (separation
of duties), taking effect by the default rule — announced at once, unless the
document starts on a later day, which the running catalogue's announcer then waits
for. Running it again publishes nothing new; a file that changed without a new
version number is refused.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mianshen_shared.rules as rules
from mianshen_shared import db
from mianshen_shared.config import REPO_ROOT
from mianshen_shared.events.catalog import Payload
from mianshen_shared.problems import ProblemError
from policy_catalog import service
from policy_catalog.bootstrap import bootstrap
from policy_catalog.config import Settings
from policy_catalog.models import PolicyStatus
from policy_catalog.repository import PolicyRepository

DEFAULT_DIR = REPO_ROOT / "policies" / "zhengzhou"
EDITOR = "seed-editor"
PUBLISHER = "seed-publisher"


@dataclass
class SeedReport:
    published: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)


async def seed(directory: Path = DEFAULT_DIR, settings: Settings | None = None, *, migrate: bool = True) -> SeedReport:
    documents = rules.load_policy_dir(directory)
    runtime = bootstrap(settings)
    correlation_id = f"seed-{uuid.uuid4().hex}"
    report = SeedReport()
    try:
        if migrate:
            await db.migrate(runtime.migrations_package, runtime.settings.database_url)
        async with db.transaction(runtime.sessions) as session:

            async def emit(payload: Payload, *, key: str) -> Any:
                return await runtime.outbox.add(session, payload, key=key, correlation_id=correlation_id)

            repo = PolicyRepository(session)
            now = datetime.now(UTC)
            for document in documents:
                policy, _ = await service.create_policy(repo, document=document, actor=EDITOR, now=now)
                label = f"{policy.policy_id} v{policy.version}"
                if policy.status == PolicyStatus.RETIRED:
                    report.retired.append(label)
                elif policy.status == PolicyStatus.PUBLISHED:
                    report.unchanged.append(label)
                else:
                    policy_id, version = policy.policy_id, policy.version
                    await service.submit_policy(repo, policy_id=policy_id, version=version, actor=EDITOR, now=now)
                    await service.publish_policy(
                        repo, policy_id=policy_id, version=version, actor=PUBLISHER, emit=emit, now=now
                    )
                    report.published.append(label)
    finally:
        await runtime.engine.dispose()
    return report


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    directory = Path(args[0]) if args else DEFAULT_DIR
    if not directory.is_dir():
        print(f"政策文件目录不存在：{directory}", file=sys.stderr)
        return 2
    try:
        report = asyncio.run(seed(directory))
    except ProblemError as exc:
        print(f"政策文件导入失败：{exc.detail}", file=sys.stderr)
        for error in exc.extra.get("errors", []):
            print(f"  - {error['field']}: {error['message']}", file=sys.stderr)
        return 1
    except rules.PolicyInvalid as exc:
        print(f"政策文件无法读取：{exc}", file=sys.stderr)
        for error in exc.errors:
            print(f"  - {error}", file=sys.stderr)
        return 1
    for label in report.published:
        print(f"published {label}")
    print(
        f"policies: {len(report.published)} published, {len(report.unchanged)} already published, "
        f"{len(report.retired)} retired (left as they are)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
