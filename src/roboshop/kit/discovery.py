"""Finding the instances of a peer service.

Two implementations of one :class:`Discovery` port:

* :class:`RegistryDiscovery` asks the RoboShop registry for the *passing* instances of a service, caches the
  answer for a short time, round-robins over it and drops an instance from the cache as soon as a caller
  reports a connection failure (until the next refresh).
* :class:`StaticDiscovery` maps a service name to a URL from configuration; with the default template
  ``http://{service}:8080`` this is DNS discovery for Docker Compose and Kubernetes Services.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

from roboshop.kit.errors import PeerUnavailable
from roboshop.kit.settings import ServiceSettings

log = logging.getLogger("roboshop.discovery")

EMPTY_RETRY_S = 0.25
"""How soon an empty answer may be asked again, so a burst of requests for a down service stays one lookup."""


@dataclass(frozen=True)
class Instance:
    id: str
    service: str
    address: str
    port: int
    tags: tuple[str, ...] = ()
    scheme: str = "http"

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{host}:{self.port}"


class Discovery(Protocol):
    async def start(self, session: aiohttp.ClientSession) -> None: ...

    async def instances(self, service: str) -> list[Instance]:
        """The instances currently believed healthy (may be empty)."""
        ...

    async def pick(self, service: str) -> Instance:
        """The next instance in round-robin order; raises PeerUnavailable when there is none."""
        ...

    def report_failure(self, instance: Instance) -> None:
        """A connection to ``instance`` failed: stop handing it out until the next refresh."""
        ...


@dataclass
class _CacheEntry:
    instances: list[Instance]
    expires_at: float
    fetched_at: float
    cursor: itertools.count[int] = field(default_factory=itertools.count)


class RegistryDiscovery:
    def __init__(self, registry_url: str, ttl_s: float = 2.0, timeout_s: float = 2.0) -> None:
        self._registry_url = registry_url.rstrip("/")
        self._ttl_s = ttl_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._cache: dict[str, _CacheEntry] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._session: aiohttp.ClientSession | None = None

    async def start(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    async def instances(self, service: str) -> list[Instance]:
        return list((await self._entry(service)).instances)

    async def pick(self, service: str) -> Instance:
        entry = await self._entry(service)
        if not entry.instances and entry.fetched_at < time.monotonic() - EMPTY_RETRY_S:
            # Nothing passing a moment ago (an instance starting, or every one dropped after failures): ask again
            # rather than fail for a whole TTL.
            entry = await self._entry(service, force=True)
        if not entry.instances:
            raise PeerUnavailable(f"no healthy instance of service '{service}' is registered")
        return entry.instances[next(entry.cursor) % len(entry.instances)]

    def report_failure(self, instance: Instance) -> None:
        entry = self._cache.get(instance.service)
        if entry is not None and instance in entry.instances:
            entry.instances.remove(instance)
            log.warning("instance dropped", extra={"peer": instance.service, "instance": instance.id})

    async def _entry(self, service: str, *, force: bool = False) -> _CacheEntry:
        entry = self._cache.get(service)
        if entry is not None and entry.expires_at > time.monotonic() and not force:
            return entry
        lock = self._locks.setdefault(service, asyncio.Lock())
        asked_at = time.monotonic()
        async with lock:
            entry = self._cache.get(service)
            if (
                entry is not None
                and entry.expires_at > time.monotonic()
                and (not force or entry.fetched_at >= asked_at)
            ):
                return entry
            try:
                instances = await self._fetch(service)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                if entry is not None:
                    # The registry is down: keep serving from what we knew, and ask again soon.
                    log.warning("registry unreachable, using cached instances", extra={"error": str(exc)})
                    entry.expires_at = time.monotonic() + self._ttl_s
                    return entry
                raise PeerUnavailable(f"service registry unreachable while looking up '{service}'") from exc
            entry = _CacheEntry(instances, time.monotonic() + self._ttl_s, time.monotonic())
            self._cache[service] = entry
            return entry

    async def _fetch(self, service: str) -> list[Instance]:
        assert self._session is not None, "start() first"
        url = f"{self._registry_url}/v1/health/service/{service}"
        async with self._session.get(url, params={"passing": "true"}, timeout=self._timeout) as response:
            response.raise_for_status()
            rows: list[dict[str, Any]] = await response.json()
        return [_instance_from_row(row) for row in rows]


def _instance_from_row(row: dict[str, Any]) -> Instance:
    svc = row["Service"]
    return Instance(
        id=str(svc["ID"]),
        service=str(svc["Service"]),
        address=str(svc["Address"]),
        port=int(svc["Port"]),
        tags=tuple(svc.get("Tags") or ()),
    )


class StaticDiscovery:
    def __init__(self, peers: dict[str, str], template: str = "http://{service}:8080") -> None:
        self._peers = peers
        self._template = template

    async def start(self, session: aiohttp.ClientSession) -> None:
        return None

    async def instances(self, service: str) -> list[Instance]:
        url = self._peers.get(service) or self._template.format(service=service)
        parts = urlsplit(url)
        if not parts.hostname:
            return []
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return [Instance(f"{service}@{parts.hostname}", service, parts.hostname, port, scheme=parts.scheme)]

    async def pick(self, service: str) -> Instance:
        found = await self.instances(service)
        if not found:
            raise PeerUnavailable(f"no address configured for service '{service}'")
        return found[0]

    def report_failure(self, instance: Instance) -> None:
        return None


def build_discovery(settings: ServiceSettings) -> Discovery:
    if settings.discovery == "registry":
        if not settings.registry_url:
            raise ValueError("discovery=registry needs a registry_url")
        return RegistryDiscovery(settings.registry_url, ttl_s=settings.discovery_cache_ttl_s)
    return StaticDiscovery(settings.peers, settings.peer_url_template)
