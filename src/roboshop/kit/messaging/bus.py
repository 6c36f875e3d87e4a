"""The message bus port: what services see of a broker, whichever broker it is.

A publisher hands the bus a topic, a JSON body and a message id, and ``publish`` returns only once the broker has
confirmed that it stored the message. A subscriber names its group (one durable queue or consumer per topic and group,
so replicas share the work and a restarted consumer picks up what it missed) and a handler. The bus acknowledges a
message after its handler returns; a handler that raises gets the message again after a back-off, up to
``RetryPolicy.max_attempts`` deliveries, after which the message goes to the topic's dead-letter queue. Delivery is
at-least-once: handlers must be idempotent (see :class:`roboshop.kit.messaging.outbox.Inbox`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

# W3C trace context travels in these headers; the tracing work sets ``trace_context`` and the bus carries it.
TRACE_HEADERS = ("traceparent", "tracestate")
trace_context: ContextVar[Mapping[str, str] | None] = ContextVar("trace_context", default=None)


@dataclass(frozen=True)
class Message:
    """One delivery of an event: ``attempt`` is 1 on the first delivery and grows with each redelivery."""

    topic: str
    body: dict[str, Any]
    message_id: str
    headers: Mapping[str, str] = field(default_factory=dict)
    attempt: int = 1


Handler = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failing message is tried again and how long to wait before each new attempt."""

    max_attempts: int = 5
    backoff_s: tuple[float, ...] = (1.0, 5.0, 15.0, 60.0)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not self.backoff_s or any(delay <= 0 for delay in self.backoff_s):
            raise ValueError("backoff_s needs at least one positive delay")

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait before the attempt that follows ``attempt`` (the last delay repeats)."""
        return self.backoff_s[min(attempt, len(self.backoff_s)) - 1]

    def delays(self) -> tuple[float, ...]:
        """Every distinct delay this policy can ask for, in order."""
        return tuple(dict.fromkeys(self.delay_after(attempt) for attempt in range(1, self.max_attempts)))


class MessageBus(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(
        self,
        topic: str,
        body: Mapping[str, Any],
        *,
        message_id: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send ``body`` to ``topic``; returns once the broker confirmed it stored the message."""
        ...

    async def subscribe(self, topic: str, group: str, handler: Handler) -> None:
        """Deliver the messages of ``topic`` to ``handler``, shared between every subscriber of ``group``."""
        ...

    async def take_dead_letters(self, topic: str, group: str, *, limit: int = 100) -> list[Message]:
        """Remove and return up to ``limit`` messages that ``group`` gave up on (for operators and tests)."""
        ...


class PublishFailed(Exception):
    """The broker did not confirm a message (refused, unroutable, or the connection broke before the confirm)."""


def encode_body(body: Mapping[str, Any]) -> bytes:
    return orjson.dumps(dict(body))


def decode_body(data: bytes) -> dict[str, Any]:
    body = orjson.loads(data)
    if not isinstance(body, dict):
        raise ValueError("a message body must be a JSON object")
    return body


def outgoing_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's headers, plus the current trace context unless the caller gave its own."""
    merged = dict(trace_context.get() or {})
    if headers and any(name in headers for name in TRACE_HEADERS):
        merged = {}
    merged.update(headers or {})
    return merged


@contextmanager
def incoming_trace(headers: Mapping[str, str]) -> Iterator[None]:
    """Make the trace context of a received message current while its handler runs."""
    carried = {name: headers[name] for name in TRACE_HEADERS if name in headers}
    token = trace_context.set(carried or None)
    try:
        yield
    finally:
        trace_context.reset(token)
