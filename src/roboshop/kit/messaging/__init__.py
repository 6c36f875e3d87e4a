"""Messaging: one bus port over RabbitMQ and NATS JetStream, a transactional outbox and an inbox for consumers."""

from __future__ import annotations

from roboshop.kit.messaging.bus import (
    Handler,
    Message,
    MessageBus,
    PublishFailed,
    RetryPolicy,
    trace_context,
)


def open_bus(url: str, *, retry: RetryPolicy | None = None) -> MessageBus:
    """The adapter for ``url``: ``amqp://`` gives RabbitMQ, ``nats://`` NATS JetStream, ``memory://`` an in-process
    bus with a broker of its own (tests, single-process tools). Call ``start()`` on it."""
    scheme = url.split("://", 1)[0].lower()
    if scheme in {"amqp", "amqps"}:
        from roboshop.kit.messaging.rabbit import RabbitBus

        return RabbitBus(url, retry=retry)
    if scheme in {"nats", "tls"}:
        from roboshop.kit.messaging.jetstream import NatsBus

        return NatsBus(url, retry=retry)
    if scheme == "memory":
        from roboshop.kit.messaging.memory import MemoryBroker

        return MemoryBroker(retry).connect()
    raise ValueError(f"unsupported message broker URL scheme '{scheme}'")


__all__ = ["Handler", "Message", "MessageBus", "PublishFailed", "RetryPolicy", "open_bus", "trace_context"]
