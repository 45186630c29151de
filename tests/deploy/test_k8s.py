"""deploy/k8s: renders with kustomize, validates offline, and keeps its promises.

Built-in kinds are validated with kubernetes-validate (Kubernetes OpenAPI-derived
JSON schemas shipped in the package, strict: unknown fields fail) against the
oldest and newest versions listed below; the CRDs against the reduced schemas in
crd_schemas.py.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from consumer.config import load
from tests.deploy.crd_schemas import SCHEMAS
from tests.deploy.known import (
    NOT_IN_CONFIGMAP,
    SECRET_SETTINGS,
    SETTINGS,
    SHUTDOWN_TIMEOUT_S,
    TOPICS,
    UID,
)

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
TARGETS = ["base", "overlays/example"]
K8S_VERSIONS = ["1.30", "1.37"]

Resource = dict[str, Any]


def _build(kustomize: str, target: str) -> list[Resource]:
    proc = subprocess.run(
        [kustomize, "build", str(K8S / target)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"kustomize build {target} failed:\n{proc.stderr}"
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert docs, f"kustomize build {target} rendered nothing"
    return docs


@pytest.fixture(scope="module")
def rendered(kustomize: str) -> dict[str, list[Resource]]:
    return {target: _build(kustomize, target) for target in TARGETS}


def _one(docs: list[Resource], kind: str) -> Resource:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


@pytest.mark.parametrize("target", TARGETS)
def test_builtin_kinds_validate_against_kubernetes_schemas(
    rendered: dict[str, list[Resource]], target: str, python_tools: None
) -> None:
    import kubernetes_validate  # type: ignore[import-untyped]

    checked = 0
    for doc in rendered[target]:
        if (doc["apiVersion"], doc["kind"]) in SCHEMAS:
            continue
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{target}: {doc['kind']}/{doc['metadata']['name']} ({version}): {exc}")
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize("target", TARGETS)
def test_custom_resources_validate_structurally(
    rendered: dict[str, list[Resource]], target: str
) -> None:
    kinds = set()
    for doc in rendered[target]:
        schema = SCHEMAS.get((doc["apiVersion"], doc["kind"]))
        if schema is None:
            continue
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(doc))
        assert not errors, [
            f"{doc['kind']}: {'/'.join(map(str, e.path))}: {e.message}" for e in errors
        ]
        kinds.add(doc["kind"])
    assert {"ScaledObject", "PodMonitor"} <= kinds


def test_crd_schemas_catch_mistakes() -> None:
    """A misspelt or unquoted field fails, so the reduced schemas are not vacuous."""
    good = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "x"},
        "spec": {
            "scaleTargetRef": {"name": "x"},
            "triggers": [
                {
                    "type": "kafka",
                    "metadata": {
                        "bootstrapServers": "k:9092",
                        "consumerGroup": "g",
                        "topic": "t",
                        "lagThreshold": "5",
                    },
                }
            ],
        },
    }
    schema = SCHEMAS[("keda.sh/v1alpha1", "ScaledObject")]
    assert jsonschema.Draft202012Validator(schema).is_valid(good)
    bad_number = yaml.safe_load(yaml.safe_dump(good))
    bad_number["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 5
    assert not jsonschema.Draft202012Validator(schema).is_valid(bad_number)
    typo = yaml.safe_load(yaml.safe_dump(good))
    typo["spec"]["maxReplicas"] = 3
    assert not jsonschema.Draft202012Validator(schema).is_valid(typo)


@pytest.mark.parametrize("target", TARGETS)
def test_deployment_probes_security_and_shutdown(
    rendered: dict[str, list[Resource]], target: str
) -> None:
    docs = rendered[target]
    deployment = _one(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]

    pod_sc, sc = pod["securityContext"], container["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    assert pod_sc["runAsUser"] == UID
    assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault"
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]

    config = _one(docs, "ConfigMap")["data"]
    shutdown = int(config.get("WIREFEED_SHUTDOWN_TIMEOUT_S", SHUTDOWN_TIMEOUT_S))
    assert pod["terminationGracePeriodSeconds"] > shutdown

    volumes = {v["name"]: v for v in pod["volumes"]}
    tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    assert "emptyDir" in volumes[tmp["name"]]

    (port,) = container["ports"]
    assert port["containerPort"] == int(config["WIREFEED_METRICS_PORT"])
    assert port["name"] == "metrics"


@pytest.mark.parametrize("target", TARGETS)
def test_settings_configmap_and_secret_refs(
    rendered: dict[str, list[Resource]], target: str
) -> None:
    docs = rendered[target]
    config = _one(docs, "ConfigMap")
    keys = set(config["data"])
    assert keys <= SETTINGS, keys - SETTINGS
    assert not keys & NOT_IN_CONFIGMAP, "credentials belong in a Secret, not the ConfigMap"
    assert config["data"]["WIREFEED_INPUT_TOPICS"] == TOPICS["input"]

    (container,) = _one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert container["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]
    secret_env = {
        e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e
    }
    assert set(secret_env) == SECRET_SETTINGS
    secrets = [d for d in docs if d["kind"] == "Secret"]
    if target == "base":
        assert not secrets, "the base ships no Secret; examples live in the overlay"
    else:
        (secret,) = secrets
        assert all(ref["name"] == secret["metadata"]["name"] for ref in secret_env.values())
        assert {ref["key"] for ref in secret_env.values()} <= set(secret["stringData"])
        for key in ("username", "password"):
            assert secret["stringData"][key].startswith("CHANGE-ME"), "placeholder values only"


@pytest.mark.parametrize("target", TARGETS)
def test_selectors_match_the_pods(rendered: dict[str, list[Resource]], target: str) -> None:
    docs = rendered[target]
    pod_labels = _one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]

    def matches(selector: dict[str, str]) -> bool:
        return bool(selector) and all(pod_labels.get(k) == v for k, v in selector.items())

    assert matches(_one(docs, "Service")["spec"]["selector"])
    assert matches(_one(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"])
    assert matches(_one(docs, "PodMonitor")["spec"]["selector"]["matchLabels"])
    service_port = _one(docs, "Service")["spec"]["ports"][0]
    assert service_port["name"] == "metrics"
    assert service_port["targetPort"] == "metrics"
    endpoint = _one(docs, "PodMonitor")["spec"]["podMetricsEndpoints"][0]
    assert endpoint["port"] == "metrics"
    assert endpoint["path"] == "/metrics"


@pytest.mark.parametrize("target", TARGETS)
def test_lag_autoscaling(rendered: dict[str, list[Resource]], target: str) -> None:
    docs = rendered[target]
    deployment = _one(docs, "Deployment")
    assert "replicas" not in deployment["spec"], "KEDA owns the replica count"
    scaled = _one(docs, "ScaledObject")["spec"]
    assert scaled["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert 1 <= scaled["minReplicaCount"] <= scaled["maxReplicaCount"]
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "kafka"
    config = _one(docs, "ConfigMap")["data"]
    assert trigger["metadata"]["consumerGroup"] == config["WIREFEED_GROUP_ID"]
    assert trigger["metadata"]["topic"] == config["WIREFEED_INPUT_TOPICS"]
    assert trigger["metadata"]["bootstrapServers"] == config["WIREFEED_BOOTSTRAP_SERVERS"]
    assert trigger["metadata"]["allowIdleConsumers"] == "false"
    if target != "base":
        auth = _one(docs, "TriggerAuthentication")
        assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]


def test_max_replicas_documented_as_partition_count() -> None:
    text = (K8S / "base" / "scaledobject.yaml").read_text()
    before = text.split("maxReplicaCount:")[0].splitlines()[-4:]
    assert any("partition" in line for line in before), "explain maxReplicaCount = partitions"


def test_pdb_allows_one_disruption(rendered: dict[str, list[Resource]]) -> None:
    pdb = _one(rendered["base"], "PodDisruptionBudget")["spec"]
    assert pdb.get("maxUnavailable") == 1 or pdb.get("minAvailable") is not None


def test_overlay_pins_image_and_namespace(rendered: dict[str, list[Resource]]) -> None:
    docs = rendered["overlays/example"]
    (container,) = _one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    image = container["image"]
    assert ":" in image.rsplit("/", 1)[-1]
    assert not image.endswith(":latest")
    namespaced = [d for d in docs if d["kind"] != "Namespace"]
    assert {d["metadata"].get("namespace") for d in namespaced} == {"wirefeed"}


def _environ(docs: list[Resource]) -> dict[str, str]:
    """The worker's environment from the ConfigMap, plus the Secret where there is one."""
    environ = dict(_one(docs, "ConfigMap")["data"])
    for secret in (d for d in docs if d["kind"] == "Secret"):
        environ["WIREFEED_SASL_USERNAME"] = secret["stringData"]["username"]
        environ["WIREFEED_SASL_PASSWORD"] = secret["stringData"]["password"]
    return environ


