"""Calendar-feed tokens: issue (shown once), rotate, revoke, and resolve a presented one.

A token is 256 random bits; only its SHA-256 is stored. A feed request is
resolved by ONE indexed lookup of the hash of what was presented: the
database compares digests, never the secret, so a guess that shares a prefix
with a real token shares nothing with its hash, and a wrong, rotated, revoked
or deactivated user's token all take the same path to the same answer (None).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    case,
    exists,
    false,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from models import (
    CalendarScope,
    CalendarToken,
    Role,
    Site,
    Team,
    User,
    team_members,
    utcnow,
)

TOKEN_BYTES = 32  # 256 bits; the issue asks for at least 128
# last_used_at is written at most this often per token: a calendar polling every
# minute must not turn every poll into a database write.
LAST_USED_RESOLUTION = timedelta(minutes=5)
MANAGER_ROLES = (Role.MANAGER, Role.ADMIN)


class CalendarTokenError(Exception):
    """The user may not have this feed, or the token is not theirs to change."""


@dataclass(frozen=True)
class IssuedToken:
    """A newly stored token row and its secret, which is never available again."""

    token: CalendarToken
    secret: str


@dataclass(frozen=True)
class FeedGrant:
    """What a valid token grants: one feed (scope and the id of its user, team or site)."""

    token_id: int
    user_id: int
    scope: CalendarScope
    scope_id: int  # the user's own id for a user feed
    last_used_at: datetime | None = None

    @property
    def key(self) -> tuple[str, int]:
        """The feed's identity, shared by every token that grants it."""
        return (self.scope.value, self.scope_id)


@dataclass(frozen=True)
class FeedChoice:
    """A feed a user may subscribe to, for the settings page."""

    scope: CalendarScope
    scope_id: int | None
    label: str

    @property
    def key(self) -> str:
        """The form value naming this feed ("user", "team:3", "site:2")."""
        return self.scope.value if self.scope_id is None else f"{self.scope.value}:{self.scope_id}"


def hash_token(secret: str) -> str:
    """Return the SHA-256 hex digest stored for (and looked up by) a token."""
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


def parse_choice(value: str) -> tuple[CalendarScope, int | None]:
    """Return (scope, scope id) from a form value like "team:3"; ValueError if malformed."""
    scope, _, ident = value.partition(":")
    parsed = CalendarScope(scope)
    if parsed is CalendarScope.USER:
        return parsed, None
    if not ident.isdigit():
        raise ValueError(f"{scope} feed needs an id")
    return parsed, int(ident)


def available_feeds(session: Session, user: User) -> list[FeedChoice]:
    """Return the feeds `user` may subscribe to: their own; their teams' queues (every
    team for managers); every site's compliance deadlines for managers and admins."""
    choices = [FeedChoice(CalendarScope.USER, None, "My deadlines")]
    managers = user.role in MANAGER_ROLES
    teams = session.scalars(select(Team).order_by(Team.name)).all() if managers else user.teams
    choices += [FeedChoice(CalendarScope.TEAM, t.id, f"{t.name} queue") for t in teams]
    if managers:
        sites = session.scalars(select(Site).order_by(Site.code)).all()
        choices += [
            FeedChoice(CalendarScope.SITE, s.id, f"{s.code}: inspections, documents, disposal")
            for s in sites
        ]
    return choices


def may_subscribe(
    session: Session, user_id: int, role: Role, scope: CalendarScope, scope_id: int | None
) -> bool:
    """Return True when the user may read this feed now: checked at issue, and on every
    use by `_PERMITTED` (the same rules, in SQL, in the token lookup's own query), so a
    VA who leaves a team, or a manager made a VA, loses the feed at once."""
    if scope is CalendarScope.USER:
        return scope_id in (None, user_id)
    if scope_id is None:
        return False
    if scope is CalendarScope.SITE:
        return role in MANAGER_ROLES and session.get(Site, scope_id) is not None
    if role in MANAGER_ROLES:
        return session.get(Team, scope_id) is not None
    # Through the ORM relationship (not the bare table), so pending membership changes
    # in this session are flushed before the check.
    member = select(Team.id).join(Team.members).where(Team.id == scope_id, User.id == user_id)
    return session.scalar(member) is not None


def active_tokens(session: Session, user: User) -> list[CalendarToken]:
    """Return the user's unrevoked tokens, oldest first."""
    query = (
        select(CalendarToken)
        .where(CalendarToken.user_id == user.id, CalendarToken.revoked_at.is_(None))
        .order_by(CalendarToken.id)
    )
    return list(session.scalars(query))


def _revoke_matching(
    session: Session, user: User, scope: CalendarScope, scope_id: int | None, now: datetime
) -> None:
    for token in active_tokens(session, user):
        if token.scope is scope and token.scope_id == scope_id:
            token.revoked_at = now


def issue_token(
    session: Session,
    user: User,
    scope: CalendarScope,
    scope_id: int | None = None,
    now: datetime | None = None,
) -> IssuedToken:
    """Store a new token for one of the user's feeds and return it with its secret.

    One live link per feed: an older token for the same feed is revoked (so
    "create" on a feed that has a link is a rotation). Raises CalendarTokenError
    when the user may not have the feed. The caller commits.
    """
    if not user.active or not may_subscribe(session, user.id, user.role, scope, scope_id):
        raise CalendarTokenError("You cannot subscribe to that calendar.")
    now = now or utcnow()
    _revoke_matching(session, user, scope, scope_id, now)
    secret = secrets.token_urlsafe(TOKEN_BYTES)
    token = CalendarToken(
        user_id=user.id,
        scope=scope,
        scope_id=None if scope is CalendarScope.USER else scope_id,
        token_hash=hash_token(secret),
        created_at=now,
    )
    session.add(token)
    session.flush()
    return IssuedToken(token, secret)


