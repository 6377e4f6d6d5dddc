"""The gateway's own tables: who may call (registered clients, an enterprise's
consents to third parties) and what they did (the audit log). ORM classes only.

The gateway owns this database alone; every other piece of data stays behind the
services it fronts.
"""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass
