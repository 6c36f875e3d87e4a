"""The cart service's settings (``ROBOSHOP_CART_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from roboshop.kit.settings import ServiceSettings


class CartSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ROBOSHOP_CART_", extra="ignore")

    service_name: str = "cart"
    store_url: str = Field(
        default="sqlite:///./.roboshop/cart.db",
        description="where carts live: sqlite:///path (local profile) or redis://host:6379/0 (Compose, Kubernetes)",
    )
    store_key_prefix: str = Field(default="cart:", description="Redis only: the prefix of every cart's key")
    cart_ttl_s: float = Field(default=3600.0, gt=0, description="a cart lives this long after its last change")
