"""The transactional outbox and the inbox on every database, published through the real RabbitMQ."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from roboshop.kit.db import create_engine
from roboshop.kit.messaging import Message, trace_context
from roboshop.kit.messaging.outbox import Inbox, OutboxRelay, add_event, inbox_table, outbox_table
from roboshop.kit.messaging.rabbit import RabbitBus, companion_queues, queue_name
from tests.integration.messaging.conftest import FAST_RETRY, RABBIT_URL, Received
from tests.support import require_server

METADATA = MetaData()
OUTBOX = outbox_table(METADATA)
INBOX = inbox_table(METADATA)
# The state change an event reports: a paid order.
ORDERS = Table("orders", METADATA, Column("orderid", String(40), primary_key=True), Column("total", Integer))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(METADATA.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
async def rabbit() -> AsyncIterator[tuple[str, list[RabbitBus]]]:
    """A unique exchange on the system RabbitMQ, and the buses opened on it (closed, and their queues deleted)."""
    require_server("RabbitMQ", "127.0.0.1", 5672)
    exchange = f"robot-shop-test-{uuid.uuid4().hex[:8]}"
    buses: list[RabbitBus] = []
    yield exchange, buses
    for bus in buses:
        await bus.close()
    import aio_pika

    connection = await aio_pika.connect(RABBIT_URL)
    try:
        channel = await connection.channel()
        for name in (queue_name("orders", "dispatch"), *companion_queues(queue_name("orders", "dispatch"), FAST_RETRY)):
            await channel.queue_delete(name)
        await channel.exchange_delete(exchange)
    finally:
        await connection.close()


async def open_bus(rabbit: tuple[str, list[RabbitBus]]) -> RabbitBus:
    exchange, buses = rabbit
    bus = RabbitBus(RABBIT_URL, exchange=exchange, retry=FAST_RETRY)
    await bus.start()
    buses.append(bus)
    return bus


async def pay_order(engine: AsyncEngine, orderid: str) -> str:
    async with engine.begin() as conn:
        await conn.execute(insert(ORDERS).values(orderid=orderid, total=42))
        return await add_event(conn, OUTBOX, "orders", {"orderid": orderid, "user": "anonymous-1", "cart": {}})


async def pending(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(select(func.count()).select_from(OUTBOX).where(OUTBOX.c.published_at.is_(None)))
    return int(count or 0)


async def test_an_event_is_recorded_only_if_its_state_change_commits(engine: AsyncEngine) -> None:
    async def pay_then_fail() -> None:
        async with engine.begin() as conn:
            await conn.execute(insert(ORDERS).values(orderid="ORD-1", total=42))
            await add_event(conn, OUTBOX, "orders", {"orderid": "ORD-1"})
            raise RuntimeError("payment declined")

    with pytest.raises(RuntimeError, match="payment declined"):
        await pay_then_fail()
    await pay_order(engine, "ORD-2")

    async with engine.connect() as conn:
        events = (await conn.execute(select(OUTBOX))).all()
    assert [event.body["orderid"] for event in events] == ["ORD-2"]
    assert events[0].published_at is None
    assert events[0].attempts == 0


async def test_an_event_keeps_the_trace_context_of_the_request_that_caused_it(engine: AsyncEngine) -> None:
    token = trace_context.set({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
    try:
        await pay_order(engine, "ORD-1")
    finally:
        trace_context.reset(token)

    async with engine.connect() as conn:
        headers = await conn.scalar(select(OUTBOX.c.headers))
    assert headers == {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}


async def test_two_relays_publish_every_event_exactly_once(
    engine: AsyncEngine, database_url: str, rabbit: tuple[str, list[RabbitBus]]
) -> None:
    received = Received()
    consumer = await open_bus(rabbit)
    await consumer.subscribe("orders", "dispatch", received.handler())
    ids = [await pay_order(engine, f"ORD-{n}") for n in range(40)]
    # A second engine stands for a second replica of the service.
    other_engine = create_engine(database_url)
    relays = [
        OutboxRelay(engine, OUTBOX, await open_bus(rabbit), batch=5, poll_s=0.05),
        OutboxRelay(other_engine, OUTBOX, await open_bus(rabbit), batch=5, poll_s=0.05),
    ]
    try:
        for relay in relays:
            relay.start()
        messages = await received.wait_for(40)
    finally:
        for relay in relays:
            await relay.close()
        await other_engine.dispose()

    assert Counter(message.message_id for message in messages) == Counter(ids)
    assert [message.body["orderid"] for message in messages if message.message_id == ids[0]] == ["ORD-0"]
    async with engine.connect() as conn:
        attempts = (await conn.execute(select(OUTBOX.c.attempts))).scalars().all()
    assert attempts == [1] * 40, "an event was claimed by both relays"
    assert await pending(engine) == 0


async def test_events_nobody_can_receive_yet_wait_in_the_outbox_and_a_restarted_relay_publishes_them(
    engine: AsyncEngine, rabbit: tuple[str, list[RabbitBus]]
) -> None:
    first_ids = [await pay_order(engine, f"ORD-{n}") for n in range(3)]
    relay = OutboxRelay(engine, OUTBOX, await open_bus(rabbit))

    # No queue is bound to "orders" yet: RabbitMQ returns the message, so the events stay pending.
    assert await relay.publish_pending() == 0
    assert await pending(engine) == 3
    await relay.close()

    received = Received()
    consumer = await open_bus(rabbit)
    await consumer.subscribe("orders", "dispatch", received.handler())
    later_ids = [await pay_order(engine, f"ORD-{n}") for n in range(3, 5)]
    restarted = OutboxRelay(engine, OUTBOX, await open_bus(rabbit), poll_s=0.05)
    restarted.start()
    try:
        messages = await received.wait_for(5)
    finally:
        await restarted.close()

    assert [message.message_id for message in messages] == first_ids + later_ids, "published out of order"
    assert await pending(engine) == 0


async def test_a_message_delivered_twice_has_its_effect_once(engine: AsyncEngine) -> None:
    inbox = Inbox(INBOX, consumer="dispatch")
    message = Message(topic="orders", body={"orderid": "ORD-1", "total": 42}, message_id="m-1")

    async def dispatch(message: Message) -> None:
        async with engine.begin() as conn:
            if await inbox.claim(conn, message.message_id):
                await conn.execute(insert(ORDERS).values(orderid=message.body["orderid"], total=message.body["total"]))

    await dispatch(message)
    await dispatch(message)
    await asyncio.gather(dispatch(Message("orders", {"orderid": "ORD-2", "total": 1}, "m-2")), dispatch(message))

    async with engine.connect() as conn:
        orders = (await conn.execute(select(ORDERS.c.orderid).order_by(ORDERS.c.orderid))).scalars().all()
    assert orders == ["ORD-1", "ORD-2"]


async def test_an_effect_that_fails_leaves_the_message_unprocessed_for_its_redelivery(engine: AsyncEngine) -> None:
    inbox = Inbox(INBOX, consumer="dispatch")

    async def claim_then_fail() -> None:
        async with engine.begin() as conn:
            assert await inbox.claim(conn, "m-1")
            raise RuntimeError("dispatch failed")

    with pytest.raises(RuntimeError, match="dispatch failed"):
        await claim_then_fail()

    async with engine.begin() as conn:
        assert await inbox.claim(conn, "m-1")
    async with engine.begin() as conn:
        assert not await inbox.claim(conn, "m-1")
    async with engine.begin() as conn:
        assert await Inbox(INBOX, consumer="audit").claim(conn, "m-1"), "another consumer's inbox was consulted"
