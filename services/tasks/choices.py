"""The choices of the filter forms: sites, teams, SOPs and people the user may pick."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Site, Sop, Team, User
from services.tasks.access import Scope


@dataclass(frozen=True)
class Choices:
    """Options for the filter selects (assignees only for managers)."""

    sites: Sequence[Site]
    teams: Sequence[Team]
    sops: Sequence[Sop]
    people: Sequence[User]


def choices(session: Session, scope: Scope) -> Choices:
    """Return the filter options within the scope (four small queries)."""
    sites = select(Site).order_by(Site.code)
    if scope.site_ids is not None:
        sites = sites.where(Site.id.in_(sorted(scope.site_ids)))
    teams = select(Team).order_by(Team.name)
    if not scope.is_manager:
        teams = teams.where(Team.id.in_(sorted(scope.team_ids)))
    people: Sequence[User] = []
    if scope.is_manager:
        people = session.scalars(
            select(User).where(User.active.is_(True)).order_by(User.name, User.id)
        ).all()
    return Choices(
        sites=session.scalars(sites).all(),
        teams=session.scalars(teams).all(),
        sops=session.scalars(select(Sop).order_by(Sop.title)).all(),
        people=people,
    )
