from __future__ import annotations

from pydantic import Field, model_validator
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
    # 公示: how often ended notices are released to the worker.
    notice_sweep_seconds: float = Field(default=30.0, gt=0)
    # Demos and the end-to-end/fault tests only: every notice lasts this many working
    # days whatever the policy says (0: none), so a payment follows acceptance within
    # a run. Refused in production, where the policy's own period always applies.
    notice_working_days_override: int | None = Field(default=None, ge=0, le=30)
    # --- money core (budget.py, credit.py): sealed accounts, the credit recheck, the burn gauge ---
    # Key ring that opens sealed account numbers (MIANSHEN_ACCOUNT_KEYS; empty = development key).
    account_keys: str = ""
    credit_recheck_seconds: float = Field(default=60.0, gt=0)
    budget_gauge_seconds: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _no_notice_override_in_production(self) -> Settings:
        if self.environment == "production" and self.notice_working_days_override is not None:
            raise ValueError("MIANSHEN_NOTICE_WORKING_DAYS_OVERRIDE is for demos and tests; unset it in production")
        return self
