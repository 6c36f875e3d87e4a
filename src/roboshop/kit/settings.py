"""Typed settings shared by every service.

Each service subclasses :class:`ServiceSettings` and sets its own ``env_prefix``
(``ROBOSHOP_CATALOGUE_``, ...). Settings are read when a process starts, never at import.
"""

from __future__ import annotations

import socket
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from roboshop import __version__


class ServiceSettings(BaseSettings):
    """Settings every service process has."""

    model_config = SettingsConfigDict(env_prefix="ROBOSHOP_", extra="ignore")

    service_name: str = "service"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535, description="0 picks a free port")
    advertise_host: str | None = Field(
        default=None, description="address peers use to reach this instance (default: host)"
    )
    instance_id: str | None = None
    version: str = __version__
    log_level: str = "INFO"

    discovery: Literal["registry", "static"] = "static"
    registry_url: str | None = None
    peers: dict[str, str] = Field(
        default_factory=dict, description='static discovery: {"catalogue": "http://catalogue:8080"}'
    )
    peer_url_template: str = Field(
        default="http://{service}:8080",
        description="static discovery for a service not in peers (Compose and Kubernetes DNS names)",
    )
    discovery_cache_ttl_s: float = Field(default=2.0, gt=0)
    check_interval_s: float = Field(default=2.0, gt=0)
    deregister_after_s: float = Field(default=30.0, gt=0)
    reregister_interval_s: float = Field(default=15.0, gt=0)

    peer_timeout_s: float = Field(default=5.0, gt=0)
    grace_period_s: float = Field(default=10.0, ge=0, description="drain time for in-flight requests")
    deregister_delay_s: float = Field(
        default=0.5, ge=0, description="time between deregistering and closing the listener"
    )
    max_body_bytes: int = Field(default=1_048_576, gt=0)

    environment: Literal["local", "production"] = Field(
        default="local", description="production refuses to start without the secrets a deployment must set"
    )
    internal_token: SecretStr | None = Field(
        default=None, description="the service credential shared by this deployment's services (internal routes)"
    )

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> ServiceSettings:
        if self.environment == "production" and self.internal_token is None:
            raise ValueError(
                "environment=production needs an internal token: set "
                f"{self.model_config.get('env_prefix', 'ROBOSHOP_')}INTERNAL_TOKEN (a long random string, "
                "the same for every service of the deployment)"
            )
        return self

    def resolved_instance_id(self, port: int) -> str:
        return self.instance_id or f"{self.service_name}-{socket.gethostname()}-{port}"

    def resolved_advertise_host(self) -> str:
        if self.advertise_host:
            return self.advertise_host
        return "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104


class DatabaseSettings(ServiceSettings):
    """A service that owns a database."""

    database_url: str = Field(
        default="sqlite:///./.roboshop/service.db",
        description="sqlite:///path, postgresql://..., mysql://... (drivers are chosen for you)",
    )
    database_pool_size: int = Field(default=5, ge=1)
