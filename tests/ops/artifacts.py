"""Where the ops artifacts live, and how the tests call the real Prometheus tools on them.

The tools come from Debian (``apt-get install prometheus prometheus-alertmanager``). Without them these tests
skip, unless ``ROBOSHOP_REQUIRE_INTEGRATION=1`` (CI), where a missing tool fails the run.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import integration_required

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
PROMETHEUS_DIR = MONITORING / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
PROFILES = ("local", "compose", "kubernetes")


def tool(name: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (apt-get install prometheus prometheus-alertmanager)"
    if integration_required():
        pytest.fail(f"{message}; it is mandatory here (ROBOSHOP_REQUIRE_INTEGRATION=1)")
    pytest.skip(message)


def run(*argv: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=60, cwd=cwd, check=False)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alert_rules() -> list[dict[str, Any]]:
    groups = load_yaml(RULES_DIR / "roboshop-alerts.yml")["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def check_promql(promtool: str, expressions: dict[str, str], directory: Path) -> subprocess.CompletedProcess[str]:
    """Parse PromQL with promtool: each expression becomes a recording rule named by its key."""
    rules = [{"record": name, "expr": expr} for name, expr in expressions.items()]
    path = directory / "expressions.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "expressions", "rules": rules}]}))
    return run(promtool, "check", "rules", path)
