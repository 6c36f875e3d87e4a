"""One contract for the message bus, run on RabbitMQ, on the embedded NATS JetStream and on the in-process fake."""

from __future__ import annotations

import asyncio
import time
import uuid

import aio_pika
import pytest
from aiormq.exceptions import ChannelPreconditionFailed

from roboshop.kit.messaging import Message, trace_context
from roboshop.kit.messaging.rabbit import queue_name
from tests.integration.messaging.conftest import RABBIT_URL, Broker, Received, poll

pytestmark = pytest.mark.integration

ORDER = {"orderid": "ORD-1", "user": "anonymous-1", "cart": {"total": 42.0, "items": []}}
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def new_id() -> str:
    return uuid.uuid4().hex


async def test_a_confirmed_order_reaches_its_subscriber_with_id_body_and_headers(
    broker: Broker, received: Received
) -> None:
    consumer = await broker.connect()
    await consumer.subscribe(broker.topic, "dispatch", received.handler())
    publisher = await broker.connect()
    message_id = new_id()

    await publisher.publish(
        broker.topic,
        ORDER,
        message_id=message_id,
        headers={"traceparent": TRACEPARENT, "tracestate": "shop=1", "x-user": "anonymous-1"},
    )

    [message] = await received.wait_for(1)
    assert message.body == ORDER
    assert message.message_id == message_id
    assert message.topic == broker.topic
    assert message.attempt == 1
    assert message.headers["traceparent"] == TRACEPARENT
    assert message.headers["tracestate"] == "shop=1"
    assert message.headers["x-user"] == "anonymous-1"


async def test_the_current_trace_context_travels_with_a_message_and_is_current_in_its_handler(broker: Broker) -> None:
    seen: list[object] = []
    done = asyncio.Event()

    async def handler(message: Message) -> None:
        seen.append(trace_context.get())
        done.set()

    consumer = await broker.connect()
    await consumer.subscribe(broker.topic, "dispatch", handler)
    publisher = await broker.connect()
    token = trace_context.set({"traceparent": TRACEPARENT})
    try:
        await publisher.publish(broker.topic, ORDER, message_id=new_id())
    finally:
        trace_context.reset(token)

    await asyncio.wait_for(done.wait(), 15)
    assert seen == [{"traceparent": TRACEPARENT}]


async def test_a_failing_handler_gets_the_message_again_after_a_backoff(broker: Broker, received: Received) -> None:
    consumer = await broker.connect()
    await consumer.subscribe(broker.topic, "dispatch", received.handler(fail_first=1))
    publisher = await broker.connect()
    message_id = new_id()

    started = time.monotonic()
    await publisher.publish(broker.topic, ORDER, message_id=message_id)

    first, second = await received.wait_for(2)
    assert (first.attempt, second.attempt) == (1, 2)
    assert first.message_id == second.message_id == message_id
    assert second.body == ORDER
    assert time.monotonic() - started >= 0.2, "the retry came before the policy's first back-off"
    # Acknowledged on the second attempt: nothing more arrives and nothing is dead-lettered.
    assert await consumer.take_dead_letters(broker.topic, "dispatch") == []
    assert len(received.messages) == 2


async def test_a_message_that_keeps_failing_is_dead_lettered_after_its_last_attempt(
    broker: Broker, received: Received
) -> None:
    consumer = await broker.connect()
    await consumer.subscribe(broker.topic, "dispatch", received.handler(fail_first=99))
    publisher = await broker.connect()
    message_id = new_id()

    await publisher.publish(broker.topic, ORDER, message_id=message_id, headers={"x-user": "anonymous-1"})

    deliveries = await received.wait_for(3)
    assert [message.attempt for message in deliveries] == [1, 2, 3]
    [dead] = await poll(lambda: consumer.take_dead_letters(broker.topic, "dispatch"), 1)
    assert dead.message_id == message_id
    assert dead.body == ORDER
    assert dead.headers["x-user"] == "anonymous-1"
    assert len(received.messages) == 3, "a dead-lettered message was delivered again"


