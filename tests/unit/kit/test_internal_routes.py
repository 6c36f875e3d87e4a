"""Internal routes need this deployment's service credential; the peer client sends it."""

from __future__ import annotations

import httpx
import pytest
from aiohttp import web
from fastapi import APIRouter
from pydantic import ValidationError

from roboshop.kit.app import create_service_app
from roboshop.kit.discovery import StaticDiscovery
from roboshop.kit.internal import INTERNAL_TOKEN_HEADER, InternalCaller
from roboshop.kit.peer import PeerClient
from roboshop.kit.settings import ServiceSettings
from tests.support import free_port

router = APIRouter()


@router.delete("/cart/{cart_id}")
async def delete_cart(cart_id: str, _: InternalCaller) -> dict[str, str]:
    return {"deleted": cart_id}


async def call(settings: ServiceSettings, headers: dict[str, str]) -> httpx.Response:
    app = create_service_app(settings, routers=[router])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cart") as client:
            return await client.delete("/cart/anonymous-1", headers=headers)


async def test_an_internal_route_refuses_a_caller_without_the_credential() -> None:
    settings = ServiceSettings(service_name="cart", internal_token="s3cret-token")
    missing = await call(settings, {})
    wrong = await call(settings, {INTERNAL_TOKEN_HEADER: "guess"})
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert "internal route" in missing.json()["detail"]


async def test_an_internal_route_serves_a_caller_with_the_credential() -> None:
    settings = ServiceSettings(service_name="cart", internal_token="s3cret-token")
    response = await call(settings, {INTERNAL_TOKEN_HEADER: "s3cret-token"})
    assert response.json() == {"deleted": "anonymous-1"}


async def test_without_a_configured_token_internal_routes_are_open_for_local_development() -> None:
    response = await call(ServiceSettings(service_name="cart"), {})
    assert response.status_code == 200


def test_production_refuses_to_start_without_an_internal_token() -> None:
    with pytest.raises(ValidationError, match="INTERNAL_TOKEN"):
        ServiceSettings(service_name="cart", environment="production")


async def test_the_peer_client_sends_the_credential_on_every_call() -> None:
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get(INTERNAL_TOKEN_HEADER))
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    peers = PeerClient(StaticDiscovery({"user": f"http://127.0.0.1:{port}"}), internal_token="s3cret-token")
    await peers.start()
    try:
        await peers.get("user", "/check/stan")
        await peers.post("user", "/order/stan", json={"orderid": "1"})
    finally:
        await peers.close()
        await runner.cleanup()
    assert seen == ["s3cret-token", "s3cret-token"]
