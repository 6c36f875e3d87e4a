"""An in-process message bus for unit tests, held to the same contract suite as the real brokers.

A :class:`MemoryBroker` stands for the broker (its queues outlive the buses connected to it, as a broker's outlive a
consumer restart); each :meth:`MemoryBroker.connect` gives a :class:`MemoryBus`. Like RabbitMQ, a group's queue exists
from its first subscription and a publish that no queue would receive fails. Nothing survives the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from roboshop.kit.messaging.bus import (
    Handler,
    Message,
    PublishFailed,
    RetryPolicy,
    decode_body,
    encode_body,
    incoming_trace,
    outgoing_headers,
)

log = logging.getLogger("roboshop.messaging")


@dataclass
class _GroupQueue:
    ready: asyncio.Queue[Message] = field(default_factory=asyncio.Queue)
    dead: list[Message] = field(default_factory=list)


class MemoryBroker:
    def __init__(self, retry: RetryPolicy | None = None) -> None:
        self.retry = retry or RetryPolicy()
        self._queues: dict[tuple[str, str], _GroupQueue] = {}

    def connect(self) -> MemoryBus:
        return MemoryBus(self)

    def queue(self, topic: str, group: str) -> _GroupQueue:
        return self._queues.setdefault((topic, group), _GroupQueue())

    def route(self, message: Message) -> None:
        targets = [queue for (topic, _group), queue in self._queues.items() if topic == message.topic]
        if not targets:
            raise PublishFailed(f"{message.topic}: no queue would receive the message")
        for queue in targets:
            queue.ready.put_nowait(message)


class MemoryBus:
    def __init__(self, broker: MemoryBroker) -> None:
        self._broker = broker
        self._consumers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for task in self._consumers:
            task.cancel()
        for task in self._consumers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._consumers.clear()

    async def publish(
        self,
        topic: str,
        body: Mapping[str, Any],
        *,
        message_id: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        # Through JSON and back, so a body the real brokers could not carry fails here too.
        message = Message(topic, decode_body(encode_body(body)), message_id, outgoing_headers(headers))
        self._broker.route(message)

    async def subscribe(self, topic: str, group: str, handler: Handler) -> None:
        queue = self._broker.queue(topic, group)
        self._consumers.append(asyncio.create_task(self._consume(queue, handler)))

    async def take_dead_letters(self, topic: str, group: str, *, limit: int = 100) -> list[Message]:
        dead = self._broker.queue(topic, group).dead
        taken, dead[:] = dead[:limit], dead[limit:]
        return taken

    async def _consume(self, queue: _GroupQueue, handler: Handler) -> None:
        while True:
            message = await queue.ready.get()
            try:
                with incoming_trace(message.headers):
                    await handler(message)
            except asyncio.CancelledError:
                # Unacknowledged when its consumer went away: another consumer of the group gets it.
                queue.ready.put_nowait(message)
                raise
            except Exception:
                log.warning("message handler failed", extra={"message_id": message.message_id}, exc_info=True)
                self._retry_or_dead_letter(queue, message)

    def _retry_or_dead_letter(self, queue: _GroupQueue, message: Message) -> None:
        retry = self._broker.retry
        if message.attempt >= retry.max_attempts:
            queue.dead.append(message)
            return
        again = replace(message, attempt=message.attempt + 1)
        delay = retry.delay_after(message.attempt)
        # The broker holds the retry, not this bus: it comes back even if this consumer closes meanwhile.
        asyncio.get_running_loop().call_later(delay, queue.ready.put_nowait, again)
