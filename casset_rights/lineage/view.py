"""The graph as people read it: nodes with titles and artists, and attribution lines."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from casset_rights.decisions.index import RightsIndex
from casset_rights.errors import UnknownResource
from casset_rights.lineage.graph import Direction, Edge
from casset_rights.resources import ResourceRef, parse_resource

VERBS = {"sample": "samples", "remix": "remixes", "interpretation": "interprets",
         "stem": "uses stems of", "sync": "sets to picture"}


class Node(msgspec.Struct, frozen=True, kw_only=True):
    """A resource in the graph; ``depth`` is the fewest edges from the one asked about
    (0 for itself). ``title`` and ``artist_name`` come from the catalog when it knows
    the release."""

    resource: str
    kind: str
    artist: str
    artist_name: str
    title: str
    depth: int


def describe_nodes(index: RightsIndex, root: ResourceRef, edges: Sequence[Edge], *,
                   direction: Direction, root_artist: str) -> tuple[Node, ...]:
    depth: dict[str, int] = {root.id: 0}
    artist: dict[str, str] = {root.id: root_artist}
    for edge in edges:  # ordered by depth: the first sighting is the shallowest
        far, near = (edge.parent, edge.child) if direction == "ancestors" else (
            edge.child, edge.parent)
        depth.setdefault(far, edge.depth)
        depth.setdefault(near, edge.depth - 1)
        artist.setdefault(edge.parent, edge.parent_artist)
        artist.setdefault(edge.child, edge.child_artist)
    nodes = []
    for resource in sorted(depth, key=lambda r: (depth[r], r)):
        ref = parse_resource(resource)
        title, name = _names(index, ref, artist[resource])
        nodes.append(Node(resource=resource, kind=ref.kind, artist=artist[resource],
                          artist_name=name, title=title, depth=depth[resource]))
    return tuple(nodes)


def _names(index: RightsIndex, ref: ResourceRef, artist: str) -> tuple[str, str]:
    try:
        release = index.release(ref.release_id)
    except UnknownResource:
        return ref.id, artist
    return release.titles.get(ref.path, release.title), release.artist_name


def attribution_lines(nodes: Sequence[Node], edges: Sequence[Edge]) -> tuple[str, ...]:
    """One sentence per edge, nearest first: ``"Low Tide" (release:low-tide) by Mara
    Quell samples "Midnight Tapes" (hook:midnight-tapes/1/chorus) by Nightglass, under
    license lic_…``."""
    by_id = {n.resource: n for n in nodes}

    def named(resource: str) -> str:
        node = by_id.get(resource)
        if node is None:
            return resource
        return f"\u201c{node.title}\u201d ({resource}) by {node.artist_name}"

    lines = []
    for edge in edges:
        line = f"{named(edge.child)} {VERBS.get(edge.relationship, edge.relationship)} " \
               f"{named(edge.parent)}"
        if edge.grant_id:
            line += f", under license {edge.grant_id}"
        lines.append(line)
    return tuple(lines)
