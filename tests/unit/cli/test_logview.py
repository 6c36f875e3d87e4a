"""Rendering the services' JSON log lines for the terminal."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from roboshop.cli.logview import LogView

BASE = {
    "timestamp": "2024-05-01T12:34:56.789+00:00",
    "level": "info",
    "service": "catalogue",
    "version": "0.1.0",
    "logger": "roboshop.access",
    "request_id": "5f0c0ffee",
    "correlation_id": "5f0c0ffee",
}


def line(**fields: Any) -> str:
    return json.dumps(BASE | fields)


@pytest.fixture
def view() -> LogView:
    return LogView(io.StringIO(), colour=False)


def test_a_request_line_reads_method_path_arrow_status(view: LogView) -> None:
    rendered = view.render(
        line(event="request", method="GET", path="/products/RD-1", route="/products/{sku}", status=200, duration_ms=1.5)
    )

    assert rendered == "12:34:56.789 info    GET /products/RD-1 -> 200 1.5ms"


def test_other_events_show_their_extra_keys_but_not_the_standard_fields(view: LogView) -> None:
    rendered = view.render(
        line(event="instance dropped", level="warning", peer="cart", instance="cart-2", logger="roboshop.discovery")
    )

    assert rendered == "12:34:56.789 warning instance dropped peer=cart instance=cart-2"


def test_an_event_without_extras_is_just_the_event(view: LogView) -> None:
    assert view.render(line(event="schema migrated")) == "12:34:56.789 info    schema migrated"


def test_an_exception_follows_on_its_own_lines(view: LogView) -> None:
    trace = 'Traceback (most recent call last):\n  File "api.py", line 3\nRuntimeError: boom'

    rendered = view.render(line(event="unhandled error", level="error", exception=trace))

    first, *rest = rendered.split("\n")
    assert first == "12:34:56.789 error   unhandled error"
    assert "\n".join(rest) == trace


@pytest.mark.parametrize(
    "text",
    [
        "INFO:     Started server process [4242]",
        "Traceback (most recent call last):",
        "{not json at all",
        '["a", "json", "array"]',
        "",
    ],
)
def test_lines_that_are_not_json_objects_pass_through_unchanged(view: LogView, text: str) -> None:
    assert view.render(text) == text


def test_raw_mode_prints_json_lines_as_they_are() -> None:
    raw = LogView(io.StringIO(), raw=True, colour=False)
    text = line(event="request", method="GET", path="/", status=200, duration_ms=1.0)

    assert raw.render(text) == text


def test_each_printed_line_is_prefixed_with_its_instance() -> None:
    out = io.StringIO()
    view = LogView(out, width=14, colour=False)

    view("catalogue-2", line(event="schema migrated"))
    view("ratings-1", "plain text")

    assert out.getvalue().splitlines() == [
        "catalogue-2   | 12:34:56.789 info    schema migrated",
        "ratings-1     | plain text",
    ]


def test_replicas_of_a_service_share_its_colour_and_services_get_different_ones() -> None:
    out = io.StringIO()
    view = LogView(out, colour=True)

    for instance in ("catalogue-1", "catalogue-2", "ratings-1"):
        view(instance, "x")

    prefixes = [printed.split("catalogue")[0].split("ratings")[0] for printed in out.getvalue().splitlines()]
    assert prefixes[0] == prefixes[1]
    assert prefixes[0] != prefixes[2]
