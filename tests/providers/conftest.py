"""The loopback stubs of the non-Azure vendors, one server per session and a clean script per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.bedrock_stub import (
    ACCESS_KEY_ID,
    KEY_ID_VARIABLE,
    SECRET_ACCESS_KEY,
    SECRET_VARIABLE,
    BedrockStub,
)
from tests.support.vertex_stub import KEY_VARIABLE, VertexStub


@pytest.fixture(scope="session")
def bedrock_server() -> Iterator[BedrockStub]:
    stub = BedrockStub()
    stub.start()
    try:
        yield stub
    finally:
        stub.stop()


@pytest.fixture
def bedrock(bedrock_server: BedrockStub, monkeypatch: pytest.MonkeyPatch) -> BedrockStub:
    """The Bedrock runtime stub with an empty script; the key pair it knows is mounted in the environment
    variables ``KEY_ID_VARIABLE`` and ``SECRET_VARIABLE`` (``CREDENTIAL``)."""
    bedrock_server.reset()
    monkeypatch.setenv(KEY_ID_VARIABLE, ACCESS_KEY_ID)
    monkeypatch.setenv(SECRET_VARIABLE, SECRET_ACCESS_KEY)
    return bedrock_server


@pytest.fixture(scope="session")
def vertex_server() -> Iterator[VertexStub]:
    stub = VertexStub()
    stub.start()
    try:
        yield stub
    finally:
        stub.stop()


@pytest.fixture
def vertex(vertex_server: VertexStub, monkeypatch: pytest.MonkeyPatch) -> VertexStub:
    """Vertex AI and Google's token endpoint with an empty script and a new service account whose key file
    is mounted in ``vertex_stub.KEY_VARIABLE`` (``vertex_stub.CREDENTIAL``)."""
    vertex_server.reset()
    monkeypatch.setenv(KEY_VARIABLE, vertex_server.key_file())
    return vertex_server
