"""What ``roboshop up`` runs: every RoboShop process of the local profile, in start order.

A service that lands in a later issue joins the system by adding one line here (and its routes to the
gateway's route table).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    database: bool = False
    """Owns a database: gets ``ROBOSHOP_<NAME>_<database_setting>`` pointing at its SQLite file in the data dir."""
    database_setting: str = "DATABASE_URL"
    scalable: bool = True
    """Can run as several replicas behind discovery."""

    @property
    def env_prefix(self) -> str:
        return f"ROBOSHOP_{self.name.upper()}_"


REGISTRY = ServiceSpec("registry", "roboshop.registry", database=True, scalable=False)
GATEWAY = ServiceSpec("gateway", "roboshop.gateway")
DOMAIN_SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("catalogue", "roboshop.catalogue", database=True),
    ServiceSpec("user", "roboshop.user", database=True),
    ServiceSpec("cart", "roboshop.cart", database=True, database_setting="STORE_URL"),
    ServiceSpec("ratings", "roboshop.ratings", database=True),
    ServiceSpec("shipping", "roboshop.shipping", database=True),
)
ALL_SERVICES: tuple[ServiceSpec, ...] = (REGISTRY, *DOMAIN_SERVICES, GATEWAY)


def spec(name: str) -> ServiceSpec:
    for candidate in ALL_SERVICES:
        if candidate.name == name:
            return candidate
    known = ", ".join(s.name for s in ALL_SERVICES)
    raise ValueError(f"unknown service '{name}' (known: {known})")