@pytest.mark.parametrize("target", TARGETS)
def test_worker_accepts_the_settings(rendered: dict[str, list[Resource]], target: str) -> None:
    """The ConfigMap (plus the Secret, where the overlay has one) loads in consumer.config."""
    environ = _environ(rendered[target])
    settings = load(environ=environ)
    assert settings.metrics_port == int(environ["WIREFEED_METRICS_PORT"])


# Measured: a worker's RSS after start (python -m consumer.cli with the kernels and the
# parse warm-up, 265 MB) and the dedup state a held story (bench_dedup_scale.py: RAM B/story
# at 1M held, 1,298-1,300, plus the version's compressed text for the changes object, 592 B
# held a story in bench_dedup_scale.py --text-cost); a parse pool process holds about as much
# as the worker at start.
START_BYTES = 270_000_000
STORY_BYTES = 1_900
_QUANTITY = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}


@pytest.mark.parametrize("target", TARGETS)
def test_memory_limit_holds_a_full_window(rendered: dict[str, list[Resource]],
                                          target: str) -> None:
    """A worker whose dedup window fills to WIREFEED_MAX_ENTRIES stays inside its memory
    limit, else the pod is OOM-killed once the feed has run for long enough."""
    docs = rendered[target]
    (container,) = _one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    limit = container["resources"]["limits"]["memory"]
    number, unit = re.fullmatch(r"(\d+)(Ki|Mi|Gi)", limit).groups()  # type: ignore[union-attr]
    settings = load(environ=_environ(docs))
    needed = START_BYTES * (1 + settings.parse_processes) + settings.max_entries * STORY_BYTES
    assert needed <= int(number) * _QUANTITY[unit], (limit, settings.max_entries)
