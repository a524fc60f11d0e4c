"""The values passed between composing and sending a message."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage


@dataclass(frozen=True)
class MailContext:
    """Where links point and who mail is from (also the contact given to patients)."""

    base_url: str
    sender: str


@dataclass(frozen=True)
class Composed:
    """A message ready to send, its address, and whether it holds PHI (to a patient)."""

    message: EmailMessage
    to: str
    sensitive: bool = False


@dataclass(frozen=True)
class Suppressed:
    """Why a notification is not to be sent (recorded as its last_error)."""

    reason: str
