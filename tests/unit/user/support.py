"""Helpers for the user service's unit tests."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from roboshop.user.store import InMemorySigningKeyStore, InMemoryUserStore


class FakeClock:
    """Wall-clock seconds that only move when a test says so."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Shop:
    """The user service running in-process, with its fakes at hand."""

    app: FastAPI
    client: httpx.AsyncClient
    users: InMemoryUserStore
    keys: InMemorySigningKeyStore
    clock: FakeClock
