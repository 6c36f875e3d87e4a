"""NATS JetStream adapter of the message bus (nats-py), used by the local profile's embedded broker.

Every topic is the subject ``<prefix>.<topic>`` of one stream kept in files, so what was published survives a broker
restart. A subscriber group is a durable pull consumer on its topic with explicit acks; a failing message is nak'ed
with the policy's delay, and once it has used its last attempt it is republished to ``<prefix>.<topic>.dlq`` (in the
same stream) and terminated. ``max_deliver`` is one more than the attempts so that a message whose last attempt was cut
short by a crash comes back once more, to be dead-lettered rather than stranded. The message id is ``Nats-Msg-Id``, so
the stream drops a duplicate publish inside its duplicate window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

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

STREAM = "robot-shop"
MSG_ID_HEADER = "Nats-Msg-Id"
FETCH_WAIT_S = 1.0
# Acknowledged messages stay in a limits-retention stream (each group acks on its own); age is what bounds it.
MAX_AGE_S = 7 * 24 * 3600.0


class NatsBus:
    def __init__(
        self,
        url: str,
        *,
        stream: str = STREAM,
        retry: RetryPolicy | None = None,
        ack_wait_s: float = 30.0,
        batch: int = 16,
        max_age_s: float = MAX_AGE_S,
    ) -> None:
        self._url = url
        self._stream = stream
        self._retry = retry or RetryPolicy()
        self._ack_wait_s = ack_wait_s
        self._batch = batch
        self._max_age_s = max_age_s
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._consumers: list[asyncio.Task[None]] = []
        self._closing = False

    def subject(self, topic: str) -> str:
        return f"{self._stream}.{topic}"

    def dead_letter_subject(self, topic: str, group: str) -> str:
        return f"{self.subject(topic)}.dlq.{group}"

    async def start(self) -> None:
        self._client = await nats.connect(self._url, name="roboshop", max_reconnect_attempts=-1)
        self._js = self._client.jetstream()
        try:
            await self._js.stream_info(self._stream)
        except NotFoundError:
            await self._js.add_stream(
                StreamConfig(
                    name=self._stream,
                    subjects=[f"{self._stream}.>"],
                    storage=StorageType.FILE,
                    max_age=self._max_age_s,
                )
            )

    async def close(self) -> None:
        # nats-py may turn a cancelled fetch into a timeout, so the loops also watch this flag.
        self._closing = True
        for task in self._consumers:
            task.cancel()
        for task in self._consumers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._consumers.clear()
        if self._client is not None and not self._client.is_closed:
            await self._client.close()
        self._client = self._js = None
        self._closing = False

    async def publish(
        self,
        topic: str,
        body: Mapping[str, Any],
        *,
        message_id: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        await self._publish(self.subject(topic), encode_body(body), message_id, outgoing_headers(headers))

    async def _publish(self, subject: str, data: bytes, message_id: str, headers: Mapping[str, str]) -> None:
        if self._js is None:
            raise RuntimeError("NatsBus.start() was not called")
        try:
            await self._js.publish(subject, data, stream=self._stream, headers={**headers, MSG_ID_HEADER: message_id})
        except NatsError as exc:
            raise PublishFailed(f"{subject}: {type(exc).__name__}: {exc}") from exc

    async def subscribe(self, topic: str, group: str, handler: Handler) -> None:
        if self._js is None:
            raise RuntimeError("NatsBus.start() was not called")
        durable = _durable(topic, group)
        await self._js.add_consumer(
            self._stream,
            ConsumerConfig(
                durable_name=durable,
                filter_subject=self.subject(topic),
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self._ack_wait_s,
                max_deliver=self._retry.max_attempts + 1,
            ),
        )
        subscription = await self._js.pull_subscribe_bind(durable=durable, stream=self._stream)
        self._consumers.append(asyncio.create_task(self._consume(subscription, topic, group, handler)))

    async def _consume(
        self, subscription: JetStreamContext.PullSubscription, topic: str, group: str, handler: Handler
    ) -> None:
        try:
            while not self._closing:
                try:
                    batch = await subscription.fetch(self._batch, timeout=FETCH_WAIT_S)
                except TimeoutError:  # nats-py raises its subclass, or the builtin when a fetch is cut short
                    continue
                except NatsError:
                    # Broker restarting: the client reconnects by itself; ask again shortly.
                    log.warning("fetch failed, retrying", extra={"topic": topic}, exc_info=True)
                    await asyncio.sleep(FETCH_WAIT_S)
                    continue
                for incoming in batch:
                    try:
                        await self._deliver(topic, group, handler, incoming)
                    except (NatsError, TimeoutError):
                        # The ack (or dead-letter copy) did not reach the broker: it redelivers after ack_wait.
                        log.warning("acknowledgement lost", extra={"topic": topic}, exc_info=True)
        finally:
            with contextlib.suppress(NatsError):
                await subscription.unsubscribe()

    async def _deliver(self, topic: str, group: str, handler: Handler, incoming: Msg) -> None:
        attempt = incoming.metadata.num_delivered
        headers = {key: value for key, value in (incoming.headers or {}).items() if key != MSG_ID_HEADER}
        message_id = (incoming.headers or {}).get(MSG_ID_HEADER, "")
        if attempt > self._retry.max_attempts:
            await self._dead_letter(topic, group, incoming, message_id, headers)
            return
        try:
            message = Message(
                topic=topic, body=decode_body(incoming.data), message_id=message_id, headers=headers, attempt=attempt
            )
        except ValueError:
            log.warning("unreadable message dead-lettered", extra={"topic": topic, "message_id": message_id})
            await self._dead_letter(topic, group, incoming, message_id, headers)
            return
        try:
            with incoming_trace(headers):
                await handler(message)
        except Exception:
            log.warning(
                "message handler failed",
                extra={"topic": topic, "message_id": message_id, "attempt": attempt},
                exc_info=True,
            )
            if attempt >= self._retry.max_attempts:
                await self._dead_letter(topic, group, incoming, message_id, headers)
            else:
                await incoming.nak(delay=self._retry.delay_after(attempt))
            return
        await incoming.ack_sync()

    async def _dead_letter(
        self, topic: str, group: str, incoming: Msg, message_id: str, headers: Mapping[str, str]
    ) -> None:
        # The dead-letter copy gets its own id: the original's is still inside the stream's duplicate window.
        await self._publish(self.dead_letter_subject(topic, group), incoming.data, f"{message_id}.dlq", headers)
        await incoming.term()

    async def take_dead_letters(self, topic: str, group: str, *, limit: int = 100) -> list[Message]:
        if self._js is None:
            raise RuntimeError("NatsBus.start() was not called")
        durable = _durable(f"{topic}.dlq", group)
        await self._js.add_consumer(
            self._stream,
            ConsumerConfig(
                durable_name=durable,
                filter_subject=self.dead_letter_subject(topic, group),
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self._ack_wait_s,
            ),
        )
        subscription = await self._js.pull_subscribe_bind(durable=durable, stream=self._stream)
        taken: list[Message] = []
        try:
            while len(taken) < limit:
                try:
                    batch = await subscription.fetch(min(self._batch, limit - len(taken)), timeout=FETCH_WAIT_S)
                except TimeoutError:  # nats-py raises its subclass, or the builtin when a fetch is cut short
                    break
                for incoming in batch:
                    message_id = (incoming.headers or {}).get(MSG_ID_HEADER, "").removesuffix(".dlq")
                    headers = {k: v for k, v in (incoming.headers or {}).items() if k != MSG_ID_HEADER}
                    taken.append(
                        Message(
                            topic=topic,
                            body=decode_body(incoming.data),
                            message_id=message_id,
                            headers=headers,
                            attempt=incoming.metadata.num_delivered,
                        )
                    )
                    await incoming.ack_sync()
        finally:
            await subscription.unsubscribe()
        return taken


def _durable(topic: str, group: str) -> str:
    # Consumer names may not contain dots.
    return f"{group}-{topic}".replace(".", "_")
