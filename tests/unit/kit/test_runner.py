"""The process lifecycle: a tiny service run as a real subprocess against a fake registry."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from fastapi import FastAPI

import roboshop.kit.runner
from roboshop.kit.app import create_service_app
from roboshop.kit.runner import serve
from roboshop.kit.settings import ServiceSettings

from .fakes import FakeRegistry

SLOW_REQUEST_S = 0.6

SERVICE = """
    import asyncio
    import os
    from pathlib import Path

    from fastapi import APIRouter, FastAPI
    from pydantic_settings import SettingsConfigDict

    from roboshop.kit.app import create_service_app
    from roboshop.kit.runner import run
    from roboshop.kit.settings import ServiceSettings


    class DemoSettings(ServiceSettings):
        model_config = SettingsConfigDict(env_prefix="ROBOSHOP_DEMO_", extra="ignore")
        service_name: str = "demo"


    def create_app(settings: DemoSettings) -> FastAPI:
        router = APIRouter()

        @router.get("/slow")
        async def slow(seconds: float) -> dict[str, float]:
            Path(os.environ["DEMO_IN_FLIGHT_MARKER"]).touch()
            await asyncio.sleep(seconds)
            return {"slept": seconds}

        return create_service_app(settings, routers=[router])


    if __name__ == "__main__":
        run(DemoSettings(), create_app)
"""


async def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


class DemoProcess:
    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")]

    def output(self) -> str:
        return self.log.read_text()


@pytest.fixture
async def registry() -> AsyncIterator[FakeRegistry]:
    registry = FakeRegistry(probe_checks=True)
    await registry.start()
    yield registry
    await registry.stop()


@pytest.fixture
async def demo(tmp_path: Path, registry: FakeRegistry) -> AsyncIterator[DemoProcess]:
    script = tmp_path / "demo_service.py"
    script.write_text(textwrap.dedent(SERVICE))
    log = tmp_path / "demo.log"
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "ROBOSHOP_DEMO_PORT": "0",
        "ROBOSHOP_DEMO_INSTANCE_ID": "demo-1",
        "ROBOSHOP_DEMO_REGISTRY_URL": registry.url,
        "ROBOSHOP_DEMO_GRACE_PERIOD_S": "5",
        "ROBOSHOP_DEMO_DEREGISTER_DELAY_S": "0.1",
        "DEMO_IN_FLIGHT_MARKER": str(tmp_path / "in-flight"),
    }
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(script), env=env, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
    demo = DemoProcess(process, log)
    yield demo
    if process.returncode is None:
        process.kill()
        await process.wait()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_service_registers_once_serving_and_on_a_signal_deregisters_drains_and_exits_0(
    demo: DemoProcess, registry: FakeRegistry, tmp_path: Path, sig: signal.Signals
) -> None:
    await wait_until(lambda: bool(registry.registrations()) or demo.process.returncode is not None, "the registration")
    assert demo.process.returncode is None, demo.output()
    [registered] = registry.registrations()
    assert registered.instance_id == "demo-1"
    assert registered.payload["Name"] == "demo"
    assert registered.check_status == 200, "the instance registered before it answered its own check"
    url = f"http://127.0.0.1:{registered.payload['Port']}"

    async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:
        in_flight = asyncio.create_task(client.get("/slow", params={"seconds": SLOW_REQUEST_S}))
        await wait_until((tmp_path / "in-flight").exists, "the slow request to start")
        demo.process.send_signal(sig)
        response = await in_flight
        answered_at = time.monotonic()

    assert response.status_code == 200
    assert response.json() == {"slept": SLOW_REQUEST_S}
    assert await asyncio.wait_for(demo.process.wait(), timeout=10.0) == 0, demo.output()
    [deregistered] = registry.deregistrations()
    assert deregistered.instance_id == "demo-1"
    assert deregistered.at < answered_at, "peers must forget the instance before it stops answering"
    events = demo.events()
    lifecycle = ["serving", "shutdown requested", "deregistered", "stopped"]
    assert [e["event"] for e in events if e["logger"] == "roboshop.runner" and e["event"] in lifecycle] == lifecycle
    assert [e for e in events if e["level"] in ("error", "critical")] == []


class ConfigCapturingServer(roboshop.kit.runner._Server):
    """Records the uvicorn configuration the runner builds, then stops before serving anything."""

    configs: ClassVar[list[Any]] = []

    async def serve(self, sockets: Any = None) -> None:
        ConfigCapturingServer.configs.append(self.config)
        raise RuntimeError("configuration captured")


async def graceful_shutdown_timeout(monkeypatch: pytest.MonkeyPatch, grace_period_s: float) -> Any:
    ConfigCapturingServer.configs.clear()
    monkeypatch.setattr(roboshop.kit.runner, "_Server", ConfigCapturingServer)
    settings = ServiceSettings(port=0, grace_period_s=grace_period_s)
    app: FastAPI = create_service_app(settings, routers=[])
    with pytest.raises(RuntimeError, match="configuration captured"):
        await serve(app, settings, register=False)
    [config] = ConfigCapturingServer.configs
    return config.timeout_graceful_shutdown


async def test_in_flight_requests_are_drained_for_the_grace_period(monkeypatch: pytest.MonkeyPatch) -> None:
    assert await graceful_shutdown_timeout(monkeypatch, 5.0) == 5


@pytest.mark.parametrize("grace_period_s", [0.5, 2.5])
async def test_a_fractional_grace_period_still_bounds_the_drain(
    monkeypatch: pytest.MonkeyPatch, grace_period_s: float
) -> None:
    timeout = await graceful_shutdown_timeout(monkeypatch, grace_period_s)

    assert timeout is not None
    assert timeout >= grace_period_s
