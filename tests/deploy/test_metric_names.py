"""Every metric name the alert rules, their unit tests and the dashboard use is exported."""

from __future__ import annotations

from tests.deploy.metric_names import (
    alert_test_series_names,
    contract_exposition,
    exported_sample_names,
    promql_metric_names,
    referenced_metric_names,
)


def test_extraction_ignores_strings_and_label_names() -> None:
    expr = (
        'sum by (wirefeed_label) (rate(wirefeed_a_total{job="wirefeed_not_a_metric"}[5m]))'
        " / histogram_quantile(0.99, wirefeed_b_bucket)"
    )
    # a `by` label list is indistinguishable from names by regex; ours never start so
    assert promql_metric_names(expr) == {"wirefeed_label", "wirefeed_a_total", "wirefeed_b_bucket"}
    assert promql_metric_names('x{job="wirefeed_x"} + y') == set()


def test_references_are_not_vacuous() -> None:
    names = referenced_metric_names()
    for expected in (
        "wirefeed_records_consumed_total",
        "wirefeed_events_published_total",
        "wirefeed_duplicates_total",
        "wirefeed_dead_letters_total",
        "wirefeed_consumer_lag",
        "wirefeed_end_to_end_latency_seconds_bucket",
        "wirefeed_transactions_total",
        "wirefeed_state_restore_duration_seconds",
        "wirefeed_ready",
    ):
        assert expected in names


def test_contract_exposition_has_every_family() -> None:
    exported = exported_sample_names(contract_exposition())
    # labelled metrics were touched: their samples exist
    assert "wirefeed_consumer_lag" in exported
    assert "wirefeed_duplicates_total" in exported
    assert "wirefeed_end_to_end_latency_seconds_bucket" in exported


def test_rules_and_dashboard_use_only_exported_names() -> None:
    missing = referenced_metric_names() - exported_sample_names(contract_exposition())
    assert not missing, f"alerts.yml / wirefeed.json use unexported metrics: {missing}"


def test_alert_unit_tests_use_only_exported_names() -> None:
    exported = exported_sample_names(contract_exposition()) | {"up"}
    missing = alert_test_series_names() - exported
    assert not missing, f"alerts_test.yml feeds series the worker does not export: {missing}"
