"""Lineage's values: what a registration asks and answers, and what a read answers."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from casset_rights.lineage.graph import Direction, Edge
from casset_rights.lineage.royalties import Share
from casset_rights.lineage.view import Node
from casset_rights.resources import ResourceRef

Relationship = Literal["sample", "remix", "interpretation", "stem", "sync"]


class ParentLink(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    resource: str
    relationship: Relationship
    grant: str | None = None


class Registration(msgspec.Struct, frozen=True, kw_only=True):
    """The child's edges as asked for; ``created`` says which were new. ``receipt_id``
    is empty when nothing changed."""

    child: str
    edges: tuple[Edge, ...]
    created: tuple[bool, ...]
    receipt_id: str | None


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """What a declaration would write: the keys asked for, the edges already in force
    among them (``found``) and the new ones with their parents' ids."""

    context: dict[str, Any]
    keys: tuple[tuple[str, str, str], ...]
    found: dict[tuple[str, str, str], Edge]
    new: list[tuple[Edge, ResourceRef]]


class Royalties(msgspec.Struct, frozen=True):
    revenue: int
    currency: str | None
    method: str
    shares: tuple[Share, ...]


class LineageView(msgspec.Struct, frozen=True, kw_only=True):
    resource: str
    direction: Direction
    depth: int
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    attribution: tuple[str, ...]
    truncated: bool
    royalties: Royalties | None = None
