"""Metric names that the deploy artefacts use, and the names the worker exports.

``referenced_metric_names()`` is the reusable half: it reads the alert rules
(deploy/prometheus/alerts.yml) and the Grafana dashboard
(deploy/grafana/dashboards/wirefeed.json) and returns every ``wirefeed_*``
series name their PromQL uses (``_total``, ``_bucket``, ... suffixes included,
as they appear in a scrape). Compare it with the sample names of a scrape:
``exported_sample_names(text)`` parses any exposition text, e.g. a live
``/metrics`` response, and ``contract_exposition()`` renders a fresh
:class:`consumer.metrics.Metrics` with every labelled metric touched once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
ALERTS = REPO_ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERTS_TEST = REPO_ROOT / "deploy" / "prometheus" / "alerts_test.yml"
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "dashboards" / "wirefeed.json"

PREFIX = "wirefeed_"
# A metric-name token: not preceded by a name character, so label names such as
# `xwirefeed_y` or the middle of `foo:wirefeed_bar` do not count.
_NAME = re.compile(r"(?<![A-Za-z0-9_:])" + PREFIX + r"[A-Za-z0-9_:]*")
# PromQL string literals: label values like job="wirefeed_x" are not metric names.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')


def promql_metric_names(expr: str) -> set[str]:
    """The ``wirefeed_*`` metric names in one PromQL expression."""
    return set(_NAME.findall(_STRING.sub('""', expr)))


def alert_expressions(path: Path = ALERTS) -> dict[str, str]:
    """``{rule name: expr}`` for every alerting/recording rule in a rule file."""
    doc = yaml.safe_load(path.read_text())
    out: dict[str, str] = {}
    for group in doc["groups"]:
        for rule in group["rules"]:
            out[rule.get("alert") or rule["record"]] = str(rule["expr"])
    return out


def _walk_panels(panels: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _walk_panels(panel.get("panels", []))


def dashboard_expressions(path: Path = DASHBOARD) -> dict[str, str]:
    """``{"panel title/refId" or "var:name": PromQL}`` for targets and template queries."""
    dash = json.loads(path.read_text())
    out: dict[str, str] = {}
    for panel in _walk_panels(dash.get("panels", [])):
        for target in panel.get("targets", []):
            if "expr" in target:
                out[f"{panel.get('title', panel.get('id'))}/{target.get('refId')}"] = target["expr"]
    for var in dash.get("templating", {}).get("list", []):
        query = var.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if var.get("type") == "query" and isinstance(query, str):
            out[f"var:{var['name']}"] = query
    return out


def referenced_metric_names(alerts: Path = ALERTS, dashboard: Path = DASHBOARD) -> set[str]:
    """Every ``wirefeed_*`` series name used by the alert rules and the dashboard."""
    names: set[str] = set()
    for expr in [*alert_expressions(alerts).values(), *dashboard_expressions(dashboard).values()]:
        names |= promql_metric_names(expr)
    return names


def alert_test_series_names(path: Path = ALERTS_TEST) -> set[str]:
    """Metric names of the input series in the promtool unit tests."""
    doc = yaml.safe_load(path.read_text())
    names: set[str] = set()
    for test in doc["tests"]:
        for series in test.get("input_series", []):
            names.add(re.split(r"[{\s]", series["series"].strip(), maxsplit=1)[0])
    return names


def exported_sample_names(exposition: str) -> set[str]:
    """Sample names (``foo_total``, ``foo_bucket``, ...) in Prometheus exposition text."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        sample.name
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def contract_exposition() -> str:
    """``generate_latest`` of a fresh ``Metrics()`` with every labelled metric touched once.

    A labelled metric has no samples until a child exists, so each gets one child
    with placeholder label values; unlabelled ones render as they are.
    """
    from prometheus_client import generate_latest
    from prometheus_client.metrics import MetricWrapperBase

    from consumer.metrics import Metrics

    metrics = Metrics()
    for attr in vars(metrics).values():
        if isinstance(attr, MetricWrapperBase):
            labelnames: tuple[str, ...] = getattr(attr, "_labelnames", ())
            if labelnames:
                attr.labels(*(["x"] * len(labelnames)))
    return generate_latest(metrics.registry).decode()
