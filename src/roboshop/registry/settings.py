"""The registry's settings (``ROBOSHOP_REGISTRY_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from roboshop.kit.settings import DatabaseSettings


class RegistrySettings(DatabaseSettings):
    """The registry is where others register; it never registers itself (``registry_url`` stays unset)."""

    model_config = SettingsConfigDict(env_prefix="ROBOSHOP_REGISTRY_", extra="ignore")

    service_name: str = "registry"
    port: int = Field(default=8500, ge=0, le=65535, description="0 picks a free port")
    database_url: str = Field(
        default="sqlite:///./.roboshop/registry.db",
        description="sqlite:///path, postgresql://..., mysql://... (drivers are chosen for you)",
    )
    check_connections: int = Field(
        default=256, ge=1, description="at most this many health checks are connecting at the same time"
    )
