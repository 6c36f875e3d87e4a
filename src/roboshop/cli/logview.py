"""Turns the services' JSON log lines into short, readable terminal lines with a service prefix.

Every line of every service passes through here, so it writes plain strings (with ANSI colours on a terminal)
rather than going through rich's renderer, which costs far more per line and would slow the services down
once the pipe to the supervisor fills up.
"""

from __future__ import annotations

import itertools
import os
import sys
from typing import Any, TextIO

import orjson

_COLOURS = ("36", "35", "32", "33", "34", "91", "96", "95")  # cyan, magenta, green, yellow, blue, bright ...
_LEVEL_COLOURS = {"debug": "2", "warning": "33", "error": "1;31", "critical": "1;31"}
_SKIPPED_KEYS = frozenset(
    {
        "timestamp",
        "level",
        "service",
        "version",
        "event",
        "logger",
        "request_id",
        "correlation_id",
        "trace_id",
        "span_id",
        "exception",
    }
)


class LogView:
    def __init__(
        self, out: TextIO | None = None, *, raw: bool = False, width: int = 14, colour: bool | None = None
    ) -> None:
        self._out = out or sys.stdout
        self._raw = raw
        self._width = width
        if colour is None:
            colour = self._out.isatty() and "NO_COLOR" not in os.environ
        self._colour = colour
        self._prefix_colours: dict[str, str] = {}
        self._palette = itertools.cycle(_COLOURS)

    def __call__(self, instance: str, line: str) -> None:
        service = instance.rsplit("-", 1)[0]
        colour = self._prefix_colours.setdefault(service, next(self._palette))
        prefix = self._paint(f"{instance:<{self._width}}| ", colour)
        self._out.write(prefix + self.render(line) + "\n")
        self._out.flush()

    def render(self, line: str) -> str:
        if self._raw or not line.startswith("{"):
            return line
        try:
            entry: dict[str, Any] = orjson.loads(line)
        except orjson.JSONDecodeError:
            return line
        level = str(entry.get("level", "info"))
        time_part = str(entry.get("timestamp", ""))[11:23]
        event = str(entry.get("event", ""))
        if event == "request":
            summary = (
                f"{entry.get('method', '')} {entry.get('path', '')} -> {entry.get('status', '')} "
                f"{entry.get('duration_ms', '')}ms"
            )
        else:
            extras = " ".join(f"{k}={v}" for k, v in entry.items() if k not in _SKIPPED_KEYS)
            summary = f"{event} {extras}".rstrip()
        text = f"{self._paint(time_part, '2')} {self._paint(f'{level:<7}', _LEVEL_COLOURS.get(level, ''))} {summary}"
        if "exception" in entry:
            text += "\n" + self._paint(str(entry["exception"]), "31")
        return text

    def _paint(self, text: str, colour: str) -> str:
        return f"\x1b[{colour}m{text}\x1b[0m" if self._colour and colour else text
