"""The state file ``roboshop up`` keeps in its data dir, so other commands can find the running system."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

STATE_FILE = "roboshop.json"


def write_state(data_dir: Path, state: dict[str, Any]) -> None:
    path = data_dir / STATE_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=2))
    os.replace(temporary, path)


def read_state(data_dir: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def clear_state(data_dir: Path) -> None:
    (data_dir / STATE_FILE).unlink(missing_ok=True)
