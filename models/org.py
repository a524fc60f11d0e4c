"""Who works where: sites (dispensaries), teams and user accounts."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Boolean, Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.audit import Audited
from models.base import UTCDateTime, db, utcnow
from models.enums import Role, str_enum

team_members = Table(
    "team_member",
    db.metadata,
    Column("team_id", ForeignKey("team.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
)

team_sites = Table(
    "team_site",
    db.metadata,
    Column("team_id", ForeignKey("team.id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", ForeignKey("site.id", ondelete="CASCADE"), primary_key=True),
)


class Site(Audited, db.Model):
    """A licensed location: its state's rules, time zone and holidays apply to its work."""

    __tablename__ = "site"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)  # e.g. "FL-Tampa"
    name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(2))
    timezone: Mapped[str] = mapped_column(String(64))  # IANA name
    # Country-subdivision code for the `holidays` library, e.g. "US-FL".
    holiday_calendar: Mapped[str] = mapped_column(String(16))
    license_number: Mapped[str | None] = mapped_column(String(64))
    # Point-of-sale practice: is a card that expires today valid today?
    card_valid_on_expiry_day: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<Site {self.code}>"

    @property
    def ref(self) -> str:
        """An opaque reference, like the subjects' ("S-3")."""
        return f"S-{self.id}"


class Team(Audited, db.Model):
    """A group that shares a work queue and serves one or more sites."""

    __tablename__ = "team"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)  # e.g. "patient-services"
    name: Mapped[str] = mapped_column(String(200))
    members: Mapped[list[User]] = relationship(secondary=team_members, back_populates="teams")
    sites: Mapped[list[Site]] = relationship(secondary=team_sites)

    def __repr__(self) -> str:
        return f"<Team {self.slug}>"


def new_session_nonce() -> str:
    """Return a fresh random value that invalidates every older login session."""
    return secrets.token_hex(16)


class User(Audited, db.Model):
    """A person with a unique account (HIPAA 164.312(a)(2)(i): unique user identification)."""

    __tablename__ = "user_account"
    __audit_exclude__ = frozenset({"password_hash", "session_nonce", "last_login_at"})

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(str_enum(Role, 16), default=Role.VA)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    # Part of the login cookie's identity: changing it signs the user out everywhere.
    session_nonce: Mapped[str] = mapped_column(String(32), default=new_session_nonce)
    digest_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    teams: Mapped[list[Team]] = relationship(secondary=team_members, back_populates="members")

    def __repr__(self) -> str:
        return f"<User {self.email}>"

    # The four members Flask-Login asks of a user object.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        """Return the login-cookie identity: the id plus the session nonce, so that
        rotating the nonce (deactivation, password reset) ends every session."""
        return f"{self.id}:{self.session_nonce}"
