"""One request through the gateway, and the seam where per-route policies attach.

A :data:`Handler` serves an :class:`Exchange`. The proxy is the innermost handler of every route; a
:class:`Policy` (API keys, rate limiting, session authorisation) wraps it
per route when the app is built, so a route without policies pays nothing for the ones it does not use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Protocol

import orjson
from starlette.types import Receive, Scope, Send

from roboshop.gateway.routing import Route

REQUEST_ID_HEADER = b"x-request-id"
PROBLEM_JSON = b"application/problem+json"
_MAX_ID_LENGTH = 128
_TITLES = {status.value: status.phrase for status in HTTPStatus}


@dataclass(slots=True)
class Exchange:
    scope: Scope
    receive: Receive
    send: Send
    method: str
    request_id: str
    started: float
    route: Route | None = None
    label: str = "<unmatched>"  # the metrics label: a route template, never a raw path
    rest: str = ""  # the raw path after /api/<service>: what the upstream sees
    status: int = 0  # 0 until the response has started
    upstream: str | None = None  # the id of the instance that answered
    user: str | None = None  # the subject of the caller's verified session, on routes that need one
    consumer: str | None = None  # the API consumer whose X-API-Key the request carried
    extra_headers: list[tuple[bytes, bytes]] | None = None  # added to the response by policies (CORS, headers)

    def header(self, wanted: bytes) -> bytes | None:
        """The first value of request header ``wanted`` (lower-case), if any."""
        for name, value in self.scope["headers"]:
            if name == wanted:
                found: bytes = value
                return found
        return None

    async def start_response(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.status = status
        if self.extra_headers:
            names = {name for name, _ in self.extra_headers}
            headers = [header for header in headers if header[0] not in names]
            headers.extend(self.extra_headers)
        headers.append((REQUEST_ID_HEADER, self.request_id.encode()))
        await self.send({"type": "http.response.start", "status": status, "headers": headers})

    async def respond(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        headers.append((b"content-length", str(len(body)).encode()))
        await self.start_response(status, headers)
        await self.send({"type": "http.response.body", "body": b"" if self.method == "HEAD" else body})

    async def problem(self, status: int, detail: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
        """An RFC 9457 problem+json answer, unless the response has already started."""
        if self.status:
            return
        body = orjson.dumps(
            {"type": "about:blank", "title": _TITLES.get(status, "Error"), "status": status, "detail": detail}
        )
        await self.respond(status, body, [(b"content-type", PROBLEM_JSON), *headers])


Handler = Callable[[Exchange], Awaitable[None]]


class Policy(Protocol):
    def wrap(self, route: Route, handler: Handler) -> Handler:
        """``handler`` with this policy in front for ``route``; ``handler`` itself where it does not apply."""
        ...


def chain(route: Route, policies: Sequence[Policy], innermost: Handler) -> Handler:
    """The handler of ``route``: the first policy runs first."""
    handler = innermost
    for policy in reversed(policies):
        handler = policy.wrap(route, handler)
    return handler


def clean_request_id(raw: bytes | None) -> str | None:
    """A caller's id is kept only if short printable ASCII without spaces: it ends up in logs and headers."""
    if not raw or len(raw) > _MAX_ID_LENGTH:
        return None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    return text if text.isprintable() and " " not in text else None
