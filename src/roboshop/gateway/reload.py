"""Hot reload of the route table: on SIGHUP, and when the file's modification time changes (polled).

The new table is compiled and its handlers built before it replaces the old one in a single assignment;
a request already matched finishes with the old table's handler, so nothing in flight is dropped. A
broken file is logged with the validation error and the old table stays in use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING

from roboshop.gateway.routing import RouteTableError

if TYPE_CHECKING:
    from roboshop.gateway.app import Gateway

log = logging.getLogger("roboshop.gateway")


class RouteFileWatcher:
    def __init__(self, gateway: Gateway, path: Path, poll_s: float) -> None:
        self._gateway = gateway
        self._path = path
        self._poll_s = poll_s
        self._task: asyncio.Task[None] | None = None
        self._signal_installed = False
        self._mtime = self._stat()

    def _stat(self) -> int | None:
        try:
            return self._path.stat().st_mtime_ns
        except OSError:
            return None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, self.reload)
            self._signal_installed = True
        except (RuntimeError, ValueError):  # not the main thread (an embedded or test server): polling only
            pass
        if self._poll_s > 0:
            self._task = asyncio.create_task(self._poll(), name="routes file watcher")

    def stop(self) -> None:
        if self._signal_installed:
            with contextlib.suppress(RuntimeError, ValueError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._signal_installed = False
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def reload(self) -> bool:
        """Swap in the file's table; False (old table kept, error logged) when the file is broken."""
        self._mtime = self._stat()
        try:
            self._gateway.reload()
        except RouteTableError as exc:
            log.error("route table not reloaded; the previous one stays in use", extra={"error": str(exc)})
            return False
        return True

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_s)
            mtime = self._stat()
            if mtime is not None and mtime != self._mtime:
                self.reload()
