"""The organisation model: environments whose type is the catalog's, and teams that own apps.

An environment's type decides which definitions, policies and approval rules apply, so it is looked up,
never taken from the caller. A team owns apps; only its members (and its admins) deploy them, which is
to say record what they resolved to, and holders of the admin scope (platform admins) may do anything.
"""

from __future__ import annotations

from trellis.catalog.errors import CatalogError
from trellis.catalog.models import EnvironmentSpec, TeamSpec


def environment_type(
    registered: dict[str, EnvironmentSpec], env: str, claimed: str | None = None
) -> tuple[str, list[str]]:
    """The type of ``env`` and any warning: the registered type, never the caller's word. A claimed type
    that disagrees is refused; so is an unregistered environment once any is registered. Before the
    first is registered, the claim is taken, with a warning that says so."""
    if env in registered:
        actual = registered[env].type
        if claimed is not None and claimed != actual:
            raise CatalogError(f"environment {env} is {actual}, not {claimed}: its type is the catalog's")
        return actual, []
    if registered:
        known = ", ".join(sorted(registered))
        raise CatalogError(f"environment {env} is not registered (registered: {known})", 404)
    if claimed is None:
        raise CatalogError(
            f"environment {env} is not registered and no env type was given: register environments "
            "(kind: Environment) or give the env type"
        )
    return claimed, [
        f"no environment is registered, so the type {claimed} of {env} is the caller's word: "
        "register environments (kind: Environment) to make it the catalog's"
    ]


def check_deployer(
    teams: dict[str, TeamSpec], groups: dict[str, set[str]], admins: set[str] | None, actor: str, app: str
) -> None:
    """Refuse ``actor`` recording a binding of ``app`` when a team owns the app and ``actor`` is neither in
    its members' or admins' groups nor a platform admin. Without identities (``admins`` None: no tokens
    file) or for an app no team owns, anyone may."""
    owners = {team_id: team for team_id, team in teams.items() if app in team.apps}
    if not owners or admins is None or actor in admins:
        return
    if any(actor in groups.get(group, set()) for team in owners.values() for group in (*team.members, *team.admins)):
        return
    raise CatalogError(
        f"{actor} may not deploy {app}: it belongs to team {', '.join(sorted(owners))}, and {actor} is in none "
        "of its groups",
        403,
    )


TEAM_KINDS = ("ResourceDefinition", "Pin", "Policy", "ResourceType")
"""What a team may own and its admins change; environments, teams and approval rules are the platform's."""


def check_owner(
    teams: dict[str, TeamSpec],
    groups: dict[str, set[str]],
    admins: set[str] | None,
    actor: str,
    document: str,
    owners: tuple[str | None, ...],
) -> None:
    """Refuse ``actor`` changing ``document`` (KIND/ID) unless a platform admin (or nobody is identified), or
    an admin of the team that owns it now (when it exists) and of the team that will own it (``owners``)."""
    if admins is None or actor in admins:
        return
    mine = sorted(t for t, team in teams.items() if any(actor in groups.get(g, set()) for g in team.admins))
    scope = f"{actor} may change only what {'teams ' + ', '.join(mine) if mine else 'no team'} own"
    if document.split("/")[0] not in TEAM_KINDS:
        raise CatalogError(f"{scope}: {document} is the platform's to change (platform admins only)", 403)
    for team in dict.fromkeys(owners):
        if team is None:
            raise CatalogError(f"{scope}: {document} belongs to no team (give metadata.team)", 403)
        if team not in mine:
            raise CatalogError(f"{scope}: {document} belongs to team {team}", 403)


__all__ = ["TEAM_KINDS", "check_deployer", "check_owner", "environment_type"]
