"""Per-request context carried in contextvars, read by the logger and the peer client."""

from __future__ import annotations

from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
user: ContextVar[str | None] = ContextVar("user", default=None)
