from mianshen_shared.migrations_env import run

from eligibility.models import Base

run(Base.metadata)
