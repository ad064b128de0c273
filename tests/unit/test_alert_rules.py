"""The alert rules load in Prometheus, each has promtool unit tests, and each is in the runbook."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "infra" / "monitoring" / "prometheus"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian: prometheus)")


def _alerts() -> list[str]:
    groups = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())["groups"]
    return [rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule]


@needs_promtool
def test_the_rules_file_is_valid() -> None:
    answer = subprocess.run([PROMTOOL, "check", "rules", "rules.yml"], cwd=PROMETHEUS, capture_output=True, text=True)
    assert answer.returncode == 0, answer.stdout + answer.stderr


@needs_promtool
def test_the_rules_unit_tests_pass() -> None:
    answer = subprocess.run(
        [PROMTOOL, "test", "rules", "rules_test.yml"], cwd=PROMETHEUS, capture_output=True, text=True
    )
    assert answer.returncode == 0, answer.stdout + answer.stderr


def test_every_alert_has_unit_tests_that_see_it_fire() -> None:
    tests = yaml.safe_load((PROMETHEUS / "rules_test.yml").read_text())["tests"]
    firing = {case["alertname"] for test in tests for case in test["alert_rule_test"] if case["exp_alerts"]}
    quiet = {case["alertname"] for test in tests for case in test["alert_rule_test"] if not case["exp_alerts"]}
    assert set(_alerts()) == firing == quiet


def test_every_alert_is_explained_in_the_runbook() -> None:
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    headings = set(re.findall(r"^### (\w+)$", runbook, flags=re.MULTILINE))
    assert set(_alerts()) <= headings
