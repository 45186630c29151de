"""Bad TLS files fail at start with one line naming the setting (issue 24, item 6).

Throwaway certificates come from the openssl command line (``cryptography`` is
not a dependency): one CA, a client certificate with its key, and a key of
another pair. Nothing is committed; they live in the test's temporary folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from consumer.config import load
from consumer.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki() -> Iterator[Path]:
    """A world-readable folder (so that an unprivileged child can reach it) of PEM files."""
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed to make throwaway certificates")
    folder = Path(tempfile.mkdtemp(prefix="wirefeed-pki-"))
    folder.chmod(0o755)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1")
    _openssl("req", "-x509", *ec, "-keyout", str(folder / "ca.key"),
             "-out", str(folder / "ca.pem"), "-subj", "/CN=wirefeed test CA")
    _openssl("req", "-x509", *ec, "-keyout", str(folder / "client.key"),
             "-out", str(folder / "client.pem"), "-subj", "/CN=wirefeed client")
    _openssl("req", "-x509", *ec, "-keyout", str(folder / "other.key"),
             "-out", str(folder / "other.pem"), "-subj", "/CN=someone else")
    # the CA in DER: the commonest "not PEM" mistake
    _openssl("x509", "-in", str(folder / "ca.pem"), "-outform", "der",
             "-out", str(folder / "ca.der"))
    (folder / "locked.pem").write_bytes((folder / "ca.pem").read_bytes())
    (folder / "locked.pem").chmod(0)
    (folder / "a-dir.pem").mkdir()
    for path in folder.iterdir():
        if path.name != "locked.pem":
            path.chmod(0o755 if path.is_dir() else 0o644)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _env(pki: Path, **files: str) -> dict[str, str]:
    env = {"WIREFEED_SECURITY_PROTOCOL": "SSL"}
    env.update({f"WIREFEED_{k.upper()}": str(pki / v) for k, v in files.items()})
    return env


def test_good_files_build_a_context(pki: Path) -> None:
    settings = load(environ=_env(pki, ssl_cafile="ca.pem", ssl_certfile="client.pem",
                                 ssl_keyfile="client.key"))
    context = settings.kafka_common()["ssl_context"]
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 1


@pytest.mark.parametrize(
    ("files", "named", "words"),
    [
        ({"ssl_cafile": "ca.der"}, "WIREFEED_SSL_CAFILE (--ssl-cafile)", "not a usable PEM CA"),
        ({"ssl_cafile": "a-dir.pem"}, "WIREFEED_SSL_CAFILE (--ssl-cafile)", "is a directory"),
        ({"ssl_cafile": "ca.pem", "ssl_certfile": "client.pem", "ssl_keyfile": "other.key"},
         "WIREFEED_SSL_CERTFILE (--ssl-certfile)", "do not load as a pair"),
        ({"ssl_cafile": "ca.pem", "ssl_certfile": "ca.der", "ssl_keyfile": "client.key"},
         "WIREFEED_SSL_KEYFILE (--ssl-keyfile)", "do not load as a pair"),
        ({"ssl_certfile": "client.pem", "ssl_keyfile": "a-dir.pem"},
         "WIREFEED_SSL_KEYFILE (--ssl-keyfile)", "is a directory"),
    ],
    ids=["ca-not-pem", "ca-is-directory", "key-of-another-cert", "cert-not-pem",
         "key-is-directory"],
)
def test_bad_tls_file_names_the_setting(
    pki: Path, files: dict[str, str], named: str, words: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load(environ=_env(pki, **files))
    assert named in info.value.message
    assert words in info.value.message
    assert "\n" not in info.value.message


@contextlib.contextmanager
def _unprivileged() -> Iterator[None]:
    """Root reads any file whatever its mode: check as an unprivileged user meanwhile
    (only the effective uid changes, so root gets it back)."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_unreadable_ca_file_is_not_a_traceback(pki: Path) -> None:
    with _unprivileged(), pytest.raises(ConfigError) as info:
        load(environ=_env(pki, ssl_cafile="locked.pem"))
    assert "WIREFEED_SSL_CAFILE (--ssl-cafile)" in info.value.message
    assert "cannot read" in info.value.message
    assert "Permission denied" in info.value.message


@pytest.mark.parametrize(
    ("files", "named", "words"),
    [
        ({"ssl_cafile": "a-dir.pem"}, "WIREFEED_SSL_CAFILE (--ssl-cafile)", "is a directory"),
        ({"ssl_cafile": "ca.der"}, "WIREFEED_SSL_CAFILE (--ssl-cafile)", "not a usable PEM CA"),
    ],
    ids=["ca-is-directory", "ca-not-pem"],
)
def test_wirefeed_run_exits_2_with_one_line(
    pki: Path, files: dict[str, str], named: str, words: str
) -> None:
    """What an operator sees: exit status 2 and one line, no traceback (a CA file that
    was not PEM gave an ssl.SSLError traceback at the first connection)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREFEED_")}
    env.update(_env(pki, **files))
    result = subprocess.run(
        [sys.executable, "-m", "consumer.cli", "run"], env=env, cwd=REPO,
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0]
    assert words in lines[0]
