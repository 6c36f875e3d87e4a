"""The user service's settings (``ROBOSHOP_USER_*``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from roboshop.kit.settings import DatabaseSettings
from roboshop.user.tokens import DEFAULT_AUDIENCE, DEFAULT_ISSUER


class UserSettings(DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROBOSHOP_USER_", extra="ignore")

    service_name: str = "user"
    database_url: str = Field(
        default="sqlite:///./.roboshop/user.db",
        description="sqlite:///path, postgresql://..., mysql://... (drivers are chosen for you)",
    )
    token_issuer: str = Field(default=DEFAULT_ISSUER, min_length=1, description="the `iss` of session tokens")
    token_audience: str = Field(default=DEFAULT_AUDIENCE, min_length=1, description="the `aud` of session tokens")
    token_ttl_s: int = Field(default=86_400, ge=60, le=30 * 86_400, description="session token lifetime")
    cookie_secure: bool = Field(default=False, description="mark the session cookie Secure (behind HTTPS)")
    key_passphrase: SecretStr | None = Field(
        default=None,
        description="encrypts the private signing keys at rest in the database; unset stores them unencrypted",
    )
    key_grace_s: int = Field(
        default=300,
        ge=0,
        description="a retired key stays published for the token lifetime plus this (clock skew, replica reloads)",
    )
    key_reload_interval_s: float = Field(
        default=30.0, gt=0, description="how often a replica rereads the key set (picks up another's rotation)"
    )
    password_hash_workers: int = Field(
        default=2, ge=1, le=32, description="argon2 hashes computed at once; each holds 19 MiB while it runs"
    )
