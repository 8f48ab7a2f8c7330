"""A loopback HTTPS webhook receiver: answers POSTs with scripted statuses and records what it got.

Its certificate (from a ``trustme`` CA, trusted through ``ca_bundle`` only) names ``receiver.test``, so a
delivery that connects to 127.0.0.1 verifies only if it keeps the hostname for SNI and verification.
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import trustme

HOSTNAME = "receiver.test"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    status: int  # what the receiver answered
    server_name: str | None  # TLS SNI the client sent


class Receiver:
    def __init__(self, workdir: Path, hostname: str = HOSTNAME) -> None:
        """``hostname``: the name its certificate carries (an IP address works too, for a server that
        resolves names with the system resolver)."""
        self.hostname = hostname
        ca = trustme.CA()
        self.ca_bundle = workdir / "webhook-receiver-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_bundle))
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(hostname).configure_cert(self._context)
        self._context.sni_callback = self._sni
        self._lock = threading.Lock()
        self._server_names: list[str | None] = []
        self.script: list[int] = []
        self.received: list[Received] = []
        self._server: ThreadingHTTPServer | None = None

    def _sni(self, _sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        with self._lock:
            self._server_names.append(name)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        return f"https://{self.hostname}:{self.port}{path}"

    def reset(self, script: list[int] | None = None) -> None:
        with self._lock:
            self.script = list(script or [])
            self.received = []
            self._server_names = []

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    status = receiver.script.pop(0) if receiver.script else 200
                    name = receiver._server_names[-1] if receiver._server_names else None
                    receiver.received.append(
                        Received(
                            self.path, {k.lower(): v for k, v in self.headers.items()}, body, status, name
                        )
                    )
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.socket = self._context.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
