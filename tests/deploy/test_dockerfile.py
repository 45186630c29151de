"""The Dockerfile, parsed with dockerfile-parse: stages, base image, user, health, entrypoint."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.known import METRICS_PORT, UID

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "python:3.11-slim"

Instruction = dict[str, Any]


@pytest.fixture(scope="module")
def stages(python_tools: None) -> dict[str, list[Instruction]]:
    """Instructions per stage name (the final stage also under ``"<final>"``)."""
    from dockerfile_parse import DockerfileParser  # type: ignore[import-untyped]

    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    out: dict[str, list[Instruction]] = {}
    args: dict[str, str] = {}
    current: list[Instruction] | None = None
    for ins in parser.structure:
        instruction = ins["instruction"]
        if instruction == "ARG" and current is None:  # global ARGs before the first FROM
            name, _, default = ins["value"].partition("=")
            args[name] = default
        if instruction == "FROM":
            words = ins["value"].split()
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(out))
            current = [{**ins, "image": image}]
            out[name] = current
        elif current is not None:
            current.append(ins)
    assert current is not None, "no FROM"
    out["<final>"] = current
    return out


def _values(stage: list[Instruction], instruction: str) -> list[str]:
    return [str(i["value"]) for i in stage if i["instruction"] == instruction]


def test_multi_stage_on_slim_python(stages: dict[str, list[Instruction]]) -> None:
    named = {k: v for k, v in stages.items() if k != "<final>"}
    assert len(named) >= 2, "builder + runtime stages"
    assert "builder" in named
    for name, stage in named.items():
        assert stage[0]["image"] == BASE_IMAGE, f"stage {name}: {stage[0]['image']}"


def test_builder_installs_from_the_lock_with_hashes(stages: dict[str, list[Instruction]]) -> None:
    runs = " ".join(_values(stages["builder"], "RUN"))
    assert "--require-hashes" in runs
    assert "requirements/main.lock" in runs
    assert re.search(r"pip install --no-deps \.", runs)
    env = " ".join(_values(stages["builder"], "ENV"))
    assert "PIP_NO_CACHE_DIR=1" in env


def test_final_stage_copies_only_the_venv(stages: dict[str, list[Instruction]]) -> None:
    final = stages["<final>"]
    copies = _values(final, "COPY") + _values(final, "ADD")
    assert copies == ["--from=builder /opt/venv /opt/venv"]
    runs = " ".join(_values(final, "RUN"))
    for tool in ("apt-get", "apk", "gcc", "build-essential", "pip install"):
        assert tool not in runs, f"final stage must not install {tool}"
    assert "PIP_NO_CACHE_DIR=1" in " ".join(_values(final, "ENV"))


def test_final_stage_runs_as_fixed_non_root_user(stages: dict[str, list[Instruction]]) -> None:
    users = _values(stages["<final>"], "USER")
    assert users, "final stage sets no USER (would run as root)"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert user == str(UID), "numeric UID, so runAsNonRoot can verify it (deploy/k8s)"


def test_healthcheck_probes_healthz_without_curl(stages: dict[str, list[Instruction]]) -> None:
    (health,) = _values(stages["<final>"], "HEALTHCHECK")
    assert "/healthz" in health
    assert "urllib.request" in health
    assert "curl" not in health
    assert str(METRICS_PORT) in health


def test_entrypoint_and_cmd(stages: dict[str, list[Instruction]]) -> None:
    final = stages["<final>"]
    assert [json.loads(v) for v in _values(final, "ENTRYPOINT")] == [["wirefeed"]]
    assert [json.loads(v) for v in _values(final, "CMD")] == [["run"]]
    assert _values(final, "EXPOSE") == [str(METRICS_PORT)]


def test_oci_labels(stages: dict[str, list[Instruction]]) -> None:
    labels = " ".join(_values(stages["<final>"], "LABEL"))
    for key in ("title", "description", "version", "revision", "licenses", "created"):
        assert f"org.opencontainers.image.{key}=" in labels, key


def _dockerignore_allows(path: str) -> bool:
    """Last matching .dockerignore pattern wins (enough for an allow-list file)."""
    allowed = True
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes) or fnmatch.fnmatch(
            path, pattern.replace("**/", "*")
        ):
            allowed = negate
    return allowed


def test_copy_sources_exist_in_the_build_context(stages: dict[str, list[Instruction]]) -> None:
    for name, stage in stages.items():
        for value in _values(stage, "COPY"):
            words = shlex.split(value)
            if any(w.startswith("--from") for w in words):
                continue
            for source in [w for w in words if not w.startswith("--")][:-1]:
                if any(c in source for c in "*?["):
                    continue  # optional glob (README.m[d]); the other sources keep COPY valid
                path = ROOT / source
                assert path.exists(), f"stage {name}: COPY {source}: no such file"
                assert _dockerignore_allows(source), f"stage {name}: COPY {source} ignored"


def test_numba_cache_is_on_the_writable_tmp(stages: dict[str, list[Instruction]]) -> None:
    """The root filesystem is read-only in compose and k8s; /tmp is the one writable
    mount in both, so the compiled dedup kernels are cached there, not in the venv."""
    import yaml

    env = " ".join(_values(stages["<final>"], "ENV"))
    match = re.search(r"NUMBA_CACHE_DIR=(\S+)", env)
    assert match
    assert match.group(1).startswith("/tmp/")
    service = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["wirefeed"]
    assert service["read_only"]
    assert "/tmp" in service["tmpfs"]
    deployment = yaml.safe_load((ROOT / "deploy/k8s/base/deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"]
    assert "/tmp" in [m["mountPath"] for m in container["volumeMounts"]]
