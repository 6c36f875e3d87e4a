"""The ratings service's settings (``ROBOSHOP_RATINGS_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from roboshop.kit.settings import DatabaseSettings


class RatingsSettings(DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROBOSHOP_RATINGS_", extra="ignore")

    service_name: str = "ratings"
    database_url: str = Field(
        default="sqlite:///./.roboshop/ratings.db",
        description="sqlite:///path, postgresql://..., mysql://... (drivers are chosen for you)",
    )
