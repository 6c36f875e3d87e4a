"""Registering this instance with the RoboShop registry (a Consul-style agent API)."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Any

import aiohttp

log = logging.getLogger("roboshop.registration")


@dataclass(frozen=True)
class Registration:
    service: str
    instance_id: str
    address: str
    port: int
    check_path: str = "/health"
    check_interval_s: float = 2.0
    deregister_after_s: float = 30.0
    tags: tuple[str, ...] = ()
    version: str = ""

    def _host(self) -> str:
        return f"[{self.address}]" if ":" in self.address else self.address

    def payload(self) -> dict[str, Any]:
        return {
            "ID": self.instance_id,
            "Name": self.service,
            "Address": self.address,
            "Port": self.port,
            "Tags": list(self.tags),
            "Meta": {"version": self.version},
            "Check": {
                "HTTP": f"http://{self._host()}:{self.port}{self.check_path}",
                "Interval": f"{self.check_interval_s}s",
                "Timeout": f"{min(self.check_interval_s, 2.0)}s",
                "DeregisterCriticalServiceAfter": f"{self.deregister_after_s}s",
            },
        }


class RegistryClient:
    def __init__(self, registry_url: str, session: aiohttp.ClientSession) -> None:
        self._url = registry_url.rstrip("/")
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=2.0)

    async def register(self, registration: Registration) -> None:
        async with self._session.put(
            f"{self._url}/v1/agent/service/register", json=registration.payload(), timeout=self._timeout
        ) as response:
            response.raise_for_status()

    async def deregister(self, instance_id: str) -> None:
        async with self._session.put(
            f"{self._url}/v1/agent/service/deregister/{instance_id}", timeout=self._timeout
        ) as response:
            if response.status != 404:
                response.raise_for_status()

    async def keep_registered(self, registration: Registration, every_s: float) -> None:
        """Register, retrying with jittered backoff until the registry answers; then refresh periodically.

        Refreshing makes an instance reappear by itself if the registry lost its state.
        """
        delay = 0.2
        registered = False
        while True:
            try:
                await self.register(registration)
                if not registered:
                    log.info("registered", extra={"instance": registration.instance_id, "port": registration.port})
                registered = True
                delay = every_s
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("registration failed, retrying", extra={"error": str(exc) or type(exc).__name__})
                registered = False
                delay = min(delay * 2, 5.0)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not crypto
