"""Bring one service's database to the newest schema, then exit:
`python -m mianshen_shared.migrate NAME` with MIANSHEN_DATABASE_URL set.

The Kubernetes migration Jobs run this before a rollout (deploy/k8s/base/migrations),
so new pods start on a migrated schema; their own upgrade on start is then a no-op.
"""

from __future__ import annotations

import argparse
import os

from mianshen_shared.db import upgrade_to_head

MIGRATIONS = {
    "policy-catalog": "policy_catalog.migrations",
    "eligibility": "eligibility.migrations",
    "confirmation": "confirmation.migrations",
    "credit-check": "credit_check.migrations",
    "payment": "payment.migrations",
    "gateway": "gateway.migrations",
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mianshen_shared.migrate", description=__doc__)
    parser.add_argument("name", choices=sorted(MIGRATIONS))
    args = parser.parse_args(argv)
    url = os.environ.get("MIANSHEN_DATABASE_URL", "")
    if not url:
        parser.error("MIANSHEN_DATABASE_URL must be set")
    upgrade_to_head(MIGRATIONS[args.name], url)


if __name__ == "__main__":
    main()
