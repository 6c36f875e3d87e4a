"""Turns the services' JSON log lines into short, readable terminal lines with a service prefix."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from rich.console import Console
from rich.text import Text

_COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan", "bright_magenta")
_LEVEL_STYLE = {"debug": "dim", "info": "", "warning": "yellow", "error": "bold red", "critical": "bold red"}
_SKIPPED_KEYS = frozenset(
    {"timestamp", "level", "service", "version", "event", "logger", "request_id", "correlation_id"}
)


class LogView:
    def __init__(self, console: Console, *, raw: bool = False, width: int = 14) -> None:
        self._console = console
        self._raw = raw
        self._width = width
        self._colours: dict[str, str] = {}
        self._palette = itertools.cycle(_COLOURS)

    def __call__(self, instance: str, line: str) -> None:
        service = instance.rsplit("-", 1)[0]
        colour = self._colours.setdefault(service, next(self._palette))
        text = Text(f"{instance:<{self._width}}| ", style=colour)
        text.append_text(self.render(line))
        self._console.print(text, soft_wrap=True, highlight=False)

    def render(self, line: str) -> Text:
        if self._raw or not line.startswith("{"):
            return Text(line)
        try:
            entry: dict[str, Any] = orjson.loads(line)
        except orjson.JSONDecodeError:
            return Text(line)
        level = str(entry.get("level", "info"))
        time_part = str(entry.get("timestamp", ""))[11:23]
        event = str(entry.get("event", ""))
        if event == "request":
            summary = (
                f"{entry.get('method', '')} {entry.get('path', '')} -> {entry.get('status', '')} "
                f"{entry.get('duration_ms', '')}ms"
            )
        else:
            extras = " ".join(f"{k}={v}" for k, v in entry.items() if k not in _SKIPPED_KEYS and k != "exception")
            summary = f"{event} {extras}".rstrip()
        text = Text(f"{time_part} ", style="dim")
        text.append(f"{level:<7} ", style=_LEVEL_STYLE.get(level, ""))
        text.append(summary)
        if "exception" in entry:
            text.append("\n" + str(entry["exception"]), style="red")
        return text
