"""Helpers shared by the test layers (importable as ``tests.support``)."""

from __future__ import annotations

import os
import socket

import pytest


def integration_required() -> bool:
    return os.environ.get("ROBOSHOP_REQUIRE_INTEGRATION") == "1"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if integration_required():
        pytest.fail(f"{message}; integration tests are mandatory here (ROBOSHOP_REQUIRE_INTEGRATION=1)")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
