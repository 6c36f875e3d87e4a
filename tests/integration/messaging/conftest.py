"""Real brokers for the messaging contract: the system RabbitMQ and an embedded NATS JetStream per test."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import pytest

from roboshop.kit.messaging import Message, MessageBus, RetryPolicy
from roboshop.kit.messaging.broker import EmbeddedNats
from roboshop.kit.messaging.jetstream import NatsBus
from roboshop.kit.messaging.memory import MemoryBroker
from roboshop.kit.messaging.rabbit import RabbitBus, companion_queues, queue_name
from tests.support import require_server

RABBIT_URL = "amqp://guest:guest@127.0.0.1:5672/"
FAST_RETRY = RetryPolicy(max_attempts=3, backoff_s=(0.2, 0.4))
GROUPS = ("dispatch", "audit")


@dataclass
class Broker:
    """One broker under test: ``connect()`` opens another started bus on it, closed at teardown."""

    kind: str
    topic: str
    make: Callable[[], MessageBus]
    embedded: EmbeddedNats | None = None
    buses: list[MessageBus] = field(default_factory=list)

    async def connect(self) -> MessageBus:
        bus = self.make()
        await bus.start()
        self.buses.append(bus)
        return bus

    async def close_all(self) -> None:
        for bus in self.buses:
            await bus.close()
        self.buses.clear()


@pytest.fixture(params=["rabbitmq", "nats", "memory"])
async def broker(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Broker]:
    topic = f"orders-{uuid.uuid4().hex[:8]}"
    if request.param == "memory":
        memory = MemoryBroker(FAST_RETRY)
        in_process = Broker("memory", topic, memory.connect)
        yield in_process
        await in_process.close_all()
        return
    if request.param == "rabbitmq":
        require_server("RabbitMQ", "127.0.0.1", 5672)
        exchange = f"robot-shop-test-{uuid.uuid4().hex[:8]}"
        rabbit = Broker("rabbitmq", topic, lambda: RabbitBus(RABBIT_URL, exchange=exchange, retry=FAST_RETRY))
        yield rabbit
        await rabbit.close_all()
        await _delete_rabbit_objects(exchange, topic)
        return
    embedded = EmbeddedNats(tmp_path / "nats")
    await embedded.start()
    nats_broker = Broker(
        "nats", topic, lambda: NatsBus(embedded.url, retry=FAST_RETRY, ack_wait_s=1.0), embedded=embedded
    )
    try:
        yield nats_broker
        await nats_broker.close_all()
    finally:
        await embedded.stop()


async def _delete_rabbit_objects(exchange: str, topic: str) -> None:
    connection = await aio_pika.connect(RABBIT_URL)
    try:
        for group in (*GROUPS, topic):
            name = queue_name(topic, group)
            for queue in (name, *companion_queues(name, FAST_RETRY)):
                channel = await connection.channel()
                await channel.queue_delete(queue)
                await channel.close()
        channel = await connection.channel()
        await channel.exchange_delete(exchange)
    finally:
        await connection.close()


class Received:
    """What a handler saw, with a way to wait for it."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._changed = asyncio.Event()

    def record(self, message: Message) -> None:
        self.messages.append(message)
        self._changed.set()

    async def wait_for(self, count: int, timeout_s: float = 15.0) -> list[Message]:
        deadline = time.monotonic() + timeout_s
        while len(self.messages) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"received {len(self.messages)} messages, expected {count}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                continue
        return self.messages

    def handler(self, fail_first: int = 0) -> Callable[[Message], Awaitable[None]]:
        """A handler recording every delivery; it raises on the first ``fail_first`` deliveries of each message."""

        async def handle(message: Message) -> None:
            self.record(message)
            if message.attempt <= fail_first:
                raise RuntimeError(f"refusing attempt {message.attempt}")

        return handle


@pytest.fixture
def received() -> Received:
    return Received()


async def poll(check: Callable[[], Awaitable[list[Message]]], count: int, timeout_s: float = 15.0) -> list[Message]:
    """Call ``check`` until it has returned ``count`` messages in all, or fail at the deadline."""
    deadline = time.monotonic() + timeout_s
    found: list[Message] = []
    while len(found) < count:
        found.extend(await check())
        if len(found) < count and time.monotonic() > deadline:
            raise AssertionError(f"found {len(found)} messages, expected {count}")
        await asyncio.sleep(0.1)
    return found
