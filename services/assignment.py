"""Who gets a task: a fixed person, a team's queue, round-robin, least-loaded, a role.

Only active users are ever chosen. Round-robin turns are kept in the database
(`round_robin_cursor`), locked while a batch is assigned, so turns stay fair
across runs and processes.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, and_, bindparam, event, func, select, update
from sqlalchemy.orm import Session

from models import Role, RoundRobinCursor, Task, Team, User, open_work, team_members
from models.sop_spec import Assignment
from services.engine.sql import insert_ignore


class AssignmentError(Exception):
    """The rule names a team or person that does not exist or has nobody active."""


@dataclass(frozen=True)
class Placement:
    """Where a new task goes: a team (queue) and, unless it is a queue task, a person."""

    team_id: int | None
    assignee_id: int | None


# session.info key: team ids by slug, remembered for the current transaction.
_TEAM_IDS = "sopflow_team_ids"


@event.listens_for(Session, "after_transaction_end")
def _forget_team_ids(session: Session, transaction: object) -> None:
    session.info.pop(_TEAM_IDS, None)


def team_id_for(session: Session, slug: str | None) -> int | None:
    """Return the id of the team with `slug`; raise AssignmentError if there is none.

    Remembered for the session's current transaction: a batch or a completion asks
    for the same few teams many times.
    """
    if slug is None:
        return None
    known: dict[str, int] = session.info.setdefault(_TEAM_IDS, {})
    if slug not in known:
        team_id = session.scalar(select(Team.id).where(Team.slug == slug))
        if team_id is None:
            raise AssignmentError(f'no team with slug "{slug}"')
        known[slug] = team_id
    return known[slug]


def _team_pool_query(with_role: bool) -> Select[tuple[int, int | None]]:
    """Return the SELECT of a team's id (by :slug) beside each active member's id (with
    :role, when `with_role`): the team's row comes back even when nobody is active."""
    member = and_(User.id == team_members.c.user_id, User.active.is_(True))
    if with_role:
        member = and_(member, User.role == bindparam("role"))
    return (
        select(Team.id, User.id)
        .select_from(Team)
        .outerjoin(team_members, team_members.c.team_id == Team.id)
        .outerjoin(User, member)
        .where(Team.slug == bindparam("slug"))
    )


# Built once: building these small statements costs about as much as running them.
_TEAM_POOL = {with_role: _team_pool_query(with_role) for with_role in (False, True)}
_CURSOR = RoundRobinCursor.__table__
_LOCK_CURSOR = (
    select(_CURSOR.c.last_user_id).where(_CURSOR.c.scope == bindparam("scope")).with_for_update()
)
_SAVE_PICK = (
    update(_CURSOR)  # updated_at: the column's onupdate
    .where(_CURSOR.c.scope == bindparam("cursor_scope"))
    .values(last_user_id=bindparam("last_user_id"))
)


def _team_and_pool(session: Session, slug: str, role: Role | None) -> tuple[int, list[int]]:
    """Return the id of the team with `slug` and the ids of its active members (with
    `role`, if given), ascending; raise AssignmentError if there is no such team.

    One query where `team_id_for` then `active_pool` take two, when the team's id is
    not known yet in this transaction (a completion's case); the id is remembered.
    """
    known: dict[str, int] = session.info.setdefault(_TEAM_IDS, {})
    if slug in known:
        return known[slug], active_pool(session, known[slug], role)
    params = {"slug": slug} if role is None else {"slug": slug, "role": role}
    rows = session.execute(_TEAM_POOL[role is not None], params).all()
    if not rows:
        raise AssignmentError(f'no team with slug "{slug}"')
    known[slug] = rows[0][0]
    return known[slug], sorted(user_id for _, user_id in rows if user_id is not None)


def active_pool(session: Session, team_id: int | None, role: Role | None = None) -> list[int]:
    """Return the ids of active users in the team (and/or with the role), ascending."""
    query = select(User.id).where(User.active.is_(True)).order_by(User.id)
    if team_id is not None:
        query = query.join(team_members, team_members.c.user_id == User.id).where(
            team_members.c.team_id == team_id
        )
    if role is not None:
        query = query.where(User.role == role)
    return list(session.scalars(query))


def open_task_counts(session: Session, user_ids: Sequence[int]) -> dict[int, int]:
    """Return each user's number of open tasks (users with none map to 0)."""
    counts = dict.fromkeys(user_ids, 0)
    if not user_ids:
        return counts
    query = (
        select(Task.assignee_id, func.count())
        .where(Task.assignee_id.in_(user_ids), open_work())
        .group_by(Task.assignee_id)
    )
    for user_id, count in session.execute(query):
        counts[user_id] = count
    return counts


def _locked_last_pick(session: Session, scope: str) -> int | None:
    """Return the scope's last pick (None: no pick yet), its cursor row locked until the
    transaction ends; create the row the first time the scope is used.

    The row exists for every scope but the first batch's, so read (and lock) first and
    insert only when nothing was there: one statement where insert-then-read took two.
    """
    found = session.execute(_LOCK_CURSOR, {"scope": scope}).one_or_none()
    if found is None:
        # ON CONFLICT DO NOTHING: a concurrent first batch may create it meanwhile.
        insert = insert_ignore(session, RoundRobinCursor).values(scope=scope, last_user_id=None)
        session.execute(insert)
        found = session.execute(_LOCK_CURSOR, {"scope": scope}).one()
    return found.last_user_id


