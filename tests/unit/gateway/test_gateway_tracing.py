"""The gateway's own span: a child of the caller's traceparent, and the parent of the upstream's."""

from __future__ import annotations

import pytest

from .conftest import MakeSettings
from .servers import shop_with

CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_the_upstream_continues_the_callers_trace_under_the_gateways_span(make_settings: MakeSettings) -> None:
    async with shop_with(make_settings, "catalogue") as shop:
        await shop.client.get("/api/catalogue/products", headers={"traceparent": CALLER})
    (sent,) = shop.upstream.seen[0].header("traceparent")
    version, trace_id, parent_id, flags = sent.split("-")
    assert (version, trace_id, flags) == ("00", "4bf92f3577b34da6a3ce929d0e0e4736", "01")
    assert parent_id != "00f067aa0ba902b7", "the gateway's own span sits between the caller and the service"


async def test_a_request_without_a_traceparent_starts_a_trace_at_the_gateway(make_settings: MakeSettings) -> None:
    async with shop_with(make_settings, "catalogue") as shop:
        await shop.client.get("/api/catalogue/products")
    (sent,) = shop.upstream.seen[0].header("traceparent")
    assert len(sent.split("-")[1]) == 32


async def test_with_tracing_off_the_callers_traceparent_passes_through_unchanged(
    make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    async with shop_with(make_settings, "catalogue") as shop:
        await shop.client.get("/api/catalogue/products", headers={"traceparent": CALLER})
    assert shop.upstream.seen[0].header("traceparent") == [CALLER]
