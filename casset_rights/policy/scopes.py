"""Scopes: the actions on music a policy rule can permit, deny or route to a license.

``SCOPES`` is the closed list; ``TRAVELLING_SCOPES`` are those a derivative inherits from
its ancestors (the lineage module asks every upstream release's policy for these).
"""

from __future__ import annotations

from collections.abc import Iterable

from casset_rights.errors import UnknownScope

SCOPES: tuple[str, ...] = (
    "listen", "preview", "reference", "quote", "sample",
    "remix", "interpret", "sync", "ai-input", "ai-train",
)
TRAVELLING_SCOPES: tuple[str, ...] = (
    "sample", "remix", "interpret", "sync", "ai-input", "ai-train")
SCOPE_SET: frozenset[str] = frozenset(SCOPES)


def check_scope(scope: object) -> str:
    """Return ``scope`` when it is one of ``SCOPES``. Raises UnknownScope otherwise."""
    if isinstance(scope, str) and scope in SCOPE_SET:
        return scope
    raise UnknownScope(f"unknown scope {scope!r}; scopes are: {', '.join(SCOPES)}")


def scope_order(scopes: Iterable[str]) -> tuple[str, ...]:
    """``scopes`` without repeats, in the order of ``SCOPES`` (unknown ones dropped)."""
    wanted = set(scopes)
    return tuple(s for s in SCOPES if s in wanted)
