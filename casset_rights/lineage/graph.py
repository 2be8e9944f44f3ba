"""The lineage graph in SQL: edges, and the recursive walks up and down.

Both walks are one recursive CTE each (``WITH RECURSIVE``, the same statement on SQLite
and PostgreSQL). They follow containment as well as edges: walking up from a hook also
takes the parents of its track and release; walking down from a release also takes the
children of its tracks and hooks. ``UNION`` (not ``UNION ALL``) drops the rows a diamond
would repeat at the same depth, and the depth bound ends every walk.

The graph is acyclic (``LineageService`` refuses an edge that would close a cycle, under
a lock), so the walks also end without the bound; the bound is what ``depth`` asks for.
Walks, look-ups and the decisions built on them see only the edges in force: a
withdrawn edge stays in the table as history (``history``), and nowhere else.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

import msgspec
from sqlalchemy import (
    CTE,
    Connection,
    Select,
    String,
    and_,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
    update,
)

from casset_rights.lineage.tables import lineage_edges
from casset_rights.resources import ResourceRef

Direction = Literal["ancestors", "descendants"]
RELATIONSHIPS: tuple[str, ...] = ("sample", "remix", "interpretation", "stem", "sync")
# The scope a relationship needs from the parent's policy.
RELATIONSHIP_SCOPES: dict[str, str] = {
    "sample": "sample", "remix": "remix", "interpretation": "interpret",
    "stem": "remix", "sync": "sync",
}
PPM = 1_000_000
WALK_LIMIT = 10_000  # the deepest any walk goes (the graph is acyclic: a safety bound)


class Edge(msgspec.Struct, frozen=True, kw_only=True):
    """A derivative (``child``) uses ``parent`` as ``relationship``; ``depth`` is how many
    edges from the resource asked about (1: its own parents or children)."""

    child: str
    parent: str
    relationship: str
    child_artist: str
    parent_artist: str
    grant_id: str | None
    revenue_share_ppm: int
    registered_by: str
    registered_at_ms: int
    receipt_id: str | None = None
    depth: int = 1
    id: str = msgspec.field(default_factory=lambda: "edge_" + uuid.uuid4().hex)
    withdrawn_at_ms: int | None = None
    withdrawal_receipt_id: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return self.child, self.parent, self.relationship


def enclosing(ref: ResourceRef) -> tuple[str | None, str]:
    """``(track id or None, release id)`` of a resource (a track is its own track)."""
    track = None if ref.track_id is None else f"track:{ref.release_id}/{ref.track_id}"
    return track, f"release:{ref.release_id}"


def edge_row(edge: Edge, *, child: ResourceRef, parent: ResourceRef) -> dict[str, object]:
    child_track, child_release = enclosing(child)
    parent_track, parent_release = enclosing(parent)
    return {"id": edge.id, "child": edge.child, "parent": edge.parent,
            "relationship": edge.relationship,
            "child_release": child_release, "child_track": child_track,
            "child_artist": edge.child_artist, "parent_release": parent_release,
            "parent_track": parent_track, "parent_artist": edge.parent_artist,
            "grant_id": edge.grant_id, "revenue_share_ppm": edge.revenue_share_ppm,
            "registered_by": edge.registered_by, "registered_at_ms": edge.registered_at_ms,
            "receipt_id": edge.receipt_id}


def _up_keys(ref: ResourceRef) -> list[str]:
    """The resource and what encloses it: whose parents are its parents."""
    track, release = enclosing(ref)
    return list(dict.fromkeys(k for k in (ref.id, track, release) if k is not None))


# What a walk answers per edge: every column of the edge.
EDGE_COLUMNS: tuple[str, ...] = (
    "child", "parent", "relationship", "child_artist", "parent_artist", "grant_id",
    "revenue_share_ppm", "registered_by", "registered_at_ms", "receipt_id",
    "child_release", "child_track", "parent_release", "parent_track",
    "id", "withdrawn_at_ms", "withdrawal_receipt_id")
_ID = EDGE_COLUMNS.index("id")


def in_force(edge: Any) -> Any:
    """The condition that ``edge`` (the table or an alias) was not withdrawn."""
    return edge.c.withdrawn_at_ms.is_(None)


def _above(edge: Any, node: Any, release: Any, track: Any) -> Any:
    """``edge`` leads up from the node: its child is the node, its track or release."""
    return or_(edge.c.child == node, edge.c.child == release, edge.c.child == track)


def _below(edge: Any, node: Any, release: Any, track: Any) -> Any:
    """``edge`` leads down from the node: its parent lies in the node (a release: the
    release, its tracks and hooks; a track: the track and its hooks; a hook: itself).
    The index on (parent_release, parent_track, parent) finds these."""
    return and_(edge.c.parent_release == release,
                or_(track.is_(None), edge.c.parent_track == track),
                or_(node == release, node == track, edge.c.parent == node))


def _nodes_up(start: ResourceRef, max_depth: int) -> CTE:
    """Every resource above ``start`` (with its release and track) and the depths it
    is reached at. The walk carries nodes, not edges: ``UNION`` keeps each node once per
    depth, however many paths of a DAG lead to it."""
    e = lineage_edges
    seed = (select(e.c.parent.label("node"), e.c.parent_release.label("rel"),
                   e.c.parent_track.label("trk"), literal(1).label("depth"))
            .where(e.c.child.in_(_up_keys(start)), in_force(e)))
    walk = seed.cte("walk", recursive=True)
    nxt = lineage_edges.alias("nxt")
    step = (select(nxt.c.parent, nxt.c.parent_release, nxt.c.parent_track, walk.c.depth + 1)
            .where(_above(nxt, walk.c.node, walk.c.rel, walk.c.trk), walk.c.depth < max_depth,
                   in_force(nxt)))
    return walk.union(step)


def _nodes_down(start: ResourceRef, max_depth: int) -> CTE:
    """Every resource below ``start`` (with its release and track) and the depths it
    is reached at."""
    e = lineage_edges
    track, release = enclosing(start)
    inside = [e.c.parent_release == release, in_force(e)]  # _below, for a known node
    if track is not None:
        inside.append(e.c.parent_track == track)
    if start.kind == "hook":
        inside.append(e.c.parent == start.id)
    seed = (select(e.c.child.label("node"), e.c.child_release.label("rel"),
                   e.c.child_track.label("trk"), literal(1).label("depth"))
            .where(*inside))
    walk = seed.cte("walk", recursive=True)
    nxt = lineage_edges.alias("nxt")
    step = (select(nxt.c.child, nxt.c.child_release, nxt.c.child_track, walk.c.depth + 1)
            .where(_below(nxt, walk.c.node, walk.c.rel, walk.c.trk), walk.c.depth < max_depth,
                   in_force(nxt)))
    return walk.union(step)


def _walk(start: ResourceRef, direction: Direction, max_depth: int) -> Select[Any]:
    """The edges within ``max_depth`` of ``start``: the nodes reached (each at its
    smallest depth, and ``start`` itself at 0), then the edges leading on from them."""
    nodes = (_nodes_up if direction == "ancestors" else _nodes_down)(start, max_depth)
    track, release = enclosing(start)
    reached = union_all(
        select(nodes.c.node, nodes.c.rel, nodes.c.trk, func.min(nodes.c.depth).label("depth"))
        .group_by(nodes.c.node, nodes.c.rel, nodes.c.trk),
        select(literal(start.id, String), literal(release, String), literal(track, String),
               literal(0))).subquery("reached")
    e = lineage_edges
    leads = _above if direction == "ancestors" else _below
    return (select(*(e.c[c] for c in EDGE_COLUMNS), (reached.c.depth + 1).label("depth"))
            .join_from(e, reached, leads(e, reached.c.node, reached.c.rel, reached.c.trk))
            .where(reached.c.depth < max_depth, in_force(e)))


def walk(conn: Connection, start: ResourceRef, *, direction: Direction, max_depth: int,
         limit: int | None = None) -> tuple[list[Edge], bool]:
    """The edges reachable from ``start`` within ``max_depth`` edges, each once, at the
    smallest depth it was reached, ordered by depth then key; and whether ``limit``
    edges were exceeded (the list then holds the first ``limit``; past ``limit × 10 +
    1000`` rows fetched the walk stops early and the list is only nearest-first).

    An edge can be reached from two nodes (a hook and its enclosing release); the
    duplicate is dropped here, as is the ordering, rather than by ``GROUP BY``/``ORDER
    BY`` in SQL: the rows are few and small, and sorting wide rows in the server spilled
    to disk for large walks.
    """
    query = _walk(start, direction, max_depth)
    cap = None if limit is None else limit * 10 + 1000
    if cap is not None:  # a safety valve on the rows fetched, duplicates included
        query = query.limit(cap)
    rows = conn.execute(query).all()
    best: dict[tuple[str, str, str], Any] = {}
    for row in rows:
        key = (row[0], row[1], row[2])
        seen = best.get(key)
        if seen is None or row[-1] < seen[-1]:
            best[key] = row
    ordered = sorted(best.values(), key=lambda r: (r[-1], r[0], r[1], r[2]))
    truncated = limit is not None and (len(ordered) > limit or len(rows) == cap)
    if limit is not None:
        ordered = ordered[:limit]
    return [_edge(row) for row in ordered], truncated


def _edge(row: Any) -> Edge:
    return Edge(child=row[0], parent=row[1], relationship=row[2], child_artist=row[3],
                parent_artist=row[4], grant_id=row[5], revenue_share_ppm=row[6],
                registered_by=row[7], registered_at_ms=row[8], receipt_id=row[9],
                id=row[_ID], withdrawn_at_ms=row[_ID + 1], withdrawal_receipt_id=row[_ID + 2],
                depth=row[-1] if len(row) > len(EDGE_COLUMNS) else 1)


def ancestor_ids(conn: Connection, start: ResourceRef, *, max_depth: int) -> dict[str, int]:
    """Every resource upstream of ``start`` with the smallest number of edges to it (the
    walk carries nodes, not edges: each node once per depth)."""
    nodes = _nodes_up(start, max_depth)
    rows = conn.execute(select(nodes.c.node, func.min(nodes.c.depth)).group_by(nodes.c.node))
    return {row[0]: row[1] for row in rows}


def existing(conn: Connection, keys: Iterable[tuple[str, str, str]]) -> dict[
        tuple[str, str, str], Edge]:
    wanted = list(keys)
    if not wanted:
        return {}
    e = lineage_edges
    rows = conn.execute(select(*(e.c[c] for c in EDGE_COLUMNS)).where(
        tuple_(e.c.child, e.c.parent, e.c.relationship).in_(wanted), in_force(e)))
    return {(r[0], r[1], r[2]): _edge(r) for r in rows}


def edges_within_release(conn: Connection, release_key: str) -> list[Edge]:
    """Every edge in force whose child lies in the release (for the revenue-share check)."""
    e = lineage_edges
    return [_edge(r) for r in conn.execute(select(*(e.c[c] for c in EDGE_COLUMNS))
                                            .where(e.c.child_release == release_key,
                                                   in_force(e)))]


def history(conn: Connection, child: str) -> list[Edge]:
    """Every edge ever declared for ``child``, withdrawn ones too, oldest first."""
    e = lineage_edges
    rows = conn.execute(select(*(e.c[c] for c in EDGE_COLUMNS)).where(e.c.child == child)
                        .order_by(e.c.registered_at_ms, e.c.id))
    return [_edge(r) for r in rows]


def withdraw(conn: Connection, key: tuple[str, str, str], *, now_ms: int,
             receipt_id: str) -> bool:
    """Mark the edge in force under ``key`` withdrawn; False when there is none."""
    e = lineage_edges
    child, parent, relationship = key
    result = conn.execute(update(lineage_edges)
                          .where(e.c.child == child, e.c.parent == parent,
                                 e.c.relationship == relationship, in_force(e))
                          .values(withdrawn_at_ms=now_ms, withdrawal_receipt_id=receipt_id))
    return result.rowcount == 1


def insert_edges(conn: Connection, rows: Sequence[dict[str, object]]) -> None:
    if rows:
        conn.execute(lineage_edges.insert(), list(rows))


# -- whole-graph reads (the in-memory lineage index) -----------------------------------


def child_parent_pairs(conn: Connection, child_release: str | None = None) -> Iterator[
        tuple[str, str, str]]:
    """``(child_release, child, parent)`` of every edge in force, or of those whose
    child lies in ``child_release`` (``release:R``)."""
    e = lineage_edges
    query = select(e.c.child_release, e.c.child, e.c.parent).where(in_force(e))
    if child_release is not None:
        query = query.where(e.c.child_release == child_release)
    for row in conn.execute(query):
        yield row[0], row[1], row[2]


def edges_generation(conn: Connection) -> tuple[int, ...]:
    """A value that moves with every edge added, withdrawn or removed: how many rows
    there are, how many were withdrawn (both only grow while rows are kept), and the
    newest registration time (an edge removed and another added between two looks
    still moves it)."""
    e = lineage_edges
    found = conn.execute(select(func.count(), func.count(e.c.withdrawn_at_ms),
                                func.max(e.c.registered_at_ms))).one()
    return tuple(int(v or 0) for v in found)
