"""``python -m roboshop.catalogue`` as a real process: serves, shares its SQLite file, stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

START_DEADLINE_S = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def catalogue_process(tmp_path: Path, database_url: str, **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    log = (tmp_path / f"catalogue-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "roboshop.catalogue"],
        cwd=tmp_path,
        env={
            **os.environ,
            "ROBOSHOP_CATALOGUE_PORT": str(port),
            "ROBOSHOP_CATALOGUE_DATABASE_URL": database_url,
            "ROBOSHOP_CATALOGUE_DEREGISTER_DELAY_S": "0",
            **env,
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def wait_until_serving(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while True:
        assert process.poll() is None, f"the catalogue exited with {process.returncode}"
        try:
            if httpx.get(f"{url}/ready", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the catalogue did not become ready in time"
        time.sleep(0.05)


def test_three_catalogue_processes_share_one_sqlite_file_and_stop_cleanly(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'catalogue.db'}"
    with ExitStack() as stack:
        replicas = [stack.enter_context(catalogue_process(tmp_path, database_url)) for _ in range(3)]
        for url, process in replicas:
            wait_until_serving(url, process)
        for url, _ in replicas:
            products = httpx.get(f"{url}/products").json()
            assert [p["sku"] for p in products][:2] == ["Watson", "Ewooid"]
            assert len(products) == 11
        for _, process in replicas:
            process.send_signal(signal.SIGTERM)
        for _, process in replicas:
            assert process.wait(timeout=15) == 0


def test_robot_shops_go_slow_variable_slows_the_product_page(tmp_path: Path) -> None:
    with catalogue_process(tmp_path, f"sqlite:///{tmp_path / 'catalogue.db'}", GO_SLOW="400") as (url, process):
        wait_until_serving(url, process)
        started = time.perf_counter()
        response = httpx.get(f"{url}/product/RMC")
        elapsed = time.perf_counter() - started
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    assert response.json()["name"] == "Robotic Mining Cyborg"
    assert elapsed >= 0.4
