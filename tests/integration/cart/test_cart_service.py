"""The cart service over its real stores, chosen by ``store_url``, and as the process ``python -m roboshop.cart``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.cart.backends import REDIS_URL, RedisPlace
from tests.support import free_port
from tests.unit.cart.fakes import FakeCatalogue
from tests.unit.cart.shop import Shop, running_shop

WATSON_CART = (
    b'{"total":2001,"tax":333.5,"items":[{"qty":1,"sku":"Watson","name":"Watson","price":2001,"subtotal":2001}]}'
)
WATSON_SHIPPED_CART = (
    b'{"total":2036.2,"tax":339.36666666666656,"items":['
    b'{"qty":1,"sku":"Watson","name":"Watson","price":2001,"subtotal":2001},'
    b'{"qty":1,"sku":"SHIP","name":"shipping to United Kingdom London","price":35.2,"subtotal":35.2}]}'
)
LONDON = {"distance": 704, "cost": 35.2, "location": "United Kingdom London"}
START_DEADLINE_S = 20.0
STOP_DEADLINE_S = 15.0


async def shop_journey(shop: Shop) -> None:
    """A shopper's journey through the cart, as the UI and the load generator make it."""
    assert (await shop.client.get("/add/anonymous-1/Watson/1")).content == WATSON_CART
    assert (await shop.client.post("/shipping/anonymous-1", json=LONDON)).content == WATSON_SHIPPED_CART
    assert (await shop.client.get("/rename/anonymous-1/stan")).content == WATSON_SHIPPED_CART
    assert (await shop.client.get("/update/stan/SHIP/0")).content == WATSON_CART
    assert (await shop.client.get("/cart/anonymous-1")).content == WATSON_SHIPPED_CART
    assert (await shop.client.delete("/cart/stan")).text == "OK"
    assert (await shop.client.get("/cart/stan")).status_code == 404
    assert (await shop.client.get("/health")).json() == {"app": "OK", "redis": True}
    assert (await shop.client.get("/ready")).status_code == 200


async def test_the_cart_keeps_carts_in_sqlite_by_default(catalogue: FakeCatalogue, tmp_path: Path) -> None:
    settings = catalogue.settings(store_url=f"sqlite:///{tmp_path / 'data' / 'cart.db'}")

    async with running_shop(settings) as shop:
        await shop_journey(shop)

    async with running_shop(settings) as restarted:
        assert (await restarted.client.get("/cart/anonymous-1")).content == WATSON_SHIPPED_CART


@pytest.mark.integration
async def test_the_cart_keeps_carts_in_redis_when_the_store_url_says_so(
    catalogue: FakeCatalogue, redis_place: RedisPlace
) -> None:
    settings = catalogue.settings(store_url=REDIS_URL, store_key_prefix=redis_place.prefix)

    async with running_shop(settings) as shop:
        await shop_journey(shop)

    assert await redis_place.client.get(redis_place.prefix + "anonymous-1") == WATSON_SHIPPED_CART


async def test_a_redis_that_does_not_answer_is_reported_and_refused_with_503(catalogue: FakeCatalogue) -> None:
    settings = catalogue.settings(store_url=f"redis://127.0.0.1:{free_port()}/0")

    async with running_shop(settings) as shop:
        health = await shop.client.get("/health")
        ready = await shop.client.get("/ready")
        added = await shop.client.get("/add/anonymous-1/Watson/1")
        read = await shop.client.get("/cart/anonymous-1")

    assert (health.status_code, health.json()) == (200, {"app": "OK", "redis": False})
    assert ready.status_code == 503
    assert ready.json()["checks"]["store"].startswith("failing")
    for response in (added, read):
        assert (response.status_code, response.text) == (503, "cart store not available")
    assert shop.items_added() == 0


async def test_python_m_roboshop_cart_serves_until_sigterm_then_exits_0(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "ROBOSHOP_CART_PORT": str(port),
        "ROBOSHOP_CART_STORE_URL": f"sqlite:///{tmp_path / 'cart.db'}",
        "ROBOSHOP_CART_DEREGISTER_DELAY_S": "0",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "roboshop.cart"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            deadline = time.monotonic() + START_DEADLINE_S
            while True:
                assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                assert time.monotonic() < deadline, "the cart did not become ready in time"
                try:
                    if (await client.get("/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            assert (await client.get("/health")).json() == {"app": "OK", "redis": True}
            assert "items_added_total" in (await client.get("/metrics")).text

        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, STOP_DEADLINE_S) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
