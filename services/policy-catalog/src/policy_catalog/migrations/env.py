from mianshen_shared.migrations_env import run
from policy_catalog.models import Base

run(Base.metadata)
