"""E-mail: one plain-text message per notification, sent through SMTP or, with no SMTP host configured
(the embedded default), written as an .eml file to ``mail_outbox_dir``.

The standard library does the work (``email`` composes, ``smtplib`` sends, in a worker thread so the
event loop is never blocked). The SMTP password is passed to ``login`` only: never logged, never part of
an error recorded on a notification.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from donatello.config import Settings


class MailNotSent(Exception):
    """The message was not accepted; ``str()`` is safe to record (no credentials)."""


def compose(
    settings: Settings, notification_id: uuid.UUID, to: str, title: str, body: str, link: str | None
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = " ".join(title.split())  # a department name must not add a header
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(idstring=str(notification_id), domain="donatello.notifications")
    text = body
    if link:
        text += f"\n\nOpen it in DonatelloAI: {settings.public_url.rstrip('/')}{link}"
    text += "\n\nYou can choose which notifications reach you by e-mail on the Notifications page."
    message.set_content(text)
    return message


async def send(settings: Settings, notification_id: uuid.UUID, message: EmailMessage) -> None:
    if settings.smtp_host:
        await asyncio.to_thread(_smtp, settings, message)
    else:
        await asyncio.to_thread(_write, settings.mail_outbox_dir, notification_id, message)


def _smtp(settings: Settings, message: EmailMessage) -> None:
    assert settings.smtp_host is not None
    try:
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds
        ) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username and settings.smtp_password is not None:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as error:
        raise MailNotSent(f"SMTP authentication failed ({error.smtp_code})") from None
    except smtplib.SMTPResponseException as error:
        raise MailNotSent(f"SMTP {error.smtp_code}: {_text(error.smtp_error)}") from None
    except (smtplib.SMTPException, OSError) as error:
        raise MailNotSent(f"{type(error).__name__}: {str(error)[:200]}") from None


def _write(folder: Path, notification_id: uuid.UUID, message: EmailMessage) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{notification_id}.eml.partial"
    partial.write_bytes(message.as_bytes())
    partial.replace(folder / f"{notification_id}.eml")  # whole files only: a reader never sees half


def _text(value: bytes | str) -> str:
    decoded = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return decoded[:200]
