"""RabbitMQ adapter of the message bus (aio-pika), keeping Robot Shop's AMQP contract.

Robot Shop's payment publishes to the durable direct exchange ``robot-shop`` with routing key ``orders``, and dispatch
consumes the durable queue ``orders``; messages are persistent. Here a topic is the routing key and a subscriber's queue
is named after the topic when the group has the topic's name (so ``subscribe("orders", "orders", ...)`` is exactly
Robot Shop's queue), ``<topic>.<group>`` otherwise.

Each queue ``Q`` has two companions, declared with it:

- ``Q.dlq``: the dead-letter queue. ``Q`` names the default exchange as its dead-letter exchange with ``Q.dlq`` as the
  key, so a message rejected without requeue after its last attempt lands there.
- ``Q.retry.<ms>``: one holding queue per back-off delay, with that message TTL, dead-lettering back into ``Q``. A
  failed message is republished there with its attempt count in the ``x-roboshop-attempt`` header, then acknowledged;
  one queue per delay keeps a long delay from holding up a short one behind it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aiormq.exceptions import AMQPError

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

EXCHANGE = "robot-shop"
ATTEMPT_HEADER = "x-roboshop-attempt"


def queue_name(topic: str, group: str) -> str:
    return topic if group == topic else f"{topic}.{group}"


def companion_queues(queue: str, policy: RetryPolicy) -> list[str]:
    """The dead-letter and retry queues declared alongside ``queue``."""
    return [f"{queue}.dlq", *(_retry_queue(queue, delay) for delay in policy.delays())]


def _retry_queue(queue: str, delay_s: float) -> str:
    return f"{queue}.retry.{round(delay_s * 1000)}"


class RabbitBus:
    def __init__(
        self,
        url: str,
        *,
        exchange: str = EXCHANGE,
        retry: RetryPolicy | None = None,
        prefetch: int = 16,
    ) -> None:
        self._url = url
        self._exchange_name = exchange
        self._retry = retry or RetryPolicy()
        self._prefetch = prefetch
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._consumers: list[tuple[AbstractChannel, AbstractQueue, str]] = []

    async def start(self) -> None:
        self._connection = await aio_pika.connect_robust(self._url)
        # Confirms make publish() wait for the broker; on_return_raises turns "no queue is bound for this key" into an
        # error instead of a silently dropped message.
        self._channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        self._exchange = await self._channel.declare_exchange(
            self._exchange_name, aio_pika.ExchangeType.DIRECT, durable=True
        )

    async def close(self) -> None:
        for channel, queue, tag in self._consumers:
            if not channel.is_closed:
                try:
                    await queue.cancel(tag)
                except (AMQPError, asyncio.CancelledError, RuntimeError):
                    log.debug("consumer already gone", extra={"queue": queue.name})
        self._consumers.clear()
        if self._connection is not None:
            await self._connection.close()
        self._connection = self._channel = self._exchange = None

    async def publish(
        self,
        topic: str,
        body: Mapping[str, Any],
        *,
        message_id: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if self._exchange is None:
            raise RuntimeError("RabbitBus.start() was not called")
        message = aio_pika.Message(
            encode_body(body),
            message_id=message_id,
            headers=dict(outgoing_headers(headers)),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        try:
            await self._exchange.publish(message, routing_key=topic, mandatory=True)
        except (AMQPError, aio_pika.exceptions.DeliveryError, ConnectionError) as exc:
            raise PublishFailed(f"{topic}: {type(exc).__name__}: {exc}") from exc

    async def subscribe(self, topic: str, group: str, handler: Handler) -> None:
        if self._connection is None or self._exchange is None:
            raise RuntimeError("RabbitBus.start() was not called")
        channel = await self._connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=self._prefetch)
        name = queue_name(topic, group)
        queue = await self.declare_queue(channel, topic, name)

        async def deliver(incoming: AbstractIncomingMessage) -> None:
            await self._deliver(channel, name, topic, handler, incoming)

        tag = await queue.consume(deliver)
        self._consumers.append((channel, queue, tag))

    async def declare_queue(self, channel: AbstractChannel, topic: str, name: str) -> AbstractQueue:
        """Declare ``name`` bound to ``topic`` with its dead-letter and retry queues (idempotent)."""
        await channel.declare_queue(f"{name}.dlq", durable=True)
        for delay in self._retry.delays():
            await channel.declare_queue(
                _retry_queue(name, delay),
                durable=True,
                arguments={
                    "x-message-ttl": round(delay * 1000),
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": name,
                },
            )
        queue = await channel.declare_queue(
            name,
            durable=True,
            arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": f"{name}.dlq"},
        )
        await queue.bind(self._exchange_name, routing_key=topic)
        return queue

    async def _deliver(
        self, channel: AbstractChannel, queue: str, topic: str, handler: Handler, incoming: AbstractIncomingMessage
    ) -> None:
        headers = {key: str(value) for key, value in (incoming.headers or {}).items() if key != ATTEMPT_HEADER}
        attempt = int(str((incoming.headers or {}).get(ATTEMPT_HEADER, 1)))
        try:
            message = Message(
                topic=topic,
                body=decode_body(incoming.body),
                message_id=incoming.message_id or "",
                headers=headers,
                attempt=attempt,
            )
        except ValueError:
            log.warning("unreadable message dead-lettered", extra={"queue": queue, "message_id": incoming.message_id})
            await incoming.reject(requeue=False)
            return
        try:
            with incoming_trace(headers):
                await handler(message)
        except Exception:
            log.warning(
                "message handler failed",
                extra={"queue": queue, "message_id": message.message_id, "attempt": attempt},
                exc_info=True,
            )
            await self._retry_or_dead_letter(channel, queue, incoming, attempt)
            return
        await incoming.ack()

    async def _retry_or_dead_letter(
        self, channel: AbstractChannel, queue: str, incoming: AbstractIncomingMessage, attempt: int
    ) -> None:
        if attempt >= self._retry.max_attempts:
            await incoming.reject(requeue=False)
            return
        retry = aio_pika.Message(
            incoming.body,
            message_id=incoming.message_id,
            headers={**(incoming.headers or {}), ATTEMPT_HEADER: attempt + 1},
            content_type=incoming.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        # Ack only once the retry copy is confirmed: a crash in between gives a duplicate, never a loss.
        await channel.default_exchange.publish(
            retry, routing_key=_retry_queue(queue, self._retry.delay_after(attempt)), mandatory=True
        )
        await incoming.ack()

    async def take_dead_letters(self, topic: str, group: str, *, limit: int = 100) -> list[Message]:
        if self._connection is None:
            raise RuntimeError("RabbitBus.start() was not called")
        channel = await self._connection.channel()
        try:
            queue = await self.declare_queue(channel, topic, queue_name(topic, group))
            dead = await channel.get_queue(f"{queue.name}.dlq", ensure=False)
            taken: list[Message] = []
            while len(taken) < limit:
                incoming = await dead.get(no_ack=False, fail=False)
                if incoming is None:
                    break
                headers = {k: str(v) for k, v in (incoming.headers or {}).items() if k != ATTEMPT_HEADER}
                attempt = int(str((incoming.headers or {}).get(ATTEMPT_HEADER, 1)))
                taken.append(
                    Message(
                        topic=topic,
                        body=decode_body(incoming.body),
                        message_id=incoming.message_id or "",
                        headers=headers,
                        attempt=attempt,
                    )
                )
                await incoming.ack()
            return taken
        finally:
            await channel.close()
