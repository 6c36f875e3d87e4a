"""Edge plugins of a route, from the route table: CORS and added response headers.

``cors``: a request whose ``Origin`` is listed gets ``Access-Control-Allow-Origin`` (and ``-Credentials``
when allowed); a preflight (``OPTIONS`` with ``Access-Control-Request-Method``) for a method the route
serves is answered 204 by the gateway itself, without calling the service. An origin not listed gets no
CORS headers, so the browser refuses it. ``response_headers``: added to every response of the route (a
header the service sends with the same name is replaced).
"""

from __future__ import annotations

from roboshop.gateway.exchange import Exchange, Handler
from roboshop.gateway.routing import HTTP_METHODS, CorsEntry, Route

_VARY_ORIGIN = (b"vary", b"Origin")


def _allowed_origin(cors: CorsEntry, origin: bytes | None) -> bytes | None:
    if origin is None:
        return None
    if "*" in cors.origins:
        return b"*"
    return origin if origin.decode("latin-1") in cors.origins else None


def _cors_headers(cors: CorsEntry, allowed: bytes) -> list[tuple[bytes, bytes]]:
    headers = [(b"access-control-allow-origin", allowed)]
    if allowed != b"*":
        headers.append(_VARY_ORIGIN)
    if cors.credentials:
        headers.append((b"access-control-allow-credentials", b"true"))
    return headers


class EdgePolicy:
    """Adds a route's CORS and response headers to its responses; routes without either are not wrapped."""

    def wrap(self, route: Route, handler: Handler) -> Handler:
        cors = route.cors
        fixed = list(route.response_headers)
        if cors is None and not fixed:
            return handler

        async def with_headers(ex: Exchange) -> None:
            extra = list(fixed)
            if cors is not None and (allowed := _allowed_origin(cors, ex.header(b"origin"))) is not None:
                extra += _cors_headers(cors, allowed)
            if extra:
                ex.extra_headers = (ex.extra_headers or []) + extra
            await handler(ex)

        return with_headers


async def preflight(ex: Exchange, route: Route) -> None:
    """Answer a CORS preflight for ``route`` (which has ``cors``)."""
    cors = route.cors
    assert cors is not None
    allowed = _allowed_origin(cors, ex.header(b"origin"))
    headers: list[tuple[bytes, bytes]] = [(b"content-length", b"0"), _VARY_ORIGIN]
    if allowed is not None:
        methods = ", ".join(method for method in HTTP_METHODS if method in route.methods)
        headers += _cors_headers(cors, allowed)
        headers.append((b"access-control-allow-methods", methods.encode()))
        if cors.headers:
            headers.append((b"access-control-allow-headers", ", ".join(cors.headers).encode()))
        headers.append((b"access-control-max-age", str(cors.max_age_s).encode()))
    headers += route.response_headers
    await ex.start_response(204, headers)
    await ex.send({"type": "http.response.body", "body": b""})
