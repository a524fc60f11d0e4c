"""A real SMTP server on loopback for mail tests (aiosmtpd), recording what it accepts."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller

from sopflow.config import MailSettings


@dataclass
class Recorder:
    """aiosmtpd handler: accepts messages, or answers the queued refusals first."""

    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)  # e.g. "451 4.3.0 Try again later"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refusals:
            return self.refusals.pop(0)
        self.recipients.append(list(envelope.rcpt_tos))
        self.messages.append(message_from_bytes(envelope.content, policy=default))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    recorder: Recorder
    port: int

    @property
    def messages(self) -> list[EmailMessage]:
        return self.recorder.messages

    def settings(self, sender: str = "sopflow@example.test") -> MailSettings:
        """Mail settings that send to this server (not dry)."""
        return MailSettings(host="127.0.0.1", port=self.port, sender=sender, dry=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    """Run an SMTP server on a free loopback port for the duration of the block."""
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(recorder, port)
    finally:
        controller.stop()
