"""The lineage graph: one row per edge, from a derivative (``child``) to what it used,
and the edges other callers propose to a child's owner.

A resource id names its release and track (``hook:R/T/H`` lies in ``track:R/T`` and
``release:R``); the edge keeps both ends' enclosing ids as columns so the recursive
queries can follow containment with index look-ups: the ancestors of a hook include the
parents of its track and release, and the descendants of a release include the children
of its tracks and hooks.

An edge the owner withdraws keeps its row, marked with the time and the withdrawal's
receipt: the walks and decisions skip it, the history keeps it. So at most one edge per
(child, parent, relationship) is in force (a partial unique index), while withdrawn ones
may repeat it; each edge has an ``id`` of its own.

Indexes: the unique index on the edges in force (child first) serves the walk up; the
composite on the parent's release, track and id serves the walk down.
"""

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from casset_rights.db.metadata import metadata

RESOURCE_ID = 210

lineage_edges = Table(
    "lineage_edges",
    metadata,
    Column("id", String(40), primary_key=True),  # "edge_" + 32 hex digits
    Column("child", String(RESOURCE_ID), nullable=False),
    Column("parent", String(RESOURCE_ID), nullable=False),
    # sample | remix | interpretation | stem | sync
    Column("relationship", String(16), nullable=False),
    Column("child_release", String(RESOURCE_ID), nullable=False),  # release:R
    Column("child_track", String(RESOURCE_ID)),  # track:R/T, or NULL above the track
    Column("child_artist", String(64), nullable=False),
    Column("parent_release", String(RESOURCE_ID), nullable=False),
    Column("parent_track", String(RESOURCE_ID)),
    Column("parent_artist", String(64), nullable=False),
    Column("grant_id", String(64), ForeignKey("license_grants.id")),
    # The parent's share of the child's revenue, in parts per million (10% = 100000).
    Column("revenue_share_ppm", Integer, nullable=False),
    Column("registered_by", String(200), nullable=False),
    Column("registered_at_ms", BigInteger, nullable=False),
    Column("receipt_id", String(64)),
    # Set once when the child's owner withdraws the edge (epoch ms, and its receipt).
    Column("withdrawn_at_ms", BigInteger),
    Column("withdrawal_receipt_id", String(64)),
)

Index("uq_lineage_edges_in_force", lineage_edges.c.child, lineage_edges.c.parent,
      lineage_edges.c.relationship, unique=True,
      sqlite_where=lineage_edges.c.withdrawn_at_ms.is_(None),
      postgresql_where=lineage_edges.c.withdrawn_at_ms.is_(None))
Index("ix_lineage_edges_parent_release", lineage_edges.c.parent_release,
      lineage_edges.c.parent_track, lineage_edges.c.parent)
Index("ix_lineage_edges_child_release", lineage_edges.c.child_release)

# An edge (or several, for one child) that a caller other than the child's owner asks
# the owner to declare. ``parents`` and ``context`` are msgspec JSON as proposed.
lineage_proposals = Table(
    "lineage_proposals",
    metadata,
    Column("id", String(40), primary_key=True),  # "prop_" + 32 hex digits
    Column("child", String(RESOURCE_ID), nullable=False),
    Column("child_artist", String(64), nullable=False),
    Column("parents", Text, nullable=False),
    Column("context", Text, nullable=False),
    Column("proposer", String(200), nullable=False),  # licensee key: client:X, artist:Y
    Column("principal", Text, nullable=False),  # the proposer, as receipts record it
    Column("message", Text),
    Column("status", String(16), nullable=False),  # pending | accepted | declined
    Column("created_at_ms", BigInteger, nullable=False),
    Column("decided_at_ms", BigInteger),
    Column("decision_message", Text),
    Column("decision_receipt_id", String(64)),
)

Index("ix_lineage_proposals_child_artist", lineage_proposals.c.child_artist,
      lineage_proposals.c.status)
Index("ix_lineage_proposals_proposer", lineage_proposals.c.proposer)
