"""promtool checks of the scrape config and alert rules, plus the rules' conventions."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.deploy.metric_names import alert_expressions

PROM = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"

REQUIRED_ALERTS = {
    "WirefeedNotConsuming",  # no records consumed while lag grows
    "WirefeedConsumerLagHigh",  # lag above a threshold for N minutes
    "WirefeedDeadLetterRateHigh",
    "WirefeedTransactionAborts",
    "WirefeedNotReady",
    "WirefeedEndToEndLatencyHigh",
    "WirefeedEventLoopStalls",  # the one event loop held over 1 s, again and again
    "WirefeedAgencySilent",  # an agency has sent nothing for longer than its threshold
}


def _promtool(promtool: str, *args: str) -> str:
    proc = subprocess.run(
        [promtool, *args], cwd=PROM, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, f"promtool {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def test_promtool_check_rules(promtool: str) -> None:
    out = _promtool(promtool, "check", "rules", "alerts.yml")
    assert "SUCCESS" in out


def test_promtool_check_config(promtool: str) -> None:
    # also checks the rule files the config names (alerts.yml)
    out = _promtool(promtool, "check", "config", "prometheus.yml")
    assert "SUCCESS" in out


def test_promtool_test_rules(promtool: str) -> None:
    out = _promtool(promtool, "test", "rules", "alerts_test.yml")
    assert "SUCCESS" in out


def _rules() -> list[dict[str, object]]:
    doc = yaml.safe_load((PROM / "alerts.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


def test_required_alerts_exist() -> None:
    names = {str(rule.get("alert")) for rule in _rules()}
    assert names >= REQUIRED_ALERTS, REQUIRED_ALERTS - names


def test_latency_alert_uses_histogram_quantile_p99() -> None:
    expr = alert_expressions()["WirefeedEndToEndLatencyHigh"]
    assert "histogram_quantile(0.99" in expr
    assert "wirefeed_end_to_end_latency_seconds_bucket" in expr


def test_every_alert_has_severity_summary_and_for() -> None:
    for rule in _rules():
        labels = rule.get("labels")
        annotations = rule.get("annotations")
        assert isinstance(labels, dict), rule
        assert labels.get("severity") in {"warning", "critical"}, rule
        assert isinstance(annotations, dict), rule
        assert annotations.get("summary"), rule
        assert rule.get("for"), f"{rule['alert']}: no `for:` (would page on one bad scrape)"


def test_every_alert_has_a_unit_test() -> None:
    doc = yaml.safe_load((PROM / "alerts_test.yml").read_text())
    assert doc["rule_files"] == ["alerts.yml"]
    tested = {
        case["alertname"]: case
        for test in doc["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    untested = {str(rule["alert"]) for rule in _rules()} - set(tested)
    assert not untested, f"alerts without a firing unit test: {untested}"


def test_scrape_config_targets_the_compose_worker() -> None:
    cfg = yaml.safe_load((PROM / "prometheus.yml").read_text())
    assert cfg["rule_files"] == ["alerts.yml"]
    (job,) = [j for j in cfg["scrape_configs"] if j["job_name"] == "wirefeed"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert job["static_configs"][0]["targets"] == ["wirefeed:9108"]
