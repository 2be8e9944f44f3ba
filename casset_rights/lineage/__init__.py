"""Lineage: the graph of derivatives, with attribution and money flowing upstream.

* ``LineageService``: the child's owner registers its parents (permission checked,
  cycles and overdrawn revenue shares refused, the same edge twice a no-op) and
  withdraws edges (kept as history); read ancestors or descendants with an attribution
  chain and a royalty split.
* ``LineageProposals``: anyone else proposes edges; the owner accepts or declines.
* ``LineageIndex``: every edge in force, in memory, so a decision on a derivative knows
  its ancestors without reading the database (``decisions.decide`` asks their policies).
* ``royalty_split``: exact integer splits by compounding shares and largest remainder.

The graph is an edge table walked by recursive CTEs on SQLite and PostgreSQL
(``graph``). See docs/licenses-and-lineage.md.
"""

from casset_rights.lineage.graph import RELATIONSHIP_SCOPES, RELATIONSHIPS, Edge
from casset_rights.lineage.models import (
    LineageView,
    ParentLink,
    Registration,
    Relationship,
    Royalties,
)
from casset_rights.lineage.proposals import LineageProposals, Proposal
from casset_rights.lineage.refiner import LineageIndex
from casset_rights.lineage.royalties import Share, largest_remainder, royalty_split
from casset_rights.lineage.service import LineageService
from casset_rights.lineage.view import Node

__all__ = [
    "RELATIONSHIPS", "RELATIONSHIP_SCOPES", "Edge", "LineageIndex", "LineageProposals",
    "LineageService", "LineageView", "Node", "ParentLink", "Proposal", "Registration",
    "Relationship", "Royalties", "Share",
    "largest_remainder", "royalty_split",
]
