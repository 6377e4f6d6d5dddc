from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from eligibility.service import REEVALUATION_BATCH
from mianshen_shared.config import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MIANSHEN_", extra="ignore")

    service_name: str = "eligibility"
    # Enterprises per chunk of a re-evaluation job: one transaction, one progress step.
    reevaluation_batch: int = Field(default=REEVALUATION_BATCH, ge=1, le=10_000)
    reevaluation_poll_seconds: float = Field(default=1.0, gt=0)
