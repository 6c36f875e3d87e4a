"""``python -m roboshop.user`` as real processes: two replicas on one SQLite file, key rotation from the
command line, clean shutdown, and logs without secrets."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest

from roboshop.user.tokens import COOKIE_NAME, TokenVerifier
from tests.support import free_port

READY_DEADLINE_S = 30.0
STOP_DEADLINE_S = 15.0


@dataclass
class Instance:
    process: subprocess.Popen[bytes]
    url: str
    log: Path


def user_env(database: Path, port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ROBOSHOP_")}
    env.update(
        ROBOSHOP_USER_DATABASE_URL=f"sqlite:///{database}",
        ROBOSHOP_USER_PORT=str(port),
        ROBOSHOP_USER_GRACE_PERIOD_S="2",
        ROBOSHOP_USER_DEREGISTER_DELAY_S="0",
        ROBOSHOP_USER_KEY_RELOAD_INTERVAL_S="0.5",
    )
    return env


@contextmanager
def started(database: Path, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "roboshop.user"], env=user_env(database, port), stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def wait_ready(client: httpx.AsyncClient, url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_DEADLINE_S
    while time.monotonic() < deadline:
        assert process.poll() is None, "the user service exited during start-up"
        try:
            if (await client.get(f"{url}/ready")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.05)
    pytest.fail(f"{url} was not ready within {READY_DEADLINE_S} s")


@asynccontextmanager
async def two_replicas(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, list[Instance]]]:
    database = tmp_path / "user.db"
    logs = [tmp_path / "user-1.log", tmp_path / "user-2.log"]
    with started(database, logs[0]) as (first, first_url), started(database, logs[1]) as (second, second_url):
        async with httpx.AsyncClient(timeout=10) as client:
            await asyncio.gather(wait_ready(client, first_url, first), wait_ready(client, second_url, second))
            yield (
                client,
                [
                    Instance(first, first_url, logs[0]),
                    Instance(second, second_url, logs[1]),
                ],
            )


async def stop(instance: Instance) -> int:
    instance.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_DEADLINE_S
    while instance.process.poll() is None:
        assert time.monotonic() < deadline, "the user service did not stop after SIGTERM"
        await asyncio.sleep(0.05)
    return instance.process.returncode


async def test_two_replicas_started_together_serve_one_shop_and_stop_cleanly(tmp_path: Path) -> None:
    async with two_replicas(tmp_path) as (client, replicas):
        answers = await asyncio.gather(*(client.get(f"{replica.url}/uniqueid") for replica in replicas * 10))
        ids = [answer.json()["uuid"] for answer in answers]
        login = await client.post(f"{replicas[1].url}/login", json={"name": "stan", "password": "bigbrain"})
        wrong = await client.post(f"{replicas[0].url}/login", json={"name": "stan", "password": "smallbrain"})
        token = login.cookies[COOKIE_NAME]
        jwks = [(await client.get(f"{replica.url}/.well-known/jwks.json")).json() for replica in replicas]
        codes = [await stop(replica) for replica in replicas]
    assert sorted(ids) == sorted(f"anonymous-{n}" for n in range(1, 21))
    assert login.status_code == 200
    assert wrong.text == "incorrect password"
    assert jwks[0] == jwks[1]
    assert len(jwks[0]["keys"]) == 1
    assert TokenVerifier(jwks[0]).verify(token).subject == "stan"
    assert codes == [0, 0]
    logs = "".join(replica.log.read_text() for replica in replicas)
    assert '"event": "request"' in logs or '"event":"request"' in logs
    for secret in ("bigbrain", "smallbrain", "$argon2", token):
        assert secret not in logs


async def test_rotate_keys_from_the_command_line_keeps_old_sessions_valid(tmp_path: Path) -> None:
    async with two_replicas(tmp_path) as (client, replicas):
        before = (await client.get(f"{replicas[0].url}/uniqueid")).cookies[COOKIE_NAME]
        rotation = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "roboshop.user",
            "rotate-keys",
            env=user_env(tmp_path / "user.db", 0),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(rotation.communicate(), timeout=30)
        jwks = (await client.get(f"{replicas[1].url}/.well-known/jwks.json")).json()
        new_kid = jwks["keys"][-1]["kid"]
        after = await signed_with(client, replicas[0].url, new_kid)
        # The other replica takes the new key's token as the session it extends.
        client.cookies.clear()
        extended = await client.get(f"{replicas[1].url}/uniqueid", headers={"Authorization": f"Bearer {after}"})
        for replica in replicas:
            await stop(replica)
    assert rotation.returncode == 0, output.decode()
    assert "generation 2" in output.decode()
    assert len(jwks["keys"]) == 2
    verifier = TokenVerifier(jwks)
    assert len(verifier.verify(before).identities) == 1
    assert len(verifier.verify(after).identities) == 1
    assert len(verifier.verify(extended.cookies[COOKIE_NAME]).identities) == 2


async def signed_with(client: httpx.AsyncClient, url: str, kid: str) -> str:
    """A fresh session token from ``url`` once it signs with ``kid`` (replicas reload keys every 0.5 s)."""
    deadline = time.monotonic() + READY_DEADLINE_S
    while time.monotonic() < deadline:
        client.cookies.clear()
        response = await client.get(f"{url}/uniqueid")
        token = response.cookies[COOKIE_NAME]
        if jwt.get_unverified_header(token)["kid"] == kid:
            return token
        await asyncio.sleep(0.1)
    pytest.fail(f"{url} did not sign with the new key {kid} in time")
