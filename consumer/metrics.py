"""Prometheus metrics of the worker, all under the ``wirefeed_`` prefix.

Metrics live in a dedicated :class:`CollectorRegistry` per :class:`Metrics`
instance rather than the global default registry, so tests and the offline
mode can create as many as they like without "duplicated timeseries" errors.
The names here are a public contract: alert rules and the Grafana dashboard in
``deploy/`` refer to them, and a test scrapes a running worker to check that
every name they use exists.
"""

from __future__ import annotations

import platform

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from consumer import __version__
from consumer.feedhealth import FeedHealth

_LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0
)
_STAGE_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0)
_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """All worker metrics, bound to one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.records_consumed = Counter(
            "wirefeed_records_consumed", "Input records consumed.", ["topic"], registry=r
        )
        self.events_published = Counter(
            "wirefeed_events_published",
            "Events published, by event type (story.created, story.updated, ...).",
            ["event_type"],
            registry=r,
        )
        self.duplicates = Counter(
            "wirefeed_duplicates", "Duplicate records, by reason.", ["reason"], registry=r
        )
        self.dead_letters = Counter(
            "wirefeed_dead_letters", "Records sent to the dead-letter topic, by reason.",
            ["reason"], registry=r,
        )
        self.parse_duration = Histogram(
            "wirefeed_parse_duration_seconds", "Time to parse one record.",
            buckets=_STAGE_BUCKETS, registry=r,
        )
        self.processing_duration = Histogram(
            "wirefeed_processing_duration_seconds",
            "Time to parse and deduplicate one record (no I/O).",
            buckets=_STAGE_BUCKETS, registry=r,
        )
        self.commit_duration = Histogram(
            "wirefeed_commit_duration_seconds",
            "Time the loop stands still to commit (transactions, or offsets after the sends "
            "are acknowledged); part of every record's added latency.",
            buckets=_STAGE_BUCKETS, registry=r,
        )
        self.event_loop_lag = Histogram(
            "wirefeed_event_loop_lag_seconds",
            "How late the event loop ran a 100 ms timer: how long one step held it (a "
            "fetch being parsed, a throttled CPU, a collector pause). Records, heartbeats "
            "and probes wait that long.",
            buckets=_LAG_BUCKETS, registry=r,
        )
        self.end_to_end_latency = Histogram(
            "wirefeed_end_to_end_latency_seconds",
            "Input record timestamp to the commit of its output.",
            buckets=_LATENCY_BUCKETS, registry=r,
        )
        self.consumer_lag = Gauge(
            "wirefeed_consumer_lag", "Records behind the partition's high watermark.",
            ["topic", "partition"], registry=r,
        )
        self.transactions = Counter(
            "wirefeed_transactions", "Kafka transactions, by outcome (committed, aborted).",
            ["outcome"], registry=r,
        )
        self.commit_failures = Counter(
            "wirefeed_commit_failures", "Failed commits (offsets or transactions).", registry=r
        )
        self.state_entries = Gauge(
            "wirefeed_state_entries", "Stories held in the dedup window.", registry=r
        )
        self.state_restore_duration = Gauge(
            "wirefeed_state_restore_duration_seconds",
            "Duration of the last dedup-state restore from the changelog.", registry=r,
        )
        self.state_restored_records = Counter(
            "wirefeed_state_restored_records", "Changelog records applied during restores.",
            registry=r,
        )
        self.state_entries_unreadable = Counter(
            "wirefeed_state_entries_unreadable",
            "Changelog entries of a state format this worker cannot read or convert, treated "
            "as expired, by format version.", ["format"], registry=r,
        )
        self.assigned_partitions = Gauge(
            "wirefeed_assigned_partitions", "Input partitions assigned to this worker.", registry=r
        )
        self.broker_connection_failures = Counter(
            "wirefeed_broker_connection_failures",
            "Failed attempts to reach the brokers at start, by reason (tls_server_not_trusted, "
            "tls_client_certificate_expired, sasl_authentication_failed, ...; "
            "see consumer.tlsprobe.REASONS).",
            ["reason"], registry=r,
        )
        self.agency_stories = Counter(
            "wirefeed_agency_stories",
            "Stories parsed, by agency and format (agency: a known agency, 'other' or 'none'; "
            "see consumer.feedhealth).",
            ["agency", "format"], registry=r,
        )
        self.agency_last_story = Gauge(
            "wirefeed_agency_last_story_timestamp_seconds",
            "Unix time of the latest story from each agency (its input record's timestamp).",
            ["agency"], registry=r,
        )
        self.feed_health = FeedHealth(self.agency_stories, self.agency_last_story)
        self.ready = Gauge("wirefeed_ready", "1 when the worker is ready, else 0.", registry=r)
        self.last_commit_timestamp = Gauge(
            "wirefeed_last_commit_timestamp_seconds",
            "Unix time of the last successful commit.", registry=r,
        )
        self.build_info = Gauge(
            "wirefeed_build_info", "Build information; the value is always 1.",
            ["version", "python"], registry=r,
        )
        self.build_info.labels(version=__version__, python=platform.python_version()).set(1)
