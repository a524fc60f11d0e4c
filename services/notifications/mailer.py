"""Building e-mail messages and handing them to SMTP (or, in dry mode, to the log).

SMTP is the standard library's `smtplib`: STARTTLS and credentials come from
the configuration (`MailSettings`). One connection is opened per delivery
batch and reused. A refusal is classified: a 4xx reply or a network error is
temporary (the message is retried), a 5xx reply is permanent.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import Protocol
from urllib.parse import urlsplit

from models import utcnow
from services.notifications.content import MailContent

log = logging.getLogger("sopflow.mail")
SMTP_TIMEOUT = 30  # seconds


class SmtpSettings(Protocol):
    """The SMTP settings a transport needs (sopflow.config.MailSettings has them)."""

    host: str
    port: int
    starttls: bool
    username: str
    password: str
    dry: bool


class DeliveryError(Exception):
    """The message was not accepted; `permanent` says whether retrying can help."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def build_message(
    content: MailContent,
    sender: str,
    to: str,
    base_url: str,
    to_name: str | None = None,
    list_unsubscribe: str | None = None,
    from_name: str | None = None,
) -> EmailMessage:
    """Return a multipart/alternative message (plain text first, then HTML)."""
    domain = urlsplit(base_url).hostname or "sopflow.local"
    message = EmailMessage()
    message["From"] = formataddr((from_name or "sopflow", sender))
    message["To"] = formataddr((to_name, to)) if to_name else to
    message["Subject"] = content.subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain=domain)
    # RFC 3834: machine-sent; out-of-office replies should not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    if list_unsubscribe:
        message["List-Unsubscribe"] = f"<{list_unsubscribe}>"
    message.set_content(content.text)
    message.add_alternative(content.html, subtype="html")
    return message


class Transport(Protocol):
    """Where messages go: `name` is recorded on each sent notification."""

    name: str

    def send(self, message: EmailMessage, sensitive: bool = False) -> None: ...

    def close(self) -> None: ...


class LogTransport:
    """Dry mode: write each message to the log instead of sending it.

    A `sensitive` message (to a patient) is logged by its headers' shape only:
    its body and address are PHI and logs must never hold PHI.
    """

    name = "log"

    def send(self, message: EmailMessage, sensitive: bool = False) -> None:
        if sensitive:
            log.info(
                "dry run: patient message %s (%s), recipient and body withheld",
                message["Message-ID"],
                message["Subject"],
            )
            return
        log.info("dry run: mail not sent\n%s", message.as_string())

    def close(self) -> None:
        return None


class SmtpTransport:
    """Send through an SMTP server, one connection per batch (opened on first use)."""

    name = "smtp"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        if self._smtp is None:
            smtp = smtplib.SMTP(self.settings.host, self.settings.port, timeout=SMTP_TIMEOUT)
            try:
                if self.settings.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.settings.username:
                    smtp.login(self.settings.username, self.settings.password)
            except BaseException:
                smtp.close()
                raise
            self._smtp = smtp
        return self._smtp

    def send(self, message: EmailMessage, sensitive: bool = False) -> None:
        try:
            self._connect().send_message(message)
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise DeliveryError(_describe(exc), permanent=exc.smtp_code >= 500) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(
                f"recipient refused ({', '.join(map(str, codes))})",
                permanent=all(code >= 500 for code in codes),
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise DeliveryError(f"{type(exc).__name__}: {exc}"[:300]) from exc

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None


def _describe(exc: smtplib.SMTPResponseException) -> str:
    """The server's reply, short; it never contains the message body."""
    error = exc.smtp_error
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
    return f"SMTP {exc.smtp_code}: {text}"[:300]


def transport_for(settings: SmtpSettings) -> Transport:
    """Return the log transport in dry mode, else SMTP."""
    return LogTransport() if settings.dry else SmtpTransport(settings)