def _own_active(session: Session, user: User, token_id: int) -> CalendarToken:
    token = session.get(CalendarToken, token_id)
    if token is None or token.user_id != user.id or token.revoked_at is not None:
        raise CalendarTokenError("That calendar link does not exist or was already revoked.")
    return token


def rotate_token(
    session: Session, user: User, token_id: int, now: datetime | None = None
) -> IssuedToken:
    """Replace one of the user's tokens by a new one for the same feed; the old one stops
    working with this transaction. Returns the new token and its secret."""
    token = _own_active(session, user, token_id)
    return issue_token(session, user, token.scope, token.scope_id, now)


def revoke_token(
    session: Session, user: User, token_id: int, now: datetime | None = None
) -> CalendarToken:
    """Revoke one of the user's tokens and return it; the caller commits."""
    token = _own_active(session, user, token_id)
    token.revoked_at = now or utcnow()
    return token


_TOKEN = CalendarToken.__table__.c
_USER = User.__table__.c
_SITE = Site.__table__.c
_TEAM = Team.__table__.c
_MEMBER = team_members.c


def _constant(member: StrEnum) -> ColumnElement[str]:
    """Return an enum member as a literal of the SQL text: as a parameter, it would be
    converted again at each execution of a statement that runs on every poll."""
    if not member.value.isidentifier():  # nothing to quote or escape
        raise ValueError(f"not a plain word: {member.value!r}")
    return literal_column(f"'{member.value}'")


_MANAGER = or_(*(_USER.role == _constant(role) for role in MANAGER_ROLES))
# `may_subscribe`'s rules in SQL, so the lookup itself says whether its token's owner may
# still read the feed. CASE evaluates only its scope's EXISTS: a user feed probes nothing.
_PERMITTED = case(
    (
        _TOKEN.scope == _constant(CalendarScope.USER),
        or_(_TOKEN.scope_id.is_(None), _TOKEN.scope_id == _TOKEN.user_id),
    ),
    (
        _TOKEN.scope == _constant(CalendarScope.SITE),
        and_(_MANAGER, exists().where(_SITE.id == _TOKEN.scope_id)),
    ),
    (
        _TOKEN.scope == _constant(CalendarScope.TEAM),
        or_(
            and_(_MANAGER, exists().where(_TEAM.id == _TOKEN.scope_id)),
            exists().where(_MEMBER.team_id == _TOKEN.scope_id, _MEMBER.user_id == _TOKEN.user_id),
        ),
    ),
    else_=false(),
)
# Built once, in Core (its compiled form is cached): this lookup runs on every feed poll,
# including each 304, and is all the database work a 304 does. One round trip answers
# both "which token is this?" and "does it still grant its feed?" (not revoked, owner
# active, still allowed), so a rotated, revoked or deactivated user's token, or one whose
# owner left the team, is refused on the very next request.
_LOOKUP = (
    select(
        _TOKEN.id,
        _TOKEN.user_id,
        _TOKEN.scope,
        _TOKEN.scope_id,
        _TOKEN.token_hash,
        _TOKEN.last_used_at,
        and_(_TOKEN.revoked_at.is_(None), _USER.active, _PERMITTED).label("granted"),
    )
    .select_from(CalendarToken.__table__.join(User.__table__, _USER.id == _TOKEN.user_id))
    .where(_TOKEN.token_hash == bindparam("digest"))
)


def connection_of(bind: Session | Connection) -> Connection:
    """Return the connection Core statements run on: `bind` itself, or the session's,
    once the session has flushed what it holds pending (as its own queries would), so
    the statements see the session's changes."""
    if not isinstance(bind, Session):
        return bind
    if bind.autoflush:
        bind.flush()
    return bind.connection()


def resolve_token(
    bind: Session | Connection, secret: str, now: datetime | None = None
) -> FeedGrant | None:
    """Return the feed a presented token grants, or None for every kind of refusal.

    One statement (`_LOOKUP`): the indexed lookup by hash, which also says whether the
    token still grants its feed. `hmac.compare_digest` on the two equal-length digests
    guards against a database whose comparison is not exact (a case-insensitive
    collation). Writes nothing: see `record_use`.
    """
    digest = hash_token(secret)
    row = connection_of(bind).execute(_LOOKUP, {"digest": digest}).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest) or not row.granted:
        return None
    scope_id = row.user_id if row.scope is CalendarScope.USER else row.scope_id
    return FeedGrant(row.id, row.user_id, row.scope, scope_id, row.last_used_at)


def record_use(bind: Session | Connection, grant: FeedGrant, now: datetime | None = None) -> bool:
    """Record that the grant's token was used now, unless that was recorded less than
    LAST_USED_RESOLUTION ago; return True when it wrote (the caller commits, unless
    `bind` is a connection in autocommit mode)."""
    now = now or utcnow()
    if grant.last_used_at is not None and now - grant.last_used_at < LAST_USED_RESOLUTION:
        return False
    # Core, not the ORM: last_used_at is kept out of the audit trail anyway, and a
    # poll should not load the row as an object.
    connection_of(bind).execute(
        update(CalendarToken.__table__).where(_TOKEN.id == grant.token_id).values(last_used_at=now)
    )
    return True
