"""Reading the lineage graph: the nodes and edges around a resource, its attribution
lines and, for its ancestry, the royalty split."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine

from casset_rights.decisions.index import RightsIndex
from casset_rights.errors import InvalidInput, UnknownResource
from casset_rights.lineage import graph
from casset_rights.lineage.graph import Direction, Edge
from casset_rights.lineage.models import LineageView, Royalties
from casset_rights.lineage.royalties import royalty_split
from casset_rights.lineage.view import attribution_lines, describe_nodes
from casset_rights.resources import ResourceRef, parse_resource

DEFAULT_DEPTH = 64
MAX_DEPTH = 1000
MAX_EDGES = 50_000


def read_lineage(engine: Engine, index: RightsIndex, resource: str, *,
                 direction: Direction = "ancestors", depth: int = DEFAULT_DEPTH,
                 revenue: int | None = None, currency: str | None = None,
                 limit: int = MAX_EDGES) -> LineageView:
    """The graph around ``resource`` up to ``depth`` edges away, at most ``limit``
    edges in force (``truncated`` says when more exist). With ``revenue`` (minor units)
    and ``ancestors``, the royalty split over the whole ancestry.

    Raises InvalidInput (resource id, depth) and UnknownResource when the resource
    is neither in the catalog nor in the graph.
    """
    ref = parse_resource(resource)
    if not 1 <= depth <= MAX_DEPTH:
        raise InvalidInput(f"depth is between 1 and {MAX_DEPTH}")
    with engine.connect() as conn:
        edges, truncated = graph.walk(conn, ref, direction=direction, max_depth=depth,
                                      limit=limit)
        root_artist = _artist_of(index, ref, edges)
        royalties = None
        if revenue is not None and direction == "ancestors":
            whole, _ = graph.walk(conn, ref, direction="ancestors", max_depth=graph.WALK_LIMIT)
            shares = royalty_split(revenue, ref.id, root_artist=root_artist, edges=whole)
            royalties = Royalties(revenue=revenue, currency=currency,
                                  method="compounding revenue shares, largest remainder",
                                  shares=tuple(shares))
    nodes = describe_nodes(index, ref, edges, direction=direction, root_artist=root_artist)
    return LineageView(resource=ref.id, direction=direction, depth=depth,
                       nodes=nodes, edges=tuple(edges),
                       attribution=attribution_lines(nodes, edges),
                       truncated=truncated, royalties=royalties)


def _artist_of(index: RightsIndex, ref: ResourceRef, edges: Sequence[Edge]) -> str:
    try:
        return index.release(ref.release_id).artist_id
    except UnknownResource:
        pass
    for edge in edges:
        if edge.child == ref.id:
            return edge.child_artist
        if edge.parent == ref.id:
            return edge.parent_artist
    raise UnknownResource(f"{ref.id} is neither in the catalog nor in the lineage graph")
