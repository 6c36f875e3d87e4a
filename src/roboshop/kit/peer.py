"""The HTTP client services use to call each other.

Each call names a service, not a host: an instance is picked through discovery, the deadline is
enforced, request and correlation ids are propagated, and an idempotent call that cannot connect is
retried once on another instance (the failed one is reported to discovery). Retries with backoff and
a circuit breaker per upstream grow here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDictProxy

from roboshop.kit import context
from roboshop.kit.discovery import Discovery
from roboshop.kit.errors import PeerError, PeerTimeout

log = logging.getLogger("roboshop.peer")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class PeerResponse:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class PeerClient:
    def __init__(self, discovery: Discovery, *, timeout_s: float = 5.0, attempts: int = 2) -> None:
        self.discovery = discovery
        self._timeout_s = timeout_s
        self._attempts = attempts
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=100, limit_per_host=50, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(connector=connector, json_serialize=lambda o: orjson.dumps(o).decode())
        await self.discovery.start(self._session)

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "PeerClient.start() was not called"
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        service: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> PeerResponse:
        """Call ``path`` on an instance of ``service``; any HTTP status is returned, not raised."""
        method = method.upper()
        attempts = self._attempts if method in IDEMPOTENT_METHODS else 1
        timeout = aiohttp.ClientTimeout(total=timeout_s or self._timeout_s)
        sent_headers = _context_headers() | (headers or {})
        last_error: Exception | None = None
        for _ in range(attempts):
            instance = await self.discovery.pick(service)
            try:
                async with self.session.request(
                    method, instance.url + path, json=json, headers=sent_headers, timeout=timeout
                ) as response:
                    body = await response.read()
                    return PeerResponse(response.status, response.headers, body)
            except TimeoutError as exc:
                raise PeerTimeout(f"{service} did not answer {method} {path} in time") from exc
            except aiohttp.ClientConnectionError as exc:
                last_error = exc
                self.discovery.report_failure(instance)
                log.warning("peer connection failed", extra={"peer": service, "instance": instance.id})
        raise PeerError(f"could not reach {service} for {method} {path}: {last_error}") from last_error

    async def get(self, service: str, path: str, **kwargs: Any) -> PeerResponse:
        return await self.request(service, "GET", path, **kwargs)

    async def post(self, service: str, path: str, **kwargs: Any) -> PeerResponse:
        return await self.request(service, "POST", path, **kwargs)


def _context_headers() -> dict[str, str]:
    headers: dict[str, str] = {}
    request_id = context.request_id.get()
    correlation = context.correlation_id.get()
    if request_id:
        headers["X-Request-ID"] = request_id
    if correlation:
        headers["X-Correlation-ID"] = correlation
    return headers
