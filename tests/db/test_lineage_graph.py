"""The recursive walks against a reference written in Python, on random graphs with
containment (releases, tracks, hooks), on SQLite and PostgreSQL."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import Engine

from casset_rights.lineage import graph
from casset_rights.lineage.graph import Edge
from casset_rights.resources import ResourceRef, parse_resource


def _resources(release: int) -> list[str]:
    out = [f"release:r{release}"]
    for track in (1, 2):
        out.append(f"track:r{release}/{track}")
        out.extend(f"hook:r{release}/{track}/{hook}" for hook in ("a", "b"))
    return out


def random_graph(seed: int, releases: int = 12, edges: int = 40) -> list[Edge]:
    """Children always in a later release than their parents: acyclic with containment."""
    rng = random.Random(seed)
    out: dict[tuple[str, str, str], Edge] = {}
    while len(out) < edges:
        low, high = sorted(rng.sample(range(releases), 2))
        child, parent = rng.choice(_resources(high)), rng.choice(_resources(low))
        relationship = rng.choice(("sample", "remix"))
        out[(child, parent, relationship)] = Edge(
            child=child, parent=parent, relationship=relationship,
            child_artist=f"a{high}", parent_artist=f"a{low}", grant_id=None,
            revenue_share_ppm=0, registered_by="client:test", registered_at_ms=0)
    return list(out.values())


def _encloses_or_is(outer: ResourceRef, inner: ResourceRef) -> bool:
    return outer.contains(inner)


def reference(edges: list[Edge], start: str, direction: str,
              max_depth: int) -> dict[tuple[str, str, str], int]:
    """Breadth first: each edge at the smallest depth it is reached."""
    def leads(edge: Edge, node: str) -> bool:
        here = parse_resource(node)
        if direction == "ancestors":  # the edge's child is the node or encloses it
            return _encloses_or_is(parse_resource(edge.child), here)
        return _encloses_or_is(here, parse_resource(edge.parent))  # parent inside node

    depth_of = {start: 0}
    found: dict[tuple[str, str, str], int] = {}
    frontier = [start]
    depth = 0
    while frontier and depth < max_depth:
        depth += 1
        nxt = []
        for node in frontier:
            for edge in edges:
                if leads(edge, node) and edge.key not in found:
                    found[edge.key] = depth
                    far = edge.parent if direction == "ancestors" else edge.child
                    if far not in depth_of:
                        depth_of[far] = depth
                        nxt.append(far)
        frontier = nxt
    return found


@pytest.mark.postgres
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_walks_match_the_reference(engine: Engine, seed: int) -> None:
    edges = random_graph(seed)
    with engine.begin() as conn:
        graph.insert_edges(conn, [graph.edge_row(e, child=parse_resource(e.child),
                                                 parent=parse_resource(e.parent))
                                  for e in edges])
    starts = sorted({e.child for e in edges} | {e.parent for e in edges}
                    | {"release:r11", "release:r0", "track:r5/1"})
    with engine.connect() as conn:
        for start in starts:
            for direction in ("ancestors", "descendants"):
                for depth in (1, 2, 50):
                    got, truncated = graph.walk(conn, parse_resource(start),
                                                direction=direction,  # type: ignore[arg-type]
                                                max_depth=depth)
                    want = reference(edges, start, direction, depth)
                    assert {e.key: e.depth for e in got} == want, (start, direction, depth)
                    assert not truncated
                    assert [e.depth for e in got] == sorted(e.depth for e in got)
            ids = graph.ancestor_ids(conn, parse_resource(start), max_depth=50)
            assert set(ids) == {k[1] for k in reference(edges, start, "ancestors", 50)}


def test_limit_truncates(engine: Engine) -> None:
    edges = random_graph(7, releases=6, edges=30)
    with engine.begin() as conn:
        graph.insert_edges(conn, [graph.edge_row(e, child=parse_resource(e.child),
                                                 parent=parse_resource(e.parent))
                                  for e in edges])
    with engine.connect() as conn:
        everything, _ = graph.walk(conn, parse_resource("release:r0"), direction="descendants",
                                   max_depth=50)
        first, truncated = graph.walk(conn, parse_resource("release:r0"),
                                      direction="descendants", max_depth=50, limit=3)
    assert len(everything) > 3 and truncated and first == everything[:3]
