"""The worker's one HTTP port: ``/metrics``, ``/healthz``, ``/readyz``.

A tiny HTTP/1.1 server on the worker's own asyncio loop rather than
prometheus-client's threaded server: ``/healthz`` answering at all proves
that the event loop turns, which is exactly what liveness should mean for an
asyncio worker (a thread would keep answering while the loop is wedged).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from consumer.metrics import Metrics

ReadyCheck = Callable[[], tuple[bool, str]]

_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class HealthServer:
    """Serves metrics and probes until :meth:`stop`."""

    def __init__(self, metrics: Metrics, ready: ReadyCheck, host: str, port: int) -> None:
        self._metrics = metrics
        self._ready = ready
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self._host, self._port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def _route(self, method: str, path: str) -> tuple[int, str, bytes]:
        path = path.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"method not allowed\n"
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self._metrics.registry)
        if path == "/healthz":
            return 200, "text/plain", b"ok\n"
        if path == "/readyz":
            ok, why = self._ready()
            return (200 if ok else 503), "text/plain", (why + "\n").encode()
        return 404, "text/plain", b"not found\n"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            method, path, _ = request.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            status, ctype, body = self._route(method, path)
            head = (
                f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            ).encode()
            writer.write(head + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError,
                ConnectionError):
            pass  # a client that sends garbage or hangs up gets no answer
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
