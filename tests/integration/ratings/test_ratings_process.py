"""``python -m roboshop.ratings`` as a real process, asking a real ``python -m roboshop.catalogue``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

START_DEADLINE_S = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def service(tmp_path: Path, name: str, ready_path: str, **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start ``python -m roboshop.<name>`` on a free port and wait until ``ready_path`` answers 200."""
    port = free_port()
    prefix = f"ROBOSHOP_{name.upper()}_"
    log = (tmp_path / f"{name}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", f"roboshop.{name}"],
        cwd=tmp_path,
        env={
            **os.environ,
            f"{prefix}PORT": str(port),
            f"{prefix}DATABASE_URL": f"sqlite:///{tmp_path / name}.db",
            f"{prefix}DEREGISTER_DELAY_S": "0",
            **{prefix + key: value for key, value in env.items()},
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        while True:
            assert process.poll() is None, f"{name} exited with {process.returncode}"
            try:
                if httpx.get(url + ready_path, timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{name} did not become ready in time"
            time.sleep(0.05)
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def test_the_ratings_process_rates_products_the_catalogue_process_knows(tmp_path: Path) -> None:
    with (
        service(tmp_path, "catalogue", "/ready") as (catalogue_url, catalogue),
        service(tmp_path, "ratings", "/_health", PEERS=json.dumps({"catalogue": catalogue_url})) as (url, ratings),
    ):
        assert httpx.put(f"{url}/api/rate/Watson/4").json() == {"success": True}
        assert httpx.put(f"{url}/api/rate/Watson/5").json() == {"success": True}
        unknown = httpx.put(f"{url}/api/rate/Sherlock/5")
        fetched = httpx.get(f"{url}/api/fetch/Watson").json()
        for process in (ratings, catalogue):
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 0
    assert (unknown.status_code, unknown.text) == (404, "SKU not found")
    assert fetched == {"avg_rating": 4.5, "rating_count": 2}
