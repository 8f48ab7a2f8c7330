"""Clients posting generations to a live server on keep-alive connections, counting what they got back:
the load under which the fault drills take a dependency away."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx

from tests.support.serve_process import ServeProcess

GENERATION = {"prompt": "fault drill", "model": "local/pillow-sketch", "size": "256x256"}


class Load:
    """Clients on keep-alive connections posting generations until told to stop."""

    def __init__(self, server: ServeProcess, token: str, clients: int) -> None:
        self.server, self.token, self.clients = server, token, clients
        self.statuses: Counter[int] = Counter()
        self.transport_errors: list[str] = []
        self.unavailable: list[httpx.Response] = []
        self.unavailable_at: list[float] = []
        self.admitted_at: list[float] = []
        self.admitted_ids: list[str] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client) for _ in range(clients)]

    def _client(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.server.url, headers=headers, timeout=30) as http:
            while not self.stop.is_set():
                try:
                    response = http.post("/v1/generations", json=GENERATION)
                except httpx.TransportError as error:  # a reset connection is a defect
                    with self._lock:
                        self.transport_errors.append(repr(error))
                    continue
                with self._lock:
                    self.statuses[response.status_code] += 1
                    if response.status_code == 202:
                        self.admitted_at.append(time.monotonic())
                        self.admitted_ids.append(response.json()["id"])
                    if response.status_code == 503:
                        self.unavailable.append(response)
                        self.unavailable_at.append(time.monotonic())

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
