from mianshen_shared.migrations_env import run

from credit_check.models import Base

run(Base.metadata)
