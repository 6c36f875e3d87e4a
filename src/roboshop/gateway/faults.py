"""Fault injection per upstream service, set through the admin API for resilience drills.

A fault adds latency before the request goes up and/or answers a share of requests with 503 as if the
service had failed (counted by its circuit breaker like a real failure). No fault: one dict lookup.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


class Fault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_ms: int = Field(default=0, ge=0, le=60_000, description="added before the request goes up")
    error_rate: float = Field(default=0.0, ge=0, le=1, description="share of requests answered 503")


@dataclass
class Faults:
    by_service: dict[str, Fault]

    def __init__(self) -> None:
        self.by_service = {}

    def get(self, service: str) -> Fault | None:
        return self.by_service.get(service)

    def set(self, service: str, fault: Fault) -> None:
        self.by_service[service] = fault

    def clear(self, service: str) -> bool:
        return self.by_service.pop(service, None) is not None
