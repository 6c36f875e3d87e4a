"""JSON log lines: one object per line, with the request context and without secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from roboshop.kit import context
from roboshop.kit.logging import JsonFormatter, configure_logging


@pytest.fixture
def log_output() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("cart", "1.4.2"))
    logger = logging.getLogger("roboshop.test.cart")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    logger.propagate = True


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    text = stream.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_a_log_line_is_one_json_object_with_the_standard_fields(
    log_output: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = log_output

    logger.warning("cart %s expired", "anonymous-42")

    [entry] = lines(stream)
    assert entry["level"] == "warning"
    assert entry["service"] == "cart"
    assert entry["version"] == "1.4.2"
    assert entry["event"] == "cart anonymous-42 expired"
    assert entry["logger"] == "roboshop.test.cart"
    stamp = datetime.fromisoformat(entry["timestamp"])
    assert stamp.utcoffset() is not None
    assert stamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_extra_fields_are_carried_as_keys(log_output: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = log_output

    logger.info("item added", extra={"sku": "RD-1", "qty": 2, "price": 42.5, "tags": ["robot"]})

    [entry] = lines(stream)
    assert entry["sku"] == "RD-1"
    assert entry["qty"] == 2
    assert entry["price"] == 42.5
    assert entry["tags"] == ["robot"]


def test_values_json_cannot_encode_are_logged_as_text(log_output: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = log_output

    class Order:
        def __str__(self) -> str:
            return "order 42"

    logger.info("order placed", extra={"order": Order()})

    [entry] = lines(stream)
    assert entry["order"] == "order 42"


def test_the_request_and_correlation_ids_come_from_the_request_context(
    log_output: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = log_output
    tokens = (context.request_id.set("req-1"), context.correlation_id.set("checkout-7"), context.user.set("stan"))
    try:
        logger.info("item added")
    finally:
        context.user.reset(tokens[2])
        context.correlation_id.reset(tokens[1])
        context.request_id.reset(tokens[0])
    logger.info("outside a request")

    inside, outside = lines(stream)
    assert inside["request_id"] == "req-1"
    assert inside["correlation_id"] == "checkout-7"
    assert inside["user"] == "stan"
    assert "request_id" not in outside
    assert "correlation_id" not in outside


@pytest.mark.parametrize("key", ["password", "token", "authorization", "Authorization", "cookie", "secret", "hash"])
def test_secret_looking_extra_keys_are_dropped(log_output: tuple[logging.Logger, io.StringIO], key: str) -> None:
    logger, stream = log_output

    logger.info("user login", extra={key: "hunter2", "login": "stan"})

    [entry] = lines(stream)
    assert entry["login"] == "stan"
    assert "hunter2" not in stream.getvalue()


@pytest.mark.parametrize("key", ["access_token", "new_password", "set_cookie", "client_secret", "api_key"])
def test_compound_secret_keys_are_dropped(log_output: tuple[logging.Logger, io.StringIO], key: str) -> None:
    logger, stream = log_output

    logger.info("user login", extra={key: "hunter2"})

    assert "hunter2" not in stream.getvalue()


def test_an_exception_is_included_and_the_entry_stays_on_one_line(
    log_output: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = log_output

    try:
        raise ConnectionError("catalogue refused the connection")
    except ConnectionError:
        logger.exception("price lookup failed")

    [entry] = lines(stream)
    assert entry["level"] == "error"
    assert entry["event"] == "price lookup failed"
    assert "Traceback" in entry["exception"]
    assert "ConnectionError: catalogue refused the connection" in entry["exception"]


def test_configure_logging_sends_every_logger_through_one_json_handler(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    uvicorn_access = logging.getLogger("uvicorn.access")
    try:
        configure_logging("ratings", "2.0.0", "debug")
        logging.getLogger("uvicorn.error").info("Started server process")
        logging.getLogger("roboshop.ratings").debug("rating stored", extra={"sku": "RD-1"})
        uvicorn_access.info("uvicorn's own access line")
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        uvicorn_access.disabled = False

    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["logger"], e["event"]) for e in entries] == [
        ("uvicorn.error", "Started server process"),
        ("roboshop.ratings", "rating stored"),
    ]
    assert all(e["service"] == "ratings" and e["version"] == "2.0.0" for e in entries)
