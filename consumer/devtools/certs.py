"""Throw-away TLS material for the local broker's SSL listeners and the tests against them.

A certificate authority, a broker certificate for ``127.0.0.1``/``localhost`` and
client certificates (one valid, one expired), plus a second, unrelated authority
for the "wrong CA" case. Everything is made by the ``openssl`` command line
(present wherever the JDK and Python are, and the ``cryptography`` package is not
a dependency of the project), on every run, in a temporary folder: no key is ever
committed. Keys are EC P-256, which is quick to make and which both the JDK's
TLS stack (the broker reads the PEM files directly, ``ssl.keystore.type=PEM``)
and Python's ``ssl`` accept.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


class CertError(RuntimeError):
    """openssl is missing or refused to make the material."""


@dataclass(frozen=True)
class TlsMaterial:
    """Paths of the PEM files; ``server_keystore`` holds the broker's key and chain."""

    ca: Path
    server_keystore: Path
    client_cert: Path
    client_key: Path
    expired_cert: Path
    expired_key: Path
    other_ca: Path


def _openssl(*args: str, cwd: Path) -> None:
    exe = shutil.which("openssl")
    if exe is None:
        raise CertError("openssl is not on PATH: it makes the test certificates")
    result = subprocess.run([exe, *args], cwd=cwd, capture_output=True, check=False)
    if result.returncode != 0:
        raise CertError(f"openssl {args[0]} failed: {result.stderr.decode(errors='replace')}")


def _authority(folder: Path, name: str) -> None:
    _openssl("req", "-x509", *_KEY, "-keyout", f"{name}.key", "-out", f"{name}.pem",
             "-days", "2", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)


def _leaf(folder: Path, name: str, *, days: int, extensions: str) -> None:
    """A certificate signed by ``ca``; ``days=-1`` makes one that expired a day ago."""
    (folder / f"{name}.ext").write_text(extensions)
    _openssl("req", *_KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", f"/CN=wirefeed-{name}", cwd=folder)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", str(days), "-extfile", f"{name}.ext",
             "-out", f"{name}.pem", cwd=folder)


def make(folder: Path) -> TlsMaterial:
    """Make a fresh set of TLS material in ``folder`` (created if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    _authority(folder, "ca")
    _authority(folder, "other-ca")
    _leaf(folder, "server", days=2, extensions=(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"))
    client_ext = "extendedKeyUsage=clientAuth\n"
    _leaf(folder, "client", days=2, extensions=client_ext)
    _leaf(folder, "expired", days=-1, extensions=client_ext)
    keystore = folder / "server-keystore.pem"
    keystore.write_text((folder / "server.key").read_text() + (folder / "server.pem").read_text()
                        + (folder / "ca.pem").read_text())
    return TlsMaterial(
        ca=folder / "ca.pem", server_keystore=keystore,
        client_cert=folder / "client.pem", client_key=folder / "client.key",
        expired_cert=folder / "expired.pem", expired_key=folder / "expired.key",
        other_ca=folder / "other-ca.pem",
    )