@dataclass(frozen=True)
class Placements:
    """Where `n` new tasks go, compactly: the i-th goes to `lead[i]` for the first
    len(lead), then round `cycle` (turns and least-loaded picks repeat once everyone
    has had one, so a set-based writer ships one period, not n placements)."""

    lead: tuple[Placement, ...]
    cycle: tuple[Placement, ...]
    n: int

    def __getitem__(self, index: int) -> Placement:
        if index < len(self.lead):
            return self.lead[index]
        return self.cycle[(index - len(self.lead)) % len(self.cycle)]

    def expanded(self) -> list[Placement]:
        """Return all `n` placements, in order."""
        return [self[i] for i in range(self.n)]


def _round_robin(session: Session, scope: str, pool: list[int], n: int) -> list[int]:
    """Return one period of the turns of `n` users from `pool` after the scope's last
    pick (all of them when n is smaller); save the n-th pick as the last."""
    last = _locked_last_pick(session, scope)
    start = next((i for i, uid in enumerate(pool) if last is not None and uid > last), 0)
    # A Core UPDATE, now: the cursor is not audited, and an ORM object would cost a
    # flush later in the request.
    session.execute(
        _SAVE_PICK, {"cursor_scope": scope, "last_user_id": pool[(start + n - 1) % len(pool)]}
    )
    return [pool[(start + i) % len(pool)] for i in range(min(n, len(pool)))]


def _least_loaded(session: Session, pool: list[int], n: int) -> tuple[list[int], list[int]]:
    """Return (lead, cycle) of `n` picks, each going to whoever has the fewest open tasks
    at that point (the lower id on a tie): once everyone's count is level, the picks
    go round the pool in id order."""
    counts = open_task_counts(session, pool)
    heap = [(count, uid) for uid, count in counts.items()]
    heapq.heapify(heap)
    level = max(counts.values())
    behind = sum(level - count for count in counts.values())  # picks until level
    lead = []
    for _ in range(min(n, behind)):
        count, uid = heapq.heappop(heap)
        lead.append(uid)
        heapq.heappush(heap, (count + 1, uid))
    return lead, sorted(pool)


def plan_placements(
    session: Session, rule: Assignment | None, n: int, default_team: str | None
) -> Placements:
    """Return where each of `n` new tasks goes under `rule` (None: the default team's
    queue), as a lead and a repeating cycle; a round-robin turn is saved as taken.

    A rule whose pool has nobody active puts the tasks in the team's queue rather
    than losing them; a fixed user who is inactive or unknown raises AssignmentError.
    """
    if n == 0:
        return Placements((), (), 0)
    pool: list[int] | None = None
    if rule is not None and rule.team and rule.strategy not in ("team_queue", "fixed"):
        team_id, pool = _team_and_pool(session, rule.team, rule.role)
    else:
        team_id = team_id_for(session, (rule.team if rule else None) or default_team)
    if rule is None or rule.strategy == "team_queue":
        return Placements((), (Placement(team_id, None),), n)
    if rule.strategy == "fixed":
        user_id = session.scalar(
            select(User.id).where(func.lower(User.email) == rule.user.lower(), User.active)
        )
        if user_id is None:
            raise AssignmentError(f'no active user "{rule.user}"')
        return Placements((), (Placement(team_id, user_id),), n)
    if pool is None:  # no team named: the role's active users, whatever their team
        pool = active_pool(session, None, rule.role)
    if not pool:
        return Placements((), (Placement(team_id, None),), n)
    lead: list[int] = []
    if rule.strategy == "least_loaded":
        lead, cycle = _least_loaded(session, pool, n)
    elif rule.strategy == "round_robin":
        cycle = _round_robin(session, f"team:{team_id}", pool, n)
    else:  # role: round-robin among the role's active users
        cycle = _round_robin(session, f"role:{rule.role}:{team_id}", pool, n)
    return Placements(
        tuple(Placement(team_id, uid) for uid in lead),
        tuple(Placement(team_id, uid) for uid in cycle),
        n,
    )


def place_tasks(
    session: Session, rule: Assignment | None, n: int, default_team: str | None
) -> list[Placement]:
    """Return where each of `n` new tasks goes under `rule`, one placement per task (see
    `plan_placements`)."""
    return plan_placements(session, rule, n, default_team).expanded()


def place_escalation(
    session: Session,
    role: Role | None,
    team: str | None,
    user: str | None,
    fallback_team: int | None,
) -> Placement:
    """Return where an escalated task goes: a person, the least-loaded active user with
    the role (within the team if given), or the team's queue."""
    team_id = team_id_for(session, team) if team else fallback_team
    if user is not None:
        user_id = session.scalar(
            select(User.id).where(func.lower(User.email) == user.lower(), User.active)
        )
        if user_id is None:
            raise AssignmentError(f'no active user "{user}"')
        return Placement(team_id, user_id)
    if role is None:
        return Placement(team_id, None)
    pool = active_pool(session, team_id if team else None, role)
    if not pool:
        raise AssignmentError(f"nobody active with role {role.value}")
    lead, cycle = _least_loaded(session, pool, 1)
    return Placement(team_id, (lead or cycle)[0])
