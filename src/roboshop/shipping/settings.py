"""The shipping service's settings (``ROBOSHOP_SHIPPING_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from roboshop.kit.settings import DatabaseSettings
from roboshop.shipping.domain import DistanceFormula


class ShippingSettings(DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROBOSHOP_SHIPPING_", extra="ignore")

    service_name: str = "shipping"
    database_url: str = Field(
        default="sqlite:///./.roboshop/shipping.db",
        description="sqlite:///path, postgresql://..., mysql://... (drivers are chosen for you)",
    )
    distance_formula: DistanceFormula = Field(
        default="robotshop",
        description="robotshop: the original's haversine with its bug, so costs match Robot Shop's (Decision Q1); "
        "great_circle: the true great-circle distance",
    )
    memory_chunk_mib: int = Field(
        default=25, ge=1, le=1024, description="fault injection: MiB that each GET /memory keeps alive"
    )
    memory_max_mib: int = Field(
        default=512,
        ge=0,
        description="fault injection: GET /memory answers 507 instead of growing past this many MiB",
    )
