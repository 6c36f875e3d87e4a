"""The shipping app on a real database: it migrates and seeds at start-up, once; and the real process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from roboshop.shipping.app import create_app
from roboshop.shipping.domain import Geography
from roboshop.shipping.settings import ShippingSettings
from tests.support import free_port
from tests.unit.shipping.geography import CITIES, GEOGRAPHY, LONDON_ID

# A deadline for the wait, not a speed target: `make bench` measures start-up time.
READY_WITHIN_S = 45.0


class CountingGeography:
    def __init__(self) -> None:
        self.loads = 0

    def __call__(self) -> Geography:
        self.loads += 1
        return GEOGRAPHY


@asynccontextmanager
async def running(settings: ShippingSettings, geography: CountingGeography) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, geography=geography)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://shipping") as client,
    ):
        yield client


async def test_the_first_start_seeds_the_database_and_later_starts_do_not(database_url: str) -> None:
    geography = CountingGeography()
    settings = ShippingSettings(database_url=database_url)
    async with running(settings, geography) as client:
        assert (await client.get("/ready")).status_code == 200
        assert (await client.get("/count")).text == str(len(CITIES))
        assert (await client.get(f"/calc/{LONDON_ID}")).json() == {"distance": 704, "cost": 35.2}
    async with running(settings, geography) as client:
        assert (await client.get("/count")).text == str(len(CITIES))
    assert geography.loads == 1


async def test_a_database_that_cannot_be_reached_gives_500s_and_not_ready_until_it_can() -> None:
    geography = CountingGeography()
    settings = ShippingSettings(database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/shipping")
    async with running(settings, geography) as client:
        ready = await client.get("/ready")
        codes = await client.get("/codes")
        health = await client.get("/health")
    assert ready.status_code == 503
    assert (codes.status_code, codes.text) == (500, "database not available")
    assert (health.status_code, health.text) == (200, "OK")
    assert geography.loads == 0


async def wait_ready(url: str, process: subprocess.Popen[bytes], within_s: float) -> float:
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=1.0) as client:
        while time.monotonic() - started < within_s:
            if process.poll() is not None:
                raise AssertionError(f"shipping exited with {process.returncode} before it was ready")
            try:
                if (await client.get(f"{url}/ready")).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"shipping was not ready within {within_s}s")


@pytest.mark.timeout(60)
async def test_the_service_seeds_the_world_on_first_start_and_becomes_ready(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "ROBOSHOP_SHIPPING_PORT": str(port),
        "ROBOSHOP_SHIPPING_DATABASE_URL": f"sqlite:///{tmp_path / 'shipping.db'}",
        "ROBOSHOP_SHIPPING_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "roboshop.shipping"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url, process, READY_WITHIN_S)
        async with httpx.AsyncClient(base_url=url) as client:
            count = int((await client.get("/count")).text)
            london = (await client.get("/match/GB/london")).json()
        assert count > 30_000
        assert {"uuid": 2643743, "name": "London", "region": "ENG"}.items() <= london[0].items()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            exit_code = process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        stderr = process.stderr.read().decode() if process.stderr else ""
    assert exit_code == 0, stderr
