"""API consumers: clients known by an ``X-API-Key``, listed in the route table under ``consumers``.

The table holds only the SHA-256 of each key, so a leaked table leaks no key; a presented key is hashed
and looked up (a dict lookup on a digest of a secret of high entropy gives nothing away by its timing).

    a route with ``auth: api_key`` and no key                         401 + WWW-Authenticate: ApiKey
    a key that belongs to no consumer (on any route)                  401
    a known key                                                       the exchange carries the consumer

A route of a table without consumers, or without ``auth: api_key``, is not wrapped when no consumer exists.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from roboshop.gateway.exchange import Exchange, Handler
from roboshop.gateway.routing import API_KEY, Consumer, Route

API_KEY_HEADER = b"x-api-key"
_CHALLENGE = [(b"www-authenticate", b'ApiKey realm="roboshop", header="X-API-Key"')]


def key_digest(key: str | bytes) -> str:
    """What the route table stores for ``key``: its SHA-256 as lower-case hex."""
    return hashlib.sha256(key.encode() if isinstance(key, str) else key).hexdigest()


class ApiKeyPolicy:
    def __init__(self, consumers: Iterable[Consumer]) -> None:
        self._by_digest = {consumer.key_sha256: consumer for consumer in consumers}

    def wrap(self, route: Route, handler: Handler) -> Handler:
        required = route.auth == API_KEY
        if not required and not self._by_digest:
            return handler
        by_digest = self._by_digest
        label = route.label

        async def identified(ex: Exchange) -> None:
            key: bytes | None = None
            for name, value in ex.scope["headers"]:
                if name == API_KEY_HEADER:
                    key = value
                    break
            if key is None:
                if required:
                    await ex.problem(401, f"{label} needs an API key: send X-API-Key", _CHALLENGE)
                    return
            else:
                consumer = by_digest.get(hashlib.sha256(key).hexdigest())
                if consumer is None:
                    await ex.problem(401, "the X-API-Key is not a known key", _CHALLENGE)
                    return
                ex.consumer = consumer.name
            await handler(ex)

        return identified
