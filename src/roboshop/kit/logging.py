"""JSON logs: one object per line on stdout.

Fields: ``timestamp, level, service, version, event`` plus the request context
(``request_id``, ``correlation_id``, ``user``), the current span's ``trace_id`` and ``span_id`` (hex, as in
``traceparent``) and whatever a call passes in ``extra``.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
from opentelemetry import trace

from roboshop.kit import context

_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}
# A key is secret when it contains one of these (access_token, new_password, set_cookie, api_key ...).
_SECRET_PARTS = ("password", "passwd", "token", "authorization", "cookie", "secret", "hash", "api_key", "apikey")


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str, version: str) -> None:
        super().__init__()
        self._service = service
        self._version = version

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self._service,
            "version": self._version,
            "event": record.getMessage(),
            "logger": record.name,
        }
        for key, var in (
            ("request_id", context.request_id),
            ("correlation_id", context.correlation_id),
            ("user", context.user),
        ):
            value = var.get()
            if value is not None:
                entry[key] = value
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            entry["trace_id"] = format(span_context.trace_id, "032x")
            entry["span_id"] = format(span_context.span_id, "016x")
        for key, value in record.__dict__.items():
            if key in _RESERVED or key.startswith("_") or _is_secret(key):
                continue
            entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def _is_secret(key: str) -> bool:
    lowered = key.lower().replace("-", "_")
    return any(part in lowered for part in _SECRET_PARTS)


def configure_logging(service: str, version: str, level: str = "INFO") -> None:
    """Route every logger (ours, uvicorn's, SQLAlchemy's) through one JSON handler on stdout."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service, version))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        named = logging.getLogger(name)
        named.handlers[:] = []
        named.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # Alembic narrates every step at INFO; the kit logs one "schema migrated" line instead.
    logging.getLogger("alembic").setLevel(logging.WARNING)
