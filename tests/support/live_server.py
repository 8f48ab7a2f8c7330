"""A real uvicorn server on loopback, in a thread: a real HTTP stack (sockets, keep-alive, the server's own
error handling, a browser's requests) for tests that an in-process ASGI client cannot show."""

from __future__ import annotations

import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from donatello.config import Settings
from donatello.main import create_app


class LiveServer:
    settings: Settings  # what the app was made from, for a server made by ``LiveServer.of``

    def __init__(self, app: FastAPI, *, host: str = "127.0.0.1", port: int = 0) -> None:
        """Port 0: the OS picks a free one when the server binds (see ``url``)."""
        # lifespan "on": a start-up that fails stops the server instead of serving without its state.
        config = uvicorn.Config(
            app, host=host, port=port, lifespan="on", log_config=None, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="live-server", daemon=True)
        self.host = host
        self.port = port

    @classmethod
    def of(cls, settings: Settings) -> LiveServer:
        """The app ``settings`` describe, on the host and port they name (the app's own links and
        security headers mention them, so they are fixed before the app is made)."""
        server = cls(create_app(settings), host=settings.host, port=settings.port)
        server.settings = settings
        return server

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the live server did not start")
            time.sleep(0.02)
        self.port = int(self.server.servers[0].sockets[0].getsockname()[1])
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
