"""What an API key may do: scopes, and the roles that bundle them for people. Pure.

Every route of every HTTP surface names the scope it needs; a key holds a set of scopes.
``admin`` is the platform operators' scope: it implies every other and acts across tenants
(a key holding it may belong to no tenant). Keys made before scopes existed are ``producer``s.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

Scope = Literal[
    "events:write",
    "events:read",
    "deliveries:read",
    "deliveries:retry",
    "dlq:read",
    "dlq:replay",
    "config:read",
    "config:write",
    "personal_data:read",
    "personal_data:erase",
    "admin",
]
Role = Literal["producer", "viewer", "operator", "admin"]

SCOPES: tuple[Scope, ...] = get_args(Scope)
ROLES: tuple[Role, ...] = get_args(Role)

_VIEWER: frozenset[Scope] = frozenset({"events:read", "deliveries:read", "dlq:read", "config:read"})
ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    "producer": frozenset({"events:write", "events:read"}),
    "viewer": _VIEWER,
    "operator": _VIEWER | {"deliveries:retry", "dlq:replay", "config:write"},
    "admin": frozenset(SCOPES),
}


def scopes_of(granted: Iterable[str]) -> frozenset[Scope]:
    """The known scopes among ``granted`` (a stored list): an unknown name grants nothing."""
    return frozenset(scope for scope in SCOPES if scope in set(granted))


def parse_scopes(names: Iterable[str]) -> frozenset[Scope]:
    """Scopes asked for by name; ValueError naming the first unknown one."""
    asked = [name.strip() for name in names if name.strip()]
    unknown = [name for name in asked if name not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}; known: {', '.join(SCOPES)}")
    return scopes_of(asked)


def role_scopes(role: str) -> frozenset[Scope]:
    """The scopes of ``role``; ValueError for an unknown role."""
    if role not in ROLE_SCOPES:
        raise ValueError(f"unknown role {role!r}; known: {', '.join(ROLES)}")
    return ROLE_SCOPES[role]


def allows(granted: frozenset[Scope], needed: Scope) -> bool:
    """Whether a key holding ``granted`` may do what needs ``needed``: ``admin`` may do anything."""
    return needed in granted or "admin" in granted


def role_of(granted: frozenset[Scope]) -> Role | None:
    """The role whose scopes are exactly ``granted``, if any (for listings)."""
    return next((role for role, scopes in ROLE_SCOPES.items() if scopes == granted), None)
