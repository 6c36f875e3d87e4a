"""What each adapter promises beyond the common contract: Robot Shop's AMQP shape, JetStream's dedup."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import nats
import pytest
from aiormq.exceptions import ChannelPreconditionFailed

from roboshop.kit.messaging import PublishFailed
from roboshop.kit.messaging.broker import EmbeddedNats
from roboshop.kit.messaging.jetstream import NatsBus
from roboshop.kit.messaging.rabbit import RabbitBus
from tests.integration.messaging.conftest import FAST_RETRY, RABBIT_URL, Received
from tests.support import require_server


@pytest.fixture
async def rabbit_exchange() -> AsyncIterator[str]:
    require_server("RabbitMQ", "127.0.0.1", 5672)
    exchange = f"robot-shop-test-{uuid.uuid4().hex[:8]}"
    yield exchange
    connection = await aio_pika.connect(RABBIT_URL)
    try:
        channel = await connection.channel()
        await channel.exchange_delete(exchange)
    finally:
        await connection.close()


@pytest.mark.integration
async def test_rabbitmq_exchange_is_direct_and_durable_as_robot_shop_declares_it(rabbit_exchange: str) -> None:
    bus = RabbitBus(RABBIT_URL, exchange=rabbit_exchange, retry=FAST_RETRY)
    await bus.start()
    await bus.close()

    connection = await aio_pika.connect(RABBIT_URL)
    try:
        channel = await connection.channel()
        await channel.declare_exchange(rabbit_exchange, aio_pika.ExchangeType.DIRECT, durable=True)
        with pytest.raises(ChannelPreconditionFailed):
            await channel.declare_exchange(rabbit_exchange, aio_pika.ExchangeType.DIRECT, durable=False)
    finally:
        await connection.close()


@pytest.mark.integration
async def test_rabbitmq_refuses_an_order_no_queue_would_receive_instead_of_dropping_it(rabbit_exchange: str) -> None:
    bus = RabbitBus(RABBIT_URL, exchange=rabbit_exchange, retry=FAST_RETRY)
    await bus.start()
    try:
        with pytest.raises(PublishFailed, match="NO_ROUTE"):
            await bus.publish("orders-nobody-listens", {"orderid": "ORD-1"}, message_id="m-1")
    finally:
        await bus.close()


async def test_jetstream_stores_a_message_published_twice_with_one_id_once(tmp_path: Path) -> None:
    broker = EmbeddedNats(tmp_path / "nats")
    await broker.start()
    bus = NatsBus(broker.url, retry=FAST_RETRY)
    try:
        await bus.start()
        received = Received()
        await bus.subscribe("orders", "dispatch", received.handler())
        await bus.publish("orders", {"orderid": "ORD-1"}, message_id="m-1")
        await bus.publish("orders", {"orderid": "ORD-1"}, message_id="m-1")
        await bus.publish("orders", {"orderid": "ORD-2"}, message_id="m-2")

        messages = await received.wait_for(2)
        assert [message.message_id for message in messages] == ["m-1", "m-2"]
        client = await nats.connect(broker.url)
        try:
            stream = await client.jetstream().stream_info("robot-shop")
        finally:
            await client.close()
        assert stream.state.messages == 2
    finally:
        await bus.close()
        await broker.stop()


async def test_a_connected_jetstream_consumer_carries_on_after_the_embedded_broker_restarts(tmp_path: Path) -> None:
    broker = EmbeddedNats(tmp_path / "nats")
    await broker.start()
    consumer = NatsBus(broker.url, retry=FAST_RETRY)
    received = Received()
    try:
        await consumer.start()
        await consumer.subscribe("orders", "dispatch", received.handler())
        await broker.stop()
        await broker.start()
        publisher = NatsBus(broker.url, retry=FAST_RETRY)
        await publisher.start()
        try:
            await publisher.publish("orders", {"orderid": "ORD-1"}, message_id="m-1")
        finally:
            await publisher.close()

        [message] = await received.wait_for(1, timeout_s=30)
        assert message.message_id == "m-1"
    finally:
        await consumer.close()
        await broker.stop()
