"""The embedded broker as ``roboshop up`` supervises it: a process that serves JetStream until SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from roboshop.kit.messaging.broker import EmbeddedNats, free_port, server_binary
from roboshop.kit.messaging.jetstream import NatsBus


def test_the_nats_server_binary_comes_with_the_python_environment() -> None:
    binary = server_binary()

    assert binary.is_file()
    assert binary.parent == Path(sys.executable).parent


async def test_the_broker_entry_point_serves_jetstream_until_sigterm_and_keeps_its_store(tmp_path: Path) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "roboshop.kit.messaging.broker", "--port", str(port), "--data-dir", str(tmp_path)
    )
    try:
        probe = EmbeddedNats(tmp_path, port=port)
        await probe.wait_ready(timeout_s=20)
        bus = NatsBus(probe.url)
        await bus.start()
        await bus.publish("orders", {"orderid": "ORD-1"}, message_id="m-1")
        await bus.close()
    finally:
        process.send_signal(signal.SIGTERM)
        exit_code = await asyncio.wait_for(process.wait(), 20)

    assert exit_code == 0
    assert (tmp_path / "jetstream").is_dir()
    assert (tmp_path / "nats-server.log").is_file()
