"""The lineage graph: one row per edge, from a derivative (``child``) to what it used.

A resource id names its release and track (``hook:R/T/H`` lies in ``track:R/T`` and
``release:R``); the edge keeps both ends' enclosing ids as columns so the recursive
queries can follow containment with index look-ups: the ancestors of a hook include the
parents of its track and release, and the descendants of a release include the children
of its tracks and hooks.

Indexes: the primary key (child first) serves the walk up; the composite on the parent's
release, track and id serves the walk down.
"""

from sqlalchemy import (
    BigInteger, Column, ForeignKey, Index, Integer, PrimaryKeyConstraint, String, Table,
)

from casset_rights.db.metadata import metadata

RESOURCE_ID = 210

lineage_edges = Table(
    "lineage_edges",
    metadata,
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
    PrimaryKeyConstraint("child", "parent", "relationship"),
)

Index("ix_lineage_edges_parent_release", lineage_edges.c.parent_release,
      lineage_edges.c.parent_track, lineage_edges.c.parent)
Index("ix_lineage_edges_child_release", lineage_edges.c.child_release)
