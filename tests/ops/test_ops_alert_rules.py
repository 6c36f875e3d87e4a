"""The alert and recording rules: valid, unit-tested with promtool, each alert documented by a runbook."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.ops.artifacts import MONITORING, RULES_DIR, alert_rules, load_yaml, run

RULE_FILES = (RULES_DIR / "roboshop-records.yml", RULES_DIR / "roboshop-alerts.yml")
UNIT_TESTS = RULES_DIR / "roboshop-alerts_test.yml"
RUNBOOKS = MONITORING / "runbooks.md"
ALERT_NAMES = [rule["alert"] for rule in alert_rules()]


def runbook_anchors() -> set[str]:
    """The anchors GitHub gives the runbook's headings."""
    headings = re.findall(r"^#+ (.+)$", RUNBOOKS.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading).strip().lower().replace(" ", "-") for heading in headings}


def test_the_rule_files_pass_promtool(promtool: str) -> None:
    result = run(promtool, "check", "rules", *RULE_FILES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == 2


def test_the_rules_unit_tests_pass(promtool: str) -> None:
    result = run(promtool, "test", "rules", UNIT_TESTS.name, cwd=RULES_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_unit_tests_fail_when_an_alert_threshold_changes(promtool: str, tmp_path: Path) -> None:
    """The unit tests pin the alerts' behaviour: loosening the fast burn rate from 14.4x to 30x is caught."""
    for source in (*RULE_FILES, UNIT_TESTS):
        (tmp_path / source.name).write_text(source.read_text())
    alerts = tmp_path / "roboshop-alerts.yml"
    alerts.write_text(alerts.read_text().replace("> (14.4 * 0.005)", "> (30 * 0.005)"))
    result = run(promtool, "test", "rules", UNIT_TESTS.name, cwd=tmp_path)
    assert result.returncode != 0
    assert "RoboshopCheckoutErrorBudgetBurnFast" in result.stdout + result.stderr


def test_the_alerts_cover_what_the_observability_issue_asks_for() -> None:
    assert set(ALERT_NAMES) == {
        "RoboshopInstanceDown",
        "RoboshopServiceDown",
        "RoboshopHighErrorRate",
        "RoboshopHighLatency",
        "RoboshopCheckoutErrorBudgetBurnFast",
        "RoboshopCheckoutErrorBudgetBurnSlow",
        "RoboshopCircuitOpen",
        "RoboshopQueueBacklog",
        "RoboshopDispatchLag",
    }


@pytest.mark.parametrize("rule", alert_rules(), ids=ALERT_NAMES)
def test_every_alert_has_a_severity_a_summary_a_description_and_a_runbook_that_exists(rule: dict[str, object]) -> None:
    labels, annotations = rule["labels"], rule["annotations"]
    assert isinstance(labels, dict)
    assert isinstance(annotations, dict)
    assert labels["severity"] in ("critical", "warning")
    assert annotations["summary"]
    assert annotations["description"]
    path, _, anchor = str(annotations["runbook_url"]).partition("#")
    assert path == "deploy/monitoring/runbooks.md"
    assert anchor == str(rule["alert"]).lower()
    assert anchor in runbook_anchors()


def test_every_alert_is_unit_tested_both_firing_and_quiet() -> None:
    cases = [case for test in load_yaml(UNIT_TESTS)["tests"] for case in test.get("alert_rule_test", [])]
    firing = {case["alertname"] for case in cases if case["exp_alerts"]}
    quiet = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert firing == set(ALERT_NAMES)
    assert quiet == set(ALERT_NAMES)


def test_the_checkout_slo_is_the_gateways_pay_route_at_99_5_percent() -> None:
    groups = {group["name"]: group for group in load_yaml(RULE_FILES[0])["groups"]}
    records = {rule["record"]: rule["expr"] for rule in groups["roboshop-slo-checkout-records"]["rules"]}
    assert records["slo:checkout_availability:objective"] == "vector(0.995)"
    for window in ("5m", "30m", "1h", "6h"):
        expr = records[f"slo:checkout_errors:ratio_rate{window}"]
        assert expr.count('service="gateway",route="/api/payment/pay/{id}"') == 2
        assert expr.count(f"[{window}]") == 2


def test_no_two_rules_record_or_alert_under_the_same_name() -> None:
    names = [
        rule.get("alert") or rule.get("record")
        for path in RULE_FILES
        for group in load_yaml(path)["groups"]
        for rule in group["rules"]
    ]
    assert len(names) == len(set(names))
