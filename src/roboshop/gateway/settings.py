"""Settings of the gateway process (``ROBOSHOP_GATEWAY_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from roboshop.kit.settings import ServiceSettings
from roboshop.user.tokens import DEFAULT_AUDIENCE, DEFAULT_ISSUER

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def packaged_web_root() -> Path:
    return _PACKAGE_ROOT / "web"


def packaged_routes_file() -> Path:
    return _PACKAGE_ROOT / "gateway" / "routes.yaml"


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ROBOSHOP_GATEWAY_", extra="ignore")

    service_name: str = "gateway"
    port: int = Field(default=8080, ge=0, le=65535, description="0 picks a free port")

    web_root: Path = Field(
        default_factory=packaged_web_root,
        description="directory of the storefront's static files (default: the packaged placeholder)",
    )
    routes_file: Path = Field(default_factory=packaged_routes_file, description="the public route table (YAML)")
    upstream_timeout_s: float = Field(
        default=30.0, gt=0, description="whole-exchange deadline for a service without its own timeout_s"
    )
    connect_timeout_s: float = Field(default=2.0, gt=0)
    access_log: bool = Field(
        default=True, description="one JSON line per request on the roboshop.access logger (off for benchmarks)"
    )
    upstream_pool_size: int = Field(default=512, ge=1, description="open upstream connections, all hosts")
    upstream_keepalive_s: float = Field(
        # Shorter than the services' own keep-alive (15 s in kit.runner), so that the gateway closes an idle
        # pooled connection before the upstream does and never sends a request into a closing socket.
        default=10.0,
        gt=0,
    )

    # Sessions (routes with ``auth: session``) ---------------------------------------------------------------
    token_issuer: str = Field(default=DEFAULT_ISSUER, min_length=1, description="the `iss` session tokens must have")
    token_audience: str = Field(default=DEFAULT_AUDIENCE, min_length=1, description="the `aud` they must have")
    session_keys_service: str = Field(
        default="user", min_length=1, description="the service (found through discovery) that publishes the JWKS"
    )
    jwks_timeout_s: float = Field(default=2.0, gt=0, description="deadline of one JWKS fetch")
    jwks_max_age_s: float = Field(default=300.0, gt=0, description="how long a fetched JWKS is used before a refetch")
    jwks_min_refresh_interval_s: float = Field(
        default=5.0,
        ge=0,
        description="a token naming an unknown key refetches the JWKS at most this often (a rotation, or forgery)",
    )
    session_cache_ttl_s: float = Field(
        default=10.0, ge=0, description="how long a verified token is trusted without verifying again (0: never)"
    )
    session_cache_size: int = Field(default=10_000, ge=1, description="verified tokens remembered at most")
