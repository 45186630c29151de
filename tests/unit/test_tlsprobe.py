"""Connection-failure reasons against real TLS servers on loopback (Python's ssl, no broker).

The broker-backed cases (wrong CA, expired client certificate against Kafka's
own TLS stack) are in tests/integration/test_tls.py; these pin the mapping for
cases a local Kafka listener cannot easily show (a plaintext port spoken to in
TLS, nothing listening, a server closing without a word).
"""

from __future__ import annotations

import asyncio
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter

from consumer import tlsprobe
from consumer.devtools import certs
from consumer.devtools.broker import free_port


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> certs.TlsMaterial:
    return certs.make(tmp_path_factory.mktemp("tls"))


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads one Kafka request and answers with a minimal framed response."""
    size = struct.unpack(">i", await reader.readexactly(4))[0]
    await reader.readexactly(size)
    writer.write(struct.pack(">ii", 4, 1))
    await writer.drain()
    writer.close()


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def _serve(handler: Handler, ctx: ssl.SSLContext | None) -> tuple[asyncio.Server, str]:
    port = free_port()
    server = await asyncio.start_server(handler, "127.0.0.1", port, ssl=ctx)
    return server, f"127.0.0.1:{port}"


def _server_ctx(m: certs.TlsMaterial, *, require_client: bool = False) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(m.server_keystore)
    if require_client:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(m.ca)
    return ctx


def _client_ctx(cafile: Path, cert: Path | None = None, key: Path | None = None
                ) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cafile))
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    return ctx


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[str]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler, ctx: ssl.SSLContext | None) -> str:
        server, address = await _serve(handler, ctx)
        servers.append(server)
        return address

    yield start
    for server in servers:
        server.close()


async def test_a_trusted_server_is_ok(
    material: certs.TlsMaterial, serve: Callable[..., Awaitable[str]],
) -> None:
    address = await serve(_answer, _server_ctx(material))
    assert await tlsprobe.diagnose(address, _client_ctx(material.ca)) == tlsprobe.OK


async def test_a_server_signed_by_another_ca_is_not_trusted(
    material: certs.TlsMaterial, serve: Callable[..., Awaitable[str]],
) -> None:
    address = await serve(_answer, _server_ctx(material))
    reason = await tlsprobe.diagnose(address, _client_ctx(material.other_ca))
    assert reason == tlsprobe.TLS_UNTRUSTED_SERVER


async def test_a_name_the_certificate_does_not_carry_is_a_hostname_mismatch(
    material: certs.TlsMaterial, serve: Callable[..., Awaitable[str]],
) -> None:
    address = await serve(_answer, _server_ctx(material))
    ctx = _client_ctx(material.ca)
    # 127.0.0.1 is in the certificate; the same server under a name that is not
    reason = await tlsprobe.diagnose(address, ctx, server_name="wire.example.org")
    assert reason == tlsprobe.TLS_HOSTNAME


async def test_client_certificates_missing_or_expired_are_told_apart(
    material: certs.TlsMaterial, serve: Callable[..., Awaitable[str]],
) -> None:
    address = await serve(_answer, _server_ctx(material, require_client=True))
    good = _client_ctx(material.ca, material.client_cert, material.client_key)
    assert await tlsprobe.diagnose(address, good, str(material.client_cert)) == tlsprobe.OK
    assert (await tlsprobe.diagnose(address, _client_ctx(material.ca))
            == tlsprobe.TLS_CLIENT_REJECTED)
    expired = _client_ctx(material.ca, material.expired_cert, material.expired_key)
    assert (await tlsprobe.diagnose(address, expired, str(material.expired_cert))
            == tlsprobe.TLS_CLIENT_EXPIRED)


async def test_tls_to_a_plaintext_port_and_plaintext_to_nothing(
    material: certs.TlsMaterial, serve: Callable[..., Awaitable[str]],
) -> None:
    plain = await serve(_hang_up, None)
    assert await tlsprobe.diagnose(plain, _client_ctx(material.ca)) == tlsprobe.TLS_NOT_TLS
    assert await tlsprobe.diagnose(plain, None) == tlsprobe.CLOSED
    nothing = f"127.0.0.1:{free_port()}"
    assert await tlsprobe.diagnose(nothing, None) == tlsprobe.CONNECTION_REFUSED


def test_expiry_is_read_from_the_certificate_file(material: certs.TlsMaterial) -> None:
    assert tlsprobe.client_certificate_expired(str(material.expired_cert))
    assert not tlsprobe.client_certificate_expired(str(material.client_cert))
    assert not tlsprobe.client_certificate_expired(str(material.client_cert.with_suffix(".no")))


class _Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, object]]] = []

    def error(self, event: str, **fields: object) -> None:
        self.lines.append((event, fields))

    def info(self, event: str, **fields: object) -> None:
        self.lines.append((event, fields))


async def test_every_attempt_is_counted_and_a_reason_logged_once(
    material: certs.TlsMaterial, serve: Callable[..., Awaitable[str]],
) -> None:
    address = await serve(_answer, _server_ctx(material))
    registry = CollectorRegistry()
    counter = Counter("failures", "", ["reason"], registry=registry)
    log = _Log()
    failures = tlsprobe.ConnectFailures(address, _client_ctx(material.other_ca), "", False,
                                        counter, log)
    for _ in range(3):
        assert await failures.failed(OSError("boom")) == tlsprobe.TLS_UNTRUSTED_SERVER
    assert registry.get_sample_value(
        "failures_total", {"reason": tlsprobe.TLS_UNTRUSTED_SERVER}) == 3
    assert [event for event, _ in log.lines] == ["broker_connection_failed"]
    assert log.lines[0][1]["hint"] == tlsprobe.HINTS[tlsprobe.TLS_UNTRUSTED_SERVER]
    failures.succeeded()
    assert failures.reason is None
    assert [event for event, _ in log.lines][-1] == "broker_connection_restored"
    assert set(tlsprobe.HINTS) == set(tlsprobe.REASONS)
