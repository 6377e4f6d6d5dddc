from mianshen_shared.migrations_env import run
from payment.models import Base

run(Base.metadata)
