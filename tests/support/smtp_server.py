"""A real SMTP server on loopback (``aiosmtpd``) that requires AUTH, as Microsoft 365 and Azure
Communication Services do, and keeps every message it accepted for the test to read."""

from __future__ import annotations

import email
import email.policy
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr

from donatello.config import Settings
from tests.support.ports import free_port

USERNAME = "donatello@contoso.example"
PASSWORD = "smtp-secret-Zq8"


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        body = self.message.get_body(("plain",))
        return body.get_content() if body is not None else ""


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USERNAME.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.handler = _Handler()
        self._controller: Controller | None = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def start(self) -> SmtpServer:
        self._controller = self._make()
        self._controller.start()
        return self

    def _make(self) -> Controller:
        return Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=_authenticate,
            auth_required=True,
            auth_require_tls=False,  # loopback only; production settings use STARTTLS
        )

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def mail_to(smtp: SmtpServer, address: str, subject: str, *, after: int = 0, wait: float = 30) -> Received:
    """The first message to ``address`` with ``subject`` among those the SMTP server accepted after the
    first ``after`` (the worker sends within seconds of the commit, so this waits up to ``wait``)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        for received in list(smtp.received)[after:]:
            if address in received.recipients and received.message["Subject"] == subject:
                return received
        time.sleep(0.2)
    raise AssertionError(f"no e-mail to {address} titled {subject!r} reached the SMTP server")


def smtp_settings(settings: Settings, server: SmtpServer) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": server.port,
            "smtp_username": USERNAME,
            "smtp_password": SecretStr(PASSWORD),
            "smtp_starttls": False,
            "smtp_from": "DonatelloAI <notifications@contoso.example>",
            "smtp_timeout_seconds": 5.0,
        }
    )
