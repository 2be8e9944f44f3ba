"""The lineage graph in memory: each derivative's ancestors, for decisions.

A decision on a derivative asks every ancestor's policy too (``decisions.decide``), so
it needs the ancestors of the resource. ``LineageIndex`` keeps every edge's child and
parent in memory, grouped by the child's release, and walks up the same way the SQL
walk does (``graph._nodes_up``): from a resource, the parents of the resource itself,
of its track and of its release; from each parent in turn the same, each node at the
smallest depth it is reached, at most ``ANCESTOR_DEPTH`` edges up. The answers are
remembered until the graph changes.

Freshness (``decisions.changes``): an edge registered or withdrawn in this process
counts at the next decision (``reload_key``, called by the writer once committed); in
another process within a second on SQLite (``graph.edges_generation``), within
milliseconds on PostgreSQL (the ``lineage_edges`` trigger's notification, naming the
child's release, whose edges are then read again).
"""

from __future__ import annotations

import threading

from sqlalchemy import Connection, Engine

from casset_rights.lineage import graph
from casset_rights.resources import ResourceRef, parse_resource

ANCESTOR_DEPTH = 100
_REMEMBERED = 100_000  # ancestor lists kept before the memory starts again


class LineageIndex:
    """Every edge (child -> parents, by the child's release), in memory (a follower of
    ``lineage_edges``)."""

    tables: tuple[str, ...] = ("lineage_edges",)

    def __init__(self, engine: Engine, *, max_depth: int = ANCESTOR_DEPTH) -> None:
        self._engine = engine
        self._max_depth = max_depth
        # release:R -> {child id in R: parent ids}
        self._by_release: dict[str, dict[str, tuple[str, ...]]] = {}
        self._refs: dict[str, ResourceRef] = {}
        self._answers: dict[str, tuple[tuple[ResourceRef, int], ...]] = {}
        self._lock = threading.Lock()

    # -- the request path -----------------------------------------------------------

    def ancestors(self, ref: ResourceRef) -> tuple[tuple[ResourceRef, int], ...]:
        """Every resource upstream of ``ref`` with the smallest number of edges to it,
        nearest first (then by id); empty for a resource that is no derivative."""
        if f"release:{ref.release_id}" not in self._by_release:
            return ()
        answers = self._answers
        found = answers.get(ref.id)
        if found is None:
            found = self._walk(ref)
            if len(answers) >= _REMEMBERED:
                answers.clear()
            answers[ref.id] = found
        return found

    def _walk(self, start: ResourceRef) -> tuple[tuple[ResourceRef, int], ...]:
        by_release = self._by_release
        depth_of: dict[str, int] = {}
        frontier = [start]
        depth = 0
        while frontier and depth < self._max_depth:
            depth += 1
            following: list[ResourceRef] = []
            for node in frontier:
                children = by_release.get(f"release:{node.release_id}")
                if not children:
                    continue
                for key in _up_keys(node):
                    for parent in children.get(key, ()):
                        if parent not in depth_of:
                            depth_of[parent] = depth
                            following.append(self._ref(parent))
            frontier = following
        return tuple((self._ref(node), d) for node, d in
                     sorted(depth_of.items(), key=lambda item: (item[1], item[0])))

    def _ref(self, node: str) -> ResourceRef:
        ref = self._refs.get(node)
        if ref is None:
            ref = self._refs[node] = parse_resource(node)
        return ref

    # -- freshness ------------------------------------------------------------------

    def generation(self, conn: Connection) -> tuple[int, ...]:
        return graph.edges_generation(conn)

    def reload(self) -> None:
        with self._lock, self._engine.connect() as conn:
            grouped: dict[str, dict[str, list[str]]] = {}
            for release, child, parent in graph.child_parent_pairs(conn):
                grouped.setdefault(release, {}).setdefault(child, []).append(parent)
            self._by_release = {r: _frozen(children) for r, children in grouped.items()}
            self._answers = {}

    def reload_key(self, table: str, key: str) -> None:
        """Read again the edges whose child lies in release ``key`` (``release:R``)."""
        with self._lock, self._engine.connect() as conn:
            children: dict[str, list[str]] = {}
            for _, child, parent in graph.child_parent_pairs(conn, key):
                children.setdefault(child, []).append(parent)
            by_release = dict(self._by_release)
            if children:
                by_release[key] = _frozen(children)
            else:
                by_release.pop(key, None)
            # Any remembered walk may have passed through this release.
            self._by_release, self._answers = by_release, {}


def _frozen(children: dict[str, list[str]]) -> dict[str, tuple[str, ...]]:
    return {child: tuple(sorted(set(parents))) for child, parents in children.items()}


def _up_keys(ref: ResourceRef) -> tuple[str, ...]:
    """The resource and what encloses it: whose parents are its parents."""
    release = f"release:{ref.release_id}"
    if ref.track_id is None:
        return (release,)
    track = f"track:{ref.release_id}/{ref.track_id}"
    return (track, release) if ref.hook_id is None else (ref.id, track, release)
