"""Settings of the gateway process (``ROBOSHOP_GATEWAY_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from roboshop.gateway.routing import valid_rate_limit
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
    max_header_bytes: int = Field(
        default=16_384, ge=1024, description="request line headers beyond this size are refused with 431"
    )
    upstream_pool_size: int = Field(default=512, ge=1, description="open upstream connections, all hosts")
    upstream_keepalive_s: float = Field(
        # Shorter than the services' own keep-alive (15 s in kit.runner), so that the gateway closes an idle
        # pooled connection before the upstream does and never sends a request into a closing socket.
        default=10.0,
        gt=0,
    )

    # Resilience (see roboshop.gateway.balancer) ----------------------------------------------------------------
    upstream_attempts: int = Field(
        default=2, ge=1, le=5, description="tries of an idempotent request, another instance first"
    )
    retry_budget_ratio: float = Field(default=0.2, ge=0, le=1, description="retries add at most this share of load")
    retry_min_per_s: float = Field(default=10.0, ge=0, description="retries always allowed per second, however quiet")
    retry_backoff_s: float = Field(
        default=0.01, ge=0, description="base of the jittered backoff: a retry waits up to base * 2^(retry-1)"
    )
    outlier_failures: int = Field(default=5, ge=1, description="consecutive failures that eject an instance")
    outlier_ejection_s: float = Field(default=10.0, gt=0, description="first ejection; longer if it fails again")
    breaker_failures: int = Field(default=5, ge=1, description="consecutive failed requests that open a circuit")
    breaker_reset_s: float = Field(default=5.0, gt=0, description="how long an open circuit refuses before a trial")

    # Admin API (see roboshop.gateway.admin) and the route table's hot reload ---------------------------------
    admin_enabled: bool = Field(default=False, description="serve the admin API on its own listener")
    admin_host: str = Field(default="127.0.0.1", description="the admin listener's address: keep it private")
    admin_port: int = Field(default=8081, ge=0, le=65535, description="0 picks a free port")
    admin_key: SecretStr | None = Field(
        default=None, description="ROBOSHOP_GATEWAY_ADMIN_KEY: required by the admin API"
    )
    public_metrics: bool | None = Field(
        default=None,
        description="/metrics on the public port too; unset: only while the admin listener (which has it) is off",
    )
    routes_poll_s: float = Field(
        default=2.0, ge=0, description="how often the route table file is checked for changes (0: on SIGHUP only)"
    )

    # Rate limiting (see roboshop.gateway.ratelimit) -----------------------------------------------------------
    rate_limit_enabled: bool = Field(default=True, description="limit /api requests per caller and per route")
    rate_limit_storage: str = Field(
        default="memory://",
        pattern=r"^(memory://|rediss?://.+)",
        description="memory:// for one gateway; redis://127.0.0.1:6379 when several gateways share the counters",
    )
    rate_limit_anonymous: str = Field(
        # 300/s sustained, a burst of 600: far above any person, below a flood; fits the load generator
        # at 50 users (all from one address, ~200-250 requests/s).
        default="600 per 2 seconds",
        description="the limit of each client address without an API key (limits notation)",
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

    @field_validator("rate_limit_anonymous")
    @classmethod
    def _valid_rate_limit(cls, value: str) -> str:
        return valid_rate_limit(value)
