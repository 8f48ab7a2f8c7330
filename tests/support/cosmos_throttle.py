"""A loopback HTTPS gateway in front of the Cosmos emulator that can answer as Cosmos DB does when a
partition's RU/s are spent (429 ``TooManyRequests`` with ``x-ms-retry-after-ms``, sub-status 3200) or
when the service is briefly unavailable (503) — for a while, then it forwards again. The emulator cannot
throttle; this is a real network hop in front of it, not a stand-in for our code.

Everything else is forwarded unchanged, except that the account document's endpoint (the emulator's own
port) is rewritten to the gateway's, so the SDK keeps talking through it. Each request is recorded
(monotonic time, method, path, the status answered) for the test to read."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import trustme

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


@dataclass(frozen=True)
class Seen:
    at: float
    method: str
    path: str
    status: int


class CosmosGateway:
    def __init__(self, upstream: str, workdir: Path) -> None:
        self.upstream = upstream.rstrip("/")
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._refuse_until = 0.0
        self._refusal = (429, 0)  # status, retry-after in ms
        self._client = httpx.Client(verify=False, timeout=30, trust_env=False)
        authority = trustme.CA()
        cert = authority.issue_cert("127.0.0.1")
        cert_file = workdir / "cosmos-gateway.pem"
        cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._tls.load_cert_chain(str(cert_file))
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> CosmosGateway:
        """Listen (again, on the same port after ``go_away``)."""
        server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        server.daemon_threads = True
        server.socket = self._tls.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, name="cosmos-gateway", daemon=True).start()
        self._server = server
        return self

    def go_away(self) -> None:
        """Cosmos unreachable: the port closes (connections refused); the emulator keeps its data."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:  # and the kept-alive connections die with it, as they would
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self._connections.clear()

    def stop(self) -> None:
        self.go_away()
        self._client.close()

    def throttle(self, seconds: float, retry_after_ms: int) -> None:
        """Answer every request with 429 and ``x-ms-retry-after-ms`` for ``seconds``."""
        with self._lock:
            self._refusal, self._refuse_until = (429, retry_after_ms), time.monotonic() + seconds

    def unavailable(self, seconds: float) -> None:
        """Answer every request with 503 ServiceUnavailable (no retry hint) for ``seconds``."""
        with self._lock:
            self._refusal, self._refuse_until = (503, 0), time.monotonic() + seconds

    def answered(self, status: int) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.seen if seen.status == status]

    def _refusing(self) -> tuple[int, int] | None:
        with self._lock:
            return self._refusal if time.monotonic() < self._refuse_until else None

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.seen.append(Seen(time.monotonic(), method, path, status))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with gateway._lock:
                    gateway._connections.add(self.connection)

            def finish(self) -> None:
                with gateway._lock:
                    gateway._connections.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                if (refusal := gateway._refusing()) and self.path != "/":
                    status, retry_after_ms = refusal
                    self._refuse(status, retry_after_ms)
                    gateway._record(self.command, self.path, status)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream = gateway._client.request(
                    self.command, gateway.upstream + self.path, headers=headers, content=body
                )
                content = upstream.content
                if self.path == "/":  # the account document names the endpoint to use: this gateway
                    upstream_port = httpx.URL(gateway.upstream).port
                    content = content.replace(f":{upstream_port}/".encode(), f":{gateway.port}/".encode())
                self.send_response(upstream.status_code)
                for name, value in upstream.headers.multi_items():
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
                gateway._record(self.command, self.path, upstream.status_code)

            def _refuse(self, status: int, retry_after_ms: int) -> None:
                if status == 429:  # Cosmos DB's answer when a partition's RU/s are spent
                    body = {
                        "code": "TooManyRequests",
                        "message": 'Message: {"Errors":["Request rate is large. More Request Units may '
                        'be needed, so no changes were made. Please retry this request later."]}',
                    }
                    extra = {"x-ms-retry-after-ms": str(retry_after_ms), "x-ms-substatus": "3200"}
                else:
                    body = {"code": "ServiceUnavailable", "message": "Service is currently unavailable."}
                    extra = {}
                content = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("x-ms-activity-id", str(uuid.uuid4()))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        return Handler
