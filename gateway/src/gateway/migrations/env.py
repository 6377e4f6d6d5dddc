from gateway.models import Base
from mianshen_shared.migrations_env import run

run(Base.metadata)
