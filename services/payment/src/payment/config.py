from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mianshen_shared.config import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MIANSHEN_", extra="ignore")

    service_name: str = "payment"
    # 财政预算管理一体化系统
    finance_url: str = "http://127.0.0.1:8090"
    finance_timeout_seconds: float = Field(default=5.0, gt=0)
    # The budget unit that pays 惠企 awards; per-policy funding sources come later.
    payer_budget_code: str = Field(default="410100-HQZC-001", min_length=1, max_length=64)
    payment_max_attempts: int = Field(default=8, ge=1)
    payment_retry_base_seconds: float = Field(default=2.0, gt=0)
    payment_retry_max_seconds: float = Field(default=300.0, gt=0)
    payment_poll_seconds: float = Field(default=0.5, gt=0)
    payment_batch_size: int = Field(default=10, ge=1)
