"""Private calendar-feed tokens: random, stored only as a hash, revocable."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

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
