"""`crmbus monitoring`'s Prometheus configuration: the bus's processes as targets, crmbus's rules."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from infra.core.settings import Settings
from infra.local.monitoring_node import RULES, LocalMonitoring, scrape_targets

pytestmark = pytest.mark.unit


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path,
        ingress_host="0.0.0.0",
        ingress_port=18000,
        worker_web_port=18010,
        worker_processes=3,
        dashboard_port=18020,
        monitoring_scrape_s=2,
    )


def test_every_process_of_the_bus_is_a_target_on_loopback(tmp_path: Path) -> None:
    assert scrape_targets(_settings(tmp_path)) == {
        "ingress": ["127.0.0.1:18000"],
        "workers": ["127.0.0.1:18010", "127.0.0.1:18011", "127.0.0.1:18012"],
        "dashboard": ["127.0.0.1:18020"],
    }


def test_the_written_configuration_loads_the_rules_and_scrapes_at_the_configured_interval(tmp_path: Path) -> None:
    config = LocalMonitoring(_settings(tmp_path)).prometheus_config()
    loaded = yaml.safe_load(config)
    assert loaded["rule_files"] == [str(RULES)]
    assert loaded["global"]["scrape_interval"] == loaded["global"]["evaluation_interval"] == "2s"
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in loaded["scrape_configs"]}
    assert jobs["crmbus-worker"] == ["127.0.0.1:18010", "127.0.0.1:18011", "127.0.0.1:18012"]
    promtool = shutil.which("promtool")
    if promtool is not None:
        written = tmp_path / "prometheus.yml"
        written.write_text(config)
        answer = subprocess.run([promtool, "check", "config", str(written)], capture_output=True, text=True)
        assert answer.returncode == 0, answer.stdout + answer.stderr
