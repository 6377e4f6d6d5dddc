from mianshen_shared.migrations_env import run

from confirmation.models import Base

run(Base.metadata)
