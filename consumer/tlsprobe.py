"""Why a broker connection fails, in one machine-readable reason (TLS above all).

aiokafka reports any failed bootstrap as "Unable to bootstrap from [...]" and
drops the cause; an operator facing a managed cluster needs to know whether the
broker's certificate is not trusted, the client certificate was refused or
expired, or nothing listens. :func:`diagnose` opens one connection of its own
with the worker's TLS context, does the handshake, and sends one ApiVersions
request (the first thing every Kafka client sends, allowed before SASL): with
TLS 1.3 the broker judges the client certificate only after the client thinks
the handshake is over, so its verdict (an alert, or a closed connection)
arrives on that first read. :func:`classify` maps what happened to a reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
import time
from typing import Any

# The reasons, as metric label values and log fields (a closed set: bounded labels).
CONNECTION_REFUSED = "connection_refused"
TIMEOUT = "timeout"
TLS_UNTRUSTED_SERVER = "tls_server_not_trusted"
TLS_SERVER_EXPIRED = "tls_server_certificate_expired"
TLS_HOSTNAME = "tls_hostname_mismatch"
TLS_CLIENT_EXPIRED = "tls_client_certificate_expired"
TLS_CLIENT_REJECTED = "tls_client_certificate_rejected"
TLS_NOT_TLS = "tls_listener_not_tls"
TLS_OTHER = "tls_error"
CLOSED = "connection_closed"
SASL_FAILED = "sasl_authentication_failed"
OTHER = "unreachable"
OK = "ok"

REASONS = (CONNECTION_REFUSED, TIMEOUT, TLS_UNTRUSTED_SERVER, TLS_SERVER_EXPIRED, TLS_HOSTNAME,
           TLS_CLIENT_EXPIRED, TLS_CLIENT_REJECTED, TLS_NOT_TLS, TLS_OTHER, CLOSED, SASL_FAILED,
           OTHER)

# OpenSSL verify codes (x509_vfy.h): what the client found wrong with the broker's chain
_VERIFY = {
    10: TLS_SERVER_EXPIRED,  # certificate has expired
    18: TLS_UNTRUSTED_SERVER,  # self-signed certificate
    19: TLS_UNTRUSTED_SERVER,  # self-signed certificate in chain
    20: TLS_UNTRUSTED_SERVER,  # unable to get local issuer certificate
    21: TLS_UNTRUSTED_SERVER,  # unable to verify the first certificate
    62: TLS_HOSTNAME,  # hostname mismatch
    64: TLS_HOSTNAME,  # IP address mismatch
}
# ApiVersions v0, correlation id 1, no client id: 10 bytes after the length prefix
_API_VERSIONS = struct.pack(">ihhih", 10, 18, 0, 1, -1)


def classify(exc: BaseException | None, *, tls: bool) -> str:
    """The reason for what a connection attempt raised (``None``: the broker closed it)."""
    if exc is None:
        # a broker that dislikes a client certificate may close without an alert
        return TLS_CLIENT_REJECTED if tls else CLOSED
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _VERIFY.get(exc.verify_code, TLS_UNTRUSTED_SERVER)
    if isinstance(exc, ssl.SSLError):
        text = f"{exc.reason or ''} {exc}".upper()
        if "CERTIFICATE_EXPIRED" in text:
            return TLS_CLIENT_EXPIRED
        if any(k in text for k in ("BAD_CERTIFICATE", "UNKNOWN_CA", "CERTIFICATE_REQUIRED",
                                    "CERTIFICATE_UNKNOWN", "HANDSHAKE_FAILURE")):
            return TLS_CLIENT_REJECTED
        if "WRONG_VERSION_NUMBER" in text or "RECORD_LAYER_FAILURE" in text:
            return TLS_NOT_TLS
        return TLS_OTHER
    if isinstance(exc, ConnectionRefusedError):
        return CONNECTION_REFUSED
    if isinstance(exc, TimeoutError):
        return TIMEOUT
    if isinstance(exc, (ConnectionResetError, asyncio.IncompleteReadError, EOFError)):
        return TLS_CLIENT_REJECTED if tls else CLOSED
    return OTHER


async def diagnose(bootstrap_servers: str, ssl_context: ssl.SSLContext | None,
                   certfile: str = "", timeout: float = 5.0,
                   server_name: str | None = None) -> str:
    """The reason the first bootstrap server cannot be used, or :data:`OK`.

    ``certfile`` is the client certificate, if any: a broker refuses an expired
    one with a generic "certificate unknown" alert, so its dates are read here.
    ``server_name`` is the name checked against the certificate (default: the host).
    """
    reason = await _attempt(bootstrap_servers, ssl_context, timeout, server_name)
    if reason == TLS_CLIENT_REJECTED and certfile and client_certificate_expired(certfile):
        return TLS_CLIENT_EXPIRED
    return reason


async def _attempt(bootstrap_servers: str, ssl_context: ssl.SSLContext | None,
                   timeout: float, server_name: str | None) -> str:
    host, _, port = bootstrap_servers.split(",")[0].strip().rpartition(":")
    host = host.strip("[]")
    tls = ssl_context is not None
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            try:
                reader, writer = await asyncio.open_connection(
                    host, int(port), ssl=ssl_context,
                    server_hostname=(server_name or host) if tls else None)
            except (ssl.SSLEOFError, ConnectionResetError, asyncio.IncompleteReadError):
                # closed in the middle of the handshake: a plaintext listener read the
                # ClientHello as a request and hung up
                return TLS_NOT_TLS if tls else CLOSED
            writer.write(_API_VERSIONS)
            await writer.drain()
            size = struct.unpack(">i", await reader.readexactly(4))[0]
            await reader.readexactly(size)
        return OK
    except asyncio.IncompleteReadError:
        return classify(None, tls=tls)
    except (OSError, TimeoutError, EOFError) as exc:
        return classify(exc, tls=tls)
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
                await asyncio.wait_for(writer.wait_closed(), 1)


def client_certificate_expired(certfile: str, now: float | None = None) -> bool:
    """True when the first certificate in ``certfile`` (PEM) is past its notAfter date.

    The standard library decodes a certificate file only through ``_ssl._test_decode_cert``
    (what its own test suite uses); without it, or for an unreadable file, the answer
    is False and the reason stays the generic "rejected".
    """
    decode = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decode is None:
        return False
    try:
        not_after = decode(certfile)["notAfter"]
        return bool(ssl.cert_time_to_seconds(not_after) < (time.time() if now is None else now))
    except (OSError, ValueError, KeyError, ssl.SSLError):
        return False


def _from_client_error(exc: BaseException, *, sasl: bool) -> str:
    """A reason from aiokafka's failure when a plain connection and ApiVersions work.

    aiokafka's bootstrap drops the cause of a failed SASL login, so with SASL
    configured and the connection itself fine, the login is what failed.
    """
    name = type(exc).__name__
    if sasl or "Authentication" in name or "Sasl" in name:
        return SASL_FAILED
    return OTHER


HINTS = {
    CONNECTION_REFUSED: "nothing listens at the bootstrap address: check host and port",
    TIMEOUT: "no answer: a firewall, or the wrong port",
    TLS_UNTRUSTED_SERVER: "the broker's certificate is not signed by WIREFEED_SSL_CAFILE "
                          "(wrong CA bundle, or none given for a private CA)",
    TLS_SERVER_EXPIRED: "the broker's certificate has expired",
    TLS_HOSTNAME: "the broker's certificate does not name the host in "
                  "WIREFEED_BOOTSTRAP_SERVERS (use the name it was issued for)",
    TLS_CLIENT_EXPIRED: "the broker refused the client certificate: it has expired "
                        "(WIREFEED_SSL_CERTFILE)",
    TLS_CLIENT_REJECTED: "the broker refused the client certificate or closed the TLS "
                         "connection: missing, expired, or signed by a CA it does not trust",
    TLS_NOT_TLS: "the listener does not speak TLS: WIREFEED_SECURITY_PROTOCOL or the port is wrong",
    TLS_OTHER: "TLS handshake failed",
    CLOSED: "the broker closed the connection: a TLS or SASL listener spoken to in plaintext?",
    SASL_FAILED: "SASL authentication failed: user, password or mechanism",
    OTHER: "the broker cannot be used",
}


class ConnectFailures:
    """Counts failed connection attempts by reason and logs each new reason once.

    A worker retries with a growing backoff; logging every retry would bury the one
    line that says what is wrong, so the line is written when the reason changes
    (the counter still counts every attempt).
    """

    def __init__(self, bootstrap_servers: str, ssl_context: ssl.SSLContext | None,
                 certfile: str, sasl: bool, counter: Any, logger: Any) -> None:
        self._bootstrap = bootstrap_servers
        self._ssl = ssl_context
        self._certfile = certfile
        self._sasl = sasl
        self._counter = counter
        self._log = logger
        self.reason: str | None = None

    async def failed(self, exc: BaseException, **fields: Any) -> str:
        """Record one failed attempt that raised ``exc``; returns its reason."""
        reason = await diagnose(self._bootstrap, self._ssl, self._certfile)
        if reason == OK:
            reason = _from_client_error(exc, sasl=self._sasl)
        self._counter.labels(reason).inc()
        if reason != self.reason:
            self._log.error("broker_connection_failed", reason=reason, hint=HINTS[reason],
                            bootstrap_servers=self._bootstrap, error=repr(exc), **fields)
        self.reason = reason
        return reason

    def succeeded(self) -> None:
        if self.reason is not None:
            self._log.info("broker_connection_restored", bootstrap_servers=self._bootstrap)
        self.reason = None
