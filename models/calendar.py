"""Private calendar-feed tokens: random, stored only as a hash, revocable, and revoked
automatically when their user is deactivated."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, event, inspect, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from models.audit import Audited
from models.base import UTCDateTime, db, utcnow
from models.enums import CalendarScope, str_enum
from models.org import User


class CalendarToken(Audited, db.Model):
    """Grants one feed (a user's, a team's or a site's) to whoever holds the token."""

    __tablename__ = "calendar_token"
    __audit_exclude__ = frozenset({"token_hash", "last_used_at"})

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    scope: Mapped[CalendarScope] = mapped_column(
        str_enum(CalendarScope, 8), default=CalendarScope.USER
    )
    scope_id: Mapped[int | None] = mapped_column(Integer)  # team or site id
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


def _deactivated(user: User) -> bool:
    """Return True when this flush sets `user.active` to false."""
    history = inspect(user).attrs.active.history
    return bool(history.added) and history.added[0] is False


@event.listens_for(Session, "before_flush")
def _revoke_tokens_of_deactivated_users(session: Session, context: Any, instances: Any) -> None:
    """A deactivated user's feed tokens are revoked in the same flush, whoever deactivates
    them (admin page, command line, a script): a feed must not outlive the account.

    Through the ORM, so each revocation is in the audit trail like any other change.
    """
    users = [obj.id for obj in session.dirty if isinstance(obj, User) and _deactivated(obj)]
    if not users:
        return
    now = utcnow()
    with session.no_autoflush:
        tokens = session.scalars(
            select(CalendarToken).where(
                CalendarToken.user_id.in_(users), CalendarToken.revoked_at.is_(None)
            )
        ).all()
    for token in tokens:
        token.revoked_at = now
