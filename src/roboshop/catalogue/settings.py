"""The catalogue's settings (``ROBOSHOP_CATALOGUE_*``)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from roboshop.kit.settings import DatabaseSettings


class CatalogueSettings(DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROBOSHOP_CATALOGUE_", extra="ignore", populate_by_name=True)

    service_name: str = "catalogue"
    database_url: str = Field(
        default="sqlite:///./.roboshop/catalogue.db",
        description="sqlite:///path, postgresql://..., mysql://... (drivers are chosen for you)",
    )
    go_slow_ms: int = Field(
        default=0,
        ge=0,
        le=60_000,
        # Robot Shop's plain GO_SLOW still works, so its compose files and chaos recipes apply unchanged.
        validation_alias=AliasChoices("ROBOSHOP_CATALOGUE_GO_SLOW_MS", "GO_SLOW"),
        description="fault injection: delay before answering GET /product/{sku}, in milliseconds",
    )
    cache_ttl_s: float = Field(
        default=5.0,
        ge=0,
        description="how long reads are served from an in-memory snapshot of the catalogue (0: always the database)",
    )
