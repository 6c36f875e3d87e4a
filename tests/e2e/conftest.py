"""Start the whole system with the real CLI (`roboshop up`) on free ports, as a user would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import free_port

READY_DEADLINE_S = 60.0


@dataclass
class RunningShop:
    process: subprocess.Popen[bytes]
    gateway: str
    registry: str
    data_dir: Path
    log_path: Path
    ready_after_s: float
    seen_pids: set[int] = field(default_factory=set)

    def state(self) -> dict[str, Any]:
        return json.loads((self.data_dir / "roboshop.json").read_text())

    def pid_of(self, instance: str) -> int:
        pid = self.state()["instances"][instance]["pid"]
        assert pid, f"{instance} has no running process"
        self.seen_pids.add(pid)
        return int(pid)

    def instances(self) -> dict[str, dict[str, Any]]:
        return httpx.get(f"{self.registry}/v1/agent/services", timeout=5).json()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def remember_pids(self) -> None:
        try:
            for item in self.state()["instances"].values():
                if item.get("pid"):
                    self.seen_pids.add(int(item["pid"]))
        except (OSError, ValueError, KeyError):
            pass

    def stop(self, sig: int = signal.SIGINT, timeout_s: float = 20.0) -> int:
        self.remember_pids()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout_s)


def wait_until(predicate: Any, deadline_s: float, what: str, interval_s: float = 0.1) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {deadline_s}s waiting for {what}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return False


def start_shop(tmp: Path, *extra: str) -> RunningShop:
    gateway_port, registry_port = free_port(), free_port()
    data_dir = tmp / "data"
    log_path = tmp / "roboshop-up.log"
    cli = Path(sys.executable).with_name("roboshop")
    argv = [str(cli), "up", "--port", str(gateway_port), "--registry-port", str(registry_port)]
    argv += ["--data-dir", str(data_dir), *extra]
    # Tests drive the shop from one address far faster than a person: the gateway's default per-IP limit is
    # exercised by its own tests, not here.
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", ROBOSHOP_GATEWAY_RATE_LIMIT_ANONYMOUS="1000000/second")
    started = time.monotonic()
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    shop = RunningShop(
        process, f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{registry_port}", data_dir, log_path, 0.0
    )

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"roboshop up exited with {process.returncode}:\n{shop.log()[-4000:]}")
        return "RoboShop is up" in shop.log()

    try:
        wait_until(ready, READY_DEADLINE_S, "roboshop up to report every service ready")
    except AssertionError:
        shop.stop(signal.SIGKILL)
        raise
    shop.ready_after_s = time.monotonic() - started
    shop.remember_pids()
    return shop


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningShop]:
    """One shop for a module's tests, with two catalogue replicas."""
    running = start_shop(tmp_path_factory.mktemp("shop"), "--replicas", "catalogue=2")
    yield running
    running.stop()
