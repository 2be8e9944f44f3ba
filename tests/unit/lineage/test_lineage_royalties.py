"""Royalty splits: compounding shares up the graph, exact integer amounts that sum to R."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casset_rights.errors import InvalidInput
from casset_rights.lineage import Edge, largest_remainder, royalty_split
from casset_rights.lineage.royalties import exact_split, ppm_of_percent


def edge(child: str, parent: str, percent: float, *, child_artist: str = "",
         parent_artist: str = "") -> Edge:
    return Edge(child=child, parent=parent, relationship="remix",
                child_artist=child_artist or child.split(":")[1].split("/")[0],
                parent_artist=parent_artist or parent.split(":")[1].split("/")[0],
                grant_id=None, revenue_share_ppm=ppm_of_percent(percent),
                registered_by="client:test", registered_at_ms=0)


def amounts(revenue: int, root: str, edges: list[Edge], root_artist: str = "") -> dict[str, int]:
    artist = root_artist or root.split(":")[1].split("/")[0]
    return {s.artist: s.amount for s in royalty_split(revenue, root, root_artist=artist,
                                                      edges=edges)}


def test_a_chain_compounds_each_share() -> None:
    edges = [edge("release:c", "release:b", 15), edge("release:b", "release:a", 10)]
    assert amounts(10_000, "release:c", edges) == {"c": 8500, "b": 1350, "a": 150}


def test_a_diamond_pays_the_common_ancestor_through_both_paths() -> None:
    edges = [edge("release:d", "release:b", 20), edge("release:d", "release:c", 30),
             edge("release:b", "release:a", 50), edge("release:c", "release:a", 50)]
    exact = exact_split("release:d", root_artist="d", edges=edges)
    assert exact["a"][0] == Fraction(1, 10) + Fraction(15, 100)
    assert amounts(1000, "release:d", edges) == {"d": 500, "a": 250, "c": 150, "b": 100}


def test_parents_of_an_enclosing_release_share_a_hooks_revenue() -> None:
    edges = [edge("release:x", "release:y", 10), edge("hook:x/1/h", "release:z", 20)]
    assert amounts(1000, "hook:x/1/h", edges, root_artist="x") == {"x": 700, "z": 200, "y": 100}
    # The release itself does not pay its hook's parents.
    assert amounts(1000, "release:x", edges) == {"x": 900, "y": 100}


def test_largest_remainder_is_exact_and_deterministic() -> None:
    thirds = {"b": Fraction(1, 3), "a": Fraction(1, 3), "c": Fraction(1, 3)}
    assert largest_remainder(100, thirds) == {"a": 34, "b": 33, "c": 33}
    assert largest_remainder(0, thirds) == {"a": 0, "b": 0, "c": 0}
    with pytest.raises(InvalidInput):
        largest_remainder(-1, thirds)


def test_shares_over_everything_are_refused() -> None:
    edges = [edge("release:c", "release:a", 60), edge("release:c", "release:b", 50)]
    with pytest.raises(InvalidInput, match="more than all"):
        royalty_split(100, "release:c", root_artist="c", edges=edges)


def test_percentages_are_exact_to_four_decimals() -> None:
    assert ppm_of_percent(10) == 100_000
    assert ppm_of_percent(12.5) == 125_000
    assert ppm_of_percent(0.0001) == 1
    assert ppm_of_percent(None) == 0


@st.composite
def dags(draw: st.DrawFn) -> list[Edge]:
    """Random DAGs over releases r0..rN (edges from higher to lower index), with the
    shares of each node's parents summing to at most 100%."""
    size = draw(st.integers(min_value=1, max_value=8))
    # Each release has one artist; several releases may share one.
    artists = [draw(st.sampled_from(["a", "b", "c", f"r{n}"])) for n in range(size)]
    edges: list[Edge] = []
    for child in range(1, size):
        parents = draw(st.sets(st.integers(min_value=0, max_value=child - 1), max_size=3))
        budget = 100
        for parent in sorted(parents):
            percent = draw(st.integers(min_value=0, max_value=budget))
            budget -= percent
            edges.append(edge(f"release:r{child}", f"release:r{parent}", percent,
                              child_artist=artists[child], parent_artist=artists[parent]))
    return edges


@settings(max_examples=200, deadline=None)
@given(edges=dags(), revenue=st.integers(min_value=0, max_value=10**12))
def test_every_split_sums_exactly_to_the_revenue(edges: list[Edge], revenue: int) -> None:
    root = max((e.child for e in edges), default="release:r0", key=lambda r: int(r[9:]))
    artist = next((e.child_artist for e in edges if e.child == root), "r0")
    split = royalty_split(revenue, root, root_artist=artist, edges=edges)
    assert sum(s.amount for s in split) == revenue
    exact = exact_split(root, root_artist=artist, edges=edges)
    assert sum(f for f, _ in exact.values()) == 1
    for share in split:
        assert abs(share.amount - revenue * exact[share.artist][0]) < 1
    assert split == royalty_split(revenue, root, root_artist=artist,
                                  edges=list(reversed(edges)))