async def test_orders_published_while_the_consumer_is_down_are_delivered_when_it_comes_back(
    broker: Broker, received: Received
) -> None:
    first = await broker.connect()
    await first.subscribe(broker.topic, "dispatch", received.handler())
    await first.close()
    publisher = await broker.connect()
    ids = [new_id() for _ in range(5)]

    for message_id in ids:
        await publisher.publish(broker.topic, ORDER, message_id=message_id)
    again = await broker.connect()
    await again.subscribe(broker.topic, "dispatch", received.handler())

    messages = await received.wait_for(5)
    assert sorted(message.message_id for message in messages) == sorted(ids)


async def test_a_message_whose_handler_never_finished_is_delivered_to_the_next_consumer(
    broker: Broker, received: Received
) -> None:
    stuck = asyncio.Event()

    async def hangs(message: Message) -> None:
        stuck.set()
        await asyncio.Event().wait()

    first = await broker.connect()
    await first.subscribe(broker.topic, "dispatch", hangs)
    publisher = await broker.connect()
    message_id = new_id()
    await publisher.publish(broker.topic, ORDER, message_id=message_id)
    await asyncio.wait_for(stuck.wait(), 15)

    await first.close()
    again = await broker.connect()
    await again.subscribe(broker.topic, "dispatch", received.handler())

    [message] = await received.wait_for(1)
    assert message.message_id == message_id
    assert message.body == ORDER


async def test_each_group_gets_every_order_and_the_replicas_of_a_group_share_them(broker: Broker) -> None:
    dispatch, audit = Received(), Received()
    for _ in range(2):
        replica = await broker.connect()
        await replica.subscribe(broker.topic, "dispatch", dispatch.handler())
    auditor = await broker.connect()
    await auditor.subscribe(broker.topic, "audit", audit.handler())
    publisher = await broker.connect()
    ids = [new_id() for _ in range(6)]

    for message_id in ids:
        await publisher.publish(broker.topic, ORDER, message_id=message_id)

    assert sorted(m.message_id for m in await dispatch.wait_for(6)) == sorted(ids)
    assert sorted(m.message_id for m in await audit.wait_for(6)) == sorted(ids)


# Real brokers only: the in-process bus keeps nothing across a restart, by design.
@pytest.mark.parametrize("broker", ["rabbitmq", "nats"], indirect=True)
async def test_orders_published_before_a_broker_restart_are_delivered_after_it(
    broker: Broker, received: Received
) -> None:
    subscriber = await broker.connect()
    await subscriber.subscribe(broker.topic, "dispatch", received.handler())
    await broker.close_all()
    publisher = await broker.connect()
    message_id = new_id()
    await publisher.publish(broker.topic, ORDER, message_id=message_id)
    await broker.close_all()

    if broker.embedded is not None:
        await broker.embedded.stop()
        await broker.embedded.start()
    else:
        # The system RabbitMQ cannot be restarted from a test: prove instead what makes a message survive one —
        # it waits in a durable queue, stored as persistent, with no connection of ours open.
        await _assert_durable_queue_holds_persistent_message(queue_name(broker.topic, "dispatch"))

    again = await broker.connect()
    await again.subscribe(broker.topic, "dispatch", received.handler())
    [message] = await received.wait_for(1)
    assert message.message_id == message_id
    assert message.body == ORDER


async def _assert_durable_queue_holds_persistent_message(queue: str) -> None:
    connection = await aio_pika.connect(RABBIT_URL)
    try:
        channel = await connection.channel()
        # Re-declaring a durable queue as transient is refused: the queue really is durable.
        with pytest.raises(ChannelPreconditionFailed):
            await channel.declare_queue(queue, durable=False)
        channel = await connection.channel()
        waiting = await channel.declare_queue(queue, passive=True)
        incoming = await waiting.get(no_ack=False, fail=True)
        assert incoming.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        await incoming.nack(requeue=True)
    finally:
        await connection.close()
