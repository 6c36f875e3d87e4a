"""Rate limiting at the edge, with the ``limits`` library (sliding window counters).

Every ``/api`` request counts against one caller limit, and against its route's limit when the route has one:

    anonymous caller     per client address (the TCP peer; the gateway trusts no X-Forwarded-For)
                         default ``600 per 2 seconds``: 300 requests/s sustained, a burst of 600 at once
    consumer (API key)   per consumer: its ``rate_limit`` from the route table, else the anonymous limit
    route ``rate_limit`` per caller (address or consumer) on that route, on top of the caller limit

Why that default: nobody clicking through the shop gets near 300 requests a second, while a flood from one
address (thousands a second) is cut to it. The Robot Shop load generator at 50 users sends every user's
requests from one address, about 15 API calls per user every 3-4 s, i.e. ~200-250 requests/s: under it.

The counters live in memory for a single gateway, or in Redis (``rate_limit_storage = redis://...``)
so that several gateways share them. A refusal is 429 with ``Retry-After`` and the IETF draft's
``RateLimit-Policy`` / ``RateLimit`` headers (draft-ietf-httpapi-ratelimit-headers) naming the limit that
refused. When Redis fails, requests go through unlimited for a moment (the limit protects the shop; the
shop should not go down with it), and the failure is logged.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from redis.asyncio import ConnectionPool

from roboshop.gateway.exchange import Exchange, Handler
from roboshop.gateway.routing import Consumer, Route, parse_rate_limit

log = logging.getLogger("roboshop.gateway")

FAIL_OPEN_S = 1.0
"""After a storage failure, how long requests pass unlimited before the storage is tried again."""
STORAGE_TIMEOUT_S = 0.25
SWEEP_INTERVAL_S = 1.0


class SweepingMemoryStorage(MemoryStorage):
    """limits' memory storage, sweeping expired counters at most once a second.

    The library starts a sweeping task after nearly every hit, which costs the gateway about a fifth of its
    throughput (measured with wrk); counters are checked for expiry when read anyway, so the sweep only
    bounds memory and can be rare.
    """

    def __init__(self) -> None:
        super().__init__()
        self._sweep_after = 0.0

    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now >= self._sweep_after:
            self._sweep_after = now + SWEEP_INTERVAL_S
            await super()._MemoryStorage__schedule_expiry()  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class Limit:
    """One named limit: ``name`` is what the RateLimit headers call it."""

    name: str
    items: tuple[RateLimitItem, ...]


class Limiter:
    """Counts hits against limits in one storage; answers the first item that refuses, else ``None``."""

    def __init__(self, storage: Storage, *, close: Callable[[], Awaitable[None]] | None = None) -> None:
        self._strategy = SlidingWindowCounterRateLimiter(storage)
        self._storage = storage
        self._close = close
        self._failing_until = float("-inf")

    async def hit(self, limit: Limit, identifiers: tuple[str, ...]) -> tuple[RateLimitItem, float, int] | None:
        """``None`` if allowed, else (the item that refused, seconds until it allows again, remaining)."""
        if time.monotonic() < self._failing_until:
            return None
        try:
            for item in limit.items:
                if not await self._strategy.hit(item, *identifiers):
                    stats = await self._strategy.get_window_stats(item, *identifiers)
                    return item, max(0.0, stats.reset_time - time.time()), stats.remaining
        except StorageError as exc:
            self._failing_until = time.monotonic() + FAIL_OPEN_S
            log.warning(
                "rate limit storage failed; not limiting for a moment",
                extra={"error": str(exc.storage_error) or type(exc.storage_error).__name__},
            )
        return None

    async def close(self) -> None:
        if self._close is not None:
            await self._close()
        timer = getattr(self._storage, "timer", None)  # MemoryStorage's expiry task
        if timer is not None and not timer.done():
            timer.cancel()


def build_limiter(storage_url: str) -> Limiter:
    """``memory://`` for one gateway, ``redis://host:port[/db]`` for gateways that share their counters."""
    if storage_url.startswith("memory://"):
        return Limiter(SweepingMemoryStorage())
    if storage_url.startswith(("redis://", "rediss://")):
        pool = ConnectionPool.from_url(
            storage_url, socket_timeout=STORAGE_TIMEOUT_S, socket_connect_timeout=STORAGE_TIMEOUT_S
        )
        storage = RedisStorage(
            "async+" + storage_url,
            wrap_exceptions=True,
            implementation="redispy",
            key_prefix="roboshop-gateway",
            connection_pool=pool,  # type: ignore[arg-type]  # passed through to redis.asyncio.Redis
        )
        return Limiter(storage, close=pool.aclose)
    raise ValueError(f"rate limit storage {storage_url!r}: use memory:// or redis://host:port")


class RateLimitPolicy:
    """Wraps every route: the caller's limit, then the route's own limit if it has one."""

    def __init__(self, limiter: Limiter, anonymous: str, consumers: Iterable[Consumer] = ()) -> None:
        self._limiter = limiter
        self._anonymous = Limit("address", parse_rate_limit(anonymous))
        self._consumers = {
            consumer.name: Limit("consumer", parse_rate_limit(consumer.rate_limit or anonymous))
            for consumer in consumers
        }

    def wrap(self, route: Route, handler: Handler) -> Handler:
        limiter = self._limiter
        anonymous = self._anonymous
        consumers = self._consumers
        route_limit = Limit("route", parse_rate_limit(route.rate_limit)) if route.rate_limit else None
        label = route.label

        async def limited(ex: Exchange) -> None:
            if ex.consumer is not None:
                caller = ("consumer", ex.consumer)
                limit = consumers.get(ex.consumer, anonymous)
            else:
                client = ex.scope.get("client")
                caller = ("address", client[0] if client else "unknown")
                limit = anonymous
            refused = await limiter.hit(limit, caller)
            if refused is None and route_limit is not None:
                limit = route_limit
                refused = await limiter.hit(route_limit, (label, *caller))
            if refused is not None:
                await _too_many(ex, limit, *refused)
                return
            await handler(ex)

        return limited


async def _too_many(ex: Exchange, limit: Limit, item: RateLimitItem, wait_s: float, remaining: int) -> None:
    retry_after = str(max(1, math.ceil(wait_s))).encode()
    policy = f'"{limit.name}";q={item.amount};w={item.get_expiry()}'.encode()
    state = f'"{limit.name}";r={remaining};t='.encode() + retry_after
    headers = [(b"retry-after", retry_after), (b"ratelimit-policy", policy), (b"ratelimit", state)]
    await ex.problem(429, f"too many requests: the {limit.name} limit is {item}", headers)
