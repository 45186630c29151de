"""The Grafana dashboard JSON and its provisioning files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.metric_names import DASHBOARD, dashboard_expressions

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"

# panel title -> a metric its queries must use
REQUIRED_PANELS = {
    "Throughput in / out": ["wirefeed_records_consumed_total", "wirefeed_events_published_total"],
    "Events published by type": ["wirefeed_events_published_total"],
    "Duplicates by reason": ["wirefeed_duplicates_total"],
    "Dead letters by reason": ["wirefeed_dead_letters_total"],
    "Consumer lag per partition": ["wirefeed_consumer_lag"],
    "End-to-end latency": ["wirefeed_end_to_end_latency_seconds_bucket"],
    "State restore": ["wirefeed_state_restore_duration_seconds"],
    "Ready workers": ["wirefeed_ready"],
    "Parse / processing / commit stall / loop lag": ["wirefeed_event_loop_lag_seconds_bucket"],
    "Stories by agency and format": ["wirefeed_agency_stories_total"],
    "Since the last story, by agency": ["wirefeed_agency_last_story_timestamp_seconds"],
}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    doc = json.loads(DASHBOARD.read_text())
    assert isinstance(doc, dict)
    return doc


def test_dashboard_identity(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "wirefeed"
    assert dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int)
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"


def test_panels_are_well_formed(dashboard: dict[str, Any]) -> None:
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [t["refId"] for t in panel["targets"]]
        assert refs, panel["title"]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]


def test_required_panels(dashboard: dict[str, Any]) -> None:
    exprs = dashboard_expressions()
    titles = {p["title"] for p in dashboard["panels"]}
    for title, metrics in REQUIRED_PANELS.items():
        assert title in titles, f"dashboard lacks panel {title!r}"
        panel_exprs = " ".join(e for k, e in exprs.items() if k.startswith(f"{title}/"))
        for metric in metrics:
            assert metric in panel_exprs, f"{title!r} does not query {metric}"


def test_latency_panel_shows_quantiles() -> None:
    exprs = [e for k, e in dashboard_expressions().items() if k.startswith("End-to-end latency/")]
    quantiles = {e.split("histogram_quantile(")[1].split(",")[0] for e in exprs}
    assert {"0.5", "0.9", "0.99"} <= quantiles


def test_provisioning() -> None:
    ds = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (source,) = ds["datasources"]
    assert source["type"] == "prometheus"
    assert source["isDefault"] is True
    provider = yaml.safe_load((GRAFANA / "provisioning/dashboards/wirefeed.yml").read_text())
    (prov,) = provider["providers"]
    assert prov["type"] == "file"
    assert prov["options"]["path"].startswith("/")
