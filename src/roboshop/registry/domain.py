"""The registry's rules: what an instance is, how a health check changes it, when it is removed.

No I/O here: time comes in as ``now`` (seconds since the epoch, from an injectable :class:`Clock`), so every
rule is tested without sleeping.

An instance's life::

    register ──> critical "awaiting first check" ──check 2xx──> passing
                         ^                                        │
                         └──────────── check fails ───────────────┘
    critical continuously for longer than DeregisterCriticalServiceAfter ──> removed
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol
from urllib.parse import urlsplit

AWAITING_FIRST_CHECK = "awaiting first check"
MAX_NAME_LENGTH = 128
MAX_ADDRESS_LENGTH = 255
MAX_URL_LENGTH = 2048
MAX_TAGS = 64
MAX_META = 64
MAX_META_KEY_LENGTH = 128
MAX_META_VALUE_LENGTH = 512
MAX_OUTPUT_LENGTH = 200
MIN_INTERVAL_S = 0.01
MAX_DURATION_S = 7 * 24 * 3600.0

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]*")
_SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_ADDRESS = re.compile(r"[A-Za-z0-9._:%\[\]-]+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class Status(StrEnum):
    PASSING = "passing"
    CRITICAL = "critical"


@dataclass(frozen=True)
class HealthCheck:
    """How the registry checks an instance: an HTTP GET of ``http`` every ``interval_s``."""

    http: str
    interval_s: float
    timeout_s: float
    deregister_after_s: float | None = None  # None: never removed for being critical (Consul's default)


@dataclass(frozen=True)
class Health:
    status: Status
    output: str
    last_check: float | None = None  # None until the first check
    critical_since: float | None = None  # start of the current critical streak

    @classmethod
    def awaiting_first_check(cls, now: float) -> Health:
        # A new instance starts critical: it is not handed out before it has answered once, and its
        # deregister-after clock runs from registration, so one that never comes up is removed.
        return cls(Status.CRITICAL, AWAITING_FIRST_CHECK, None, now)


@dataclass(frozen=True)
class CheckResult:
    status: Status
    output: str

    @classmethod
    def passing(cls, output: str) -> CheckResult:
        return cls(Status.PASSING, output)

    @classmethod
    def critical(cls, output: str) -> CheckResult:
        return cls(Status.CRITICAL, output)


@dataclass(frozen=True)
class ServiceInstance:
    id: str
    service: str
    address: str
    port: int
    tags: tuple[str, ...]
    meta: dict[str, str]
    check: HealthCheck
    health: Health

    @property
    def passing(self) -> bool:
        return self.health.status is Status.PASSING

    @property
    def metrics_target(self) -> str:
        """``host:port`` as Prometheus wants it (IPv6 addresses in brackets)."""
        host = self.address
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{host}:{self.port}"


def register(incoming: ServiceInstance, previous: ServiceInstance | None) -> ServiceInstance:
    """The instance as stored after a registration.

    Instances re-register periodically (and after a registry restart), so re-registering an unchanged
    address keeps what the checks found; a new address or port is a new process to check from scratch.
    """
    if previous is not None and (previous.address, previous.port) == (incoming.address, incoming.port):
        return replace(incoming, health=previous.health)
    return incoming


def needs_check_now(instance: ServiceInstance) -> bool:
    """An instance that (re-)announces itself and is not known to be passing is checked at once."""
    return not instance.passing


def record_check(instance: ServiceInstance, result: CheckResult, now: float) -> ServiceInstance:
    output = result.output[:MAX_OUTPUT_LENGTH]
    if result.status is Status.PASSING:
        health = Health(Status.PASSING, output, now, None)
    else:
        since = instance.health.critical_since if instance.health.critical_since is not None else now
        health = Health(Status.CRITICAL, output, now, since)
    return replace(instance, health=health)


def status_changed(before: ServiceInstance, after: ServiceInstance) -> bool:
    return before.health.status is not after.health.status


def should_deregister(instance: ServiceInstance, now: float) -> bool:
    """Critical continuously for longer than its DeregisterCriticalServiceAfter."""
    limit = instance.check.deregister_after_s
    since = instance.health.critical_since
    if limit is None or since is None or instance.health.status is not Status.CRITICAL:
        return False
    return now - since > limit


# --- what a registration may contain -------------------------------------------------------------------


def parse_duration(text: str) -> float:
    """Seconds in a Go-style duration (``"2s"``, ``"500ms"``, ``"1m30s"``, ``"1.5h"``), kept to the millisecond."""
    value = text.strip()
    if not value:
        raise ValueError('must be a duration like "2s", "500ms" or "1m"')
    total = 0.0
    position = 0
    for match in _DURATION_PART.finditer(value):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(value):
        raise ValueError(f'"{text[:40]}" is not a duration like "2s", "500ms" or "1m"')
    seconds = round(total, 3)
    if seconds <= 0:
        raise ValueError("must be at least 1ms")
    if seconds > MAX_DURATION_S:
        raise ValueError("must be at most 168h")
    return seconds


def check_instance_id(value: str) -> str:
    if len(value) > MAX_NAME_LENGTH or not _ID.fullmatch(value):
        raise ValueError(
            f"must be 1-{MAX_NAME_LENGTH} characters: letters, digits and . _ : @ - (starting with a letter or digit)"
        )
    return value


def check_service_name(value: str) -> str:
    if len(value) > MAX_NAME_LENGTH or not _SERVICE.fullmatch(value):
        raise ValueError(
            f"must be 1-{MAX_NAME_LENGTH} characters: letters, digits and . _ - (starting with a letter or digit)"
        )
    return value


def check_address(value: str) -> str:
    if len(value) > MAX_ADDRESS_LENGTH or not _ADDRESS.fullmatch(value):
        raise ValueError(f"must be a host name or IP address of at most {MAX_ADDRESS_LENGTH} characters")
    return value


def check_tag(value: str) -> str:
    if not value or len(value) > MAX_NAME_LENGTH or not value.isprintable():
        raise ValueError(f"a tag must be 1-{MAX_NAME_LENGTH} printable characters")
    return value


def check_meta(meta: dict[str, str]) -> dict[str, str]:
    if len(meta) > MAX_META:
        raise ValueError(f"at most {MAX_META} entries")
    for key, value in meta.items():
        if not key or len(key) > MAX_META_KEY_LENGTH or not key.isprintable():
            raise ValueError(f"a key must be 1-{MAX_META_KEY_LENGTH} printable characters")
        if len(value) > MAX_META_VALUE_LENGTH or not value.isprintable():
            raise ValueError(f"a value must be at most {MAX_META_VALUE_LENGTH} printable characters")
    return meta


def check_http_url(value: str) -> str:
    if len(value) > MAX_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        raise ValueError("must be an http(s) URL such as http://127.0.0.1:8080/health") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or not value.isprintable() or " " in value:
        raise ValueError("must be an http(s) URL such as http://127.0.0.1:8080/health")
    return value


def check_interval(seconds: float) -> float:
    if seconds < MIN_INTERVAL_S:
        raise ValueError(f"must be at least {int(MIN_INTERVAL_S * 1000)}ms")
    return seconds
