"""The gateway under load while a catalogue replica is SIGKILLed: idempotent requests keep succeeding."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import alive, start_shop, wait_until

WORKERS = 8
TOTAL = 3000
KILL_AFTER = 800
DEADLINE_S = 60.0
SETTLE_S = 1.0  # discovery's refusal handling and ejection need no longer than this after the kill


@pytest.mark.timeout(240)
async def test_a_replica_killed_under_load_costs_almost_no_failed_gets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One address sends all the load: raise the anonymous limit so that the test measures the balancer.
    monkeypatch.setenv("ROBOSHOP_GATEWAY_RATE_LIMIT_ANONYMOUS", "100000/second")
    shop = start_shop(tmp_path, "--replicas", "catalogue=3")
    try:
        victim = shop.pid_of("catalogue-2")
        results: list[tuple[float, int]] = []  # (when, status; 0 for a transport error)
        killed_at: list[float] = []

        async def worker(client: httpx.AsyncClient) -> None:
            deadline = time.monotonic() + DEADLINE_S
            while len(results) < TOTAL and time.monotonic() < deadline:
                try:
                    status = (await client.get("/api/catalogue/products")).status_code
                except httpx.TransportError:
                    status = 0
                results.append((time.monotonic(), status))
                if len(results) == KILL_AFTER and not killed_at:
                    os.kill(victim, signal.SIGKILL)
                    killed_at.append(time.monotonic())

        async with httpx.AsyncClient(base_url=shop.gateway, timeout=10) as client:
            await asyncio.gather(*(worker(client) for _ in range(WORKERS)))
        wait_until(lambda: not alive(victim), 5, "the killed replica to be gone")
    finally:
        shop.stop()
    assert killed_at, "the load ended before the kill"
    failed = [(when, status) for when, status in results if status != 200]
    assert len(results) >= TOTAL * 0.9
    assert len(failed) / len(results) < 0.005, failed[:20]
    assert [item for item in failed if item[0] > killed_at[0] + SETTLE_S] == []
