from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from mianshen_shared.config import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MIANSHEN_", extra="ignore")

    service_name: str = "eligibility"
