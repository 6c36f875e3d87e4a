"""The broker-independent parts of the bus: retry policy, adapter choice, trace context."""

from __future__ import annotations

import pytest

from roboshop.kit.messaging import RetryPolicy, open_bus, trace_context
from roboshop.kit.messaging.bus import decode_body, encode_body, incoming_trace, outgoing_headers
from roboshop.kit.messaging.jetstream import NatsBus
from roboshop.kit.messaging.memory import MemoryBus
from roboshop.kit.messaging.rabbit import RabbitBus, companion_queues, queue_name

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_the_retry_policy_waits_longer_after_each_failure_and_repeats_its_last_delay() -> None:
    policy = RetryPolicy(max_attempts=5, backoff_s=(1.0, 5.0))

    assert [policy.delay_after(attempt) for attempt in range(1, 5)] == [1.0, 5.0, 5.0, 5.0]
    assert policy.delays() == (1.0, 5.0)


def test_a_policy_of_one_attempt_never_waits() -> None:
    assert RetryPolicy(max_attempts=1).delays() == ()


@pytest.mark.parametrize("policy", [{"max_attempts": 0}, {"backoff_s": ()}, {"backoff_s": (1.0, 0.0)}])
def test_a_retry_policy_without_attempts_or_with_a_zero_delay_is_refused(policy: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"max_attempts|backoff_s"):
        RetryPolicy(**policy)  # type: ignore[arg-type]


def test_the_broker_url_chooses_the_adapter() -> None:
    assert isinstance(open_bus("amqp://guest:guest@127.0.0.1:5672/"), RabbitBus)
    assert isinstance(open_bus("nats://127.0.0.1:4222"), NatsBus)
    assert isinstance(open_bus("memory://"), MemoryBus)
    with pytest.raises(ValueError, match="kafka"):
        open_bus("kafka://127.0.0.1:9092")


def test_robot_shops_orders_queue_keeps_its_name_and_other_groups_get_their_own() -> None:
    assert queue_name("orders", "orders") == "orders"
    assert queue_name("orders", "audit") == "orders.audit"
    policy = RetryPolicy(max_attempts=4, backoff_s=(0.5, 2.0))
    assert companion_queues("orders", policy) == ["orders.dlq", "orders.retry.500", "orders.retry.2000"]


def test_a_message_carries_the_current_trace_context_unless_the_caller_gives_one() -> None:
    token = trace_context.set({"traceparent": TRACEPARENT, "tracestate": "shop=1"})
    try:
        assert outgoing_headers({"x-user": "u1"}) == {
            "traceparent": TRACEPARENT,
            "tracestate": "shop=1",
            "x-user": "u1",
        }
        assert outgoing_headers({"traceparent": "00-other-01"}) == {"traceparent": "00-other-01"}
    finally:
        trace_context.reset(token)
    assert outgoing_headers(None) == {}


def test_a_received_trace_context_is_current_only_while_its_handler_runs() -> None:
    with incoming_trace({"traceparent": TRACEPARENT, "x-user": "u1"}):
        assert trace_context.get() == {"traceparent": TRACEPARENT}
    assert trace_context.get() is None


def test_a_body_must_be_a_json_object() -> None:
    assert decode_body(encode_body({"orderid": "ORD-1"})) == {"orderid": "ORD-1"}
    with pytest.raises(ValueError, match="JSON object"):
        decode_body(b"[1, 2]")
