"""Royalty splits: revenue earned by a derivative, paid up its whole ancestry, exactly.

Each edge carries the parent's share of the child's revenue (the revenue share of the
license that allowed the use). Revenue ``R`` at a resource flows up compounding, the way
Story Protocol's "pay every ancestor" policy does: each parent edge takes its share of
what reaches the child, and passes its own ancestors' shares on in turn; every resource's
artist keeps what its parent edges do not take. A resource's parent edges are its own
and those of what encloses it (a hook of a derivative release pays the release's
parents).

The exact split is a fraction of ``R`` per artist (``fractions.Fraction``; shares are
stored in parts per million, so nothing is rounded until the end). Amounts are integer
minor units by the largest-remainder method: every artist gets the floor of its exact
amount, and the units left go one each to the largest remainders, ties broken by artist
id, so the amounts always sum to ``R`` and the same graph always splits the same way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from fractions import Fraction

import msgspec

from casset_rights.errors import InvalidInput
from casset_rights.lineage.graph import PPM, Edge
from casset_rights.resources import parse_resource


class Share(msgspec.Struct, frozen=True):
    """What one artist receives: ``amount`` in minor units and the exact ``fraction`` of
    the revenue it rounds (``"3/100"``), with the artist's resources in the ancestry
    (an upstream artist whose edges carry no share is listed with 0)."""

    artist: str
    amount: int
    fraction: str
    percent: float
    resources: tuple[str, ...]


def _containers(resource: str) -> list[str]:
    ref = parse_resource(resource)
    return [r.id for r in ref.ancestors()]


def exact_split(root: str, *, root_artist: str, edges: Sequence[Edge]) -> dict[
        str, tuple[Fraction, set[str]]]:
    """Every artist's exact fraction of revenue earned at ``root`` (fractions sum to 1),
    with the artist's resources in the ancestry.

    Raises InvalidInput when the parent edges of one resource take more than all of it.
    """
    up: dict[str, list[Edge]] = defaultdict(list)
    for edge in edges:
        up[edge.child].append(edge)
    artist_of: dict[str, str] = {root: root_artist}
    for edge in edges:
        artist_of.setdefault(edge.parent, edge.parent_artist)
        artist_of.setdefault(edge.child, edge.child_artist)

    def parents(node: str) -> list[Edge]:
        return [e for c in _containers(node) for e in up.get(c, ())]

    # Kahn's order over the flow graph (node -> each parent), from the root upwards.
    incoming: dict[str, int] = defaultdict(int)
    seen = {root}
    frontier = [root]
    while frontier:
        node = frontier.pop()
        for edge in parents(node):
            incoming[edge.parent] += 1
            if edge.parent not in seen:
                seen.add(edge.parent)
                frontier.append(edge.parent)
    value: dict[str, Fraction] = defaultdict(Fraction)
    value[root] = Fraction(1)
    ready = [root]
    out: dict[str, tuple[Fraction, set[str]]] = {}
    while ready:
        node = ready.pop()
        flows = parents(node)
        taken = sum((Fraction(e.revenue_share_ppm, PPM) for e in flows), Fraction(0))
        if taken > 1:
            raise InvalidInput(f"the revenue shares of {node}'s parents add up to more "
                               "than all of its revenue")
        kept = value[node] * (1 - taken)
        artist = artist_of.get(node, root_artist)
        fraction, through = out.get(artist, (Fraction(0), set()))
        out[artist] = (fraction + kept, through | {node})
        for edge in flows:
            value[edge.parent] += value[node] * Fraction(edge.revenue_share_ppm, PPM)
            incoming[edge.parent] -= 1
            if incoming[edge.parent] == 0:
                ready.append(edge.parent)
    return out


def largest_remainder(revenue: int, fractions: Mapping[str, Fraction]) -> dict[str, int]:
    """Integer amounts, one per key, summing to ``revenue`` exactly (``fractions`` sum
    to 1). Raises InvalidInput for a negative revenue."""
    if revenue < 0:
        raise InvalidInput("revenue is a non-negative amount in minor units")
    exact = {key: revenue * f for key, f in fractions.items()}
    amounts = {key: int(value.numerator // value.denominator) for key, value in exact.items()}
    left = revenue - sum(amounts.values())
    by_remainder = sorted(exact, key=lambda k: (-(exact[k] - amounts[k]), k))
    for key in by_remainder[:left]:
        amounts[key] += 1
    return amounts


def royalty_split(revenue: int, root: str, *, root_artist: str,
                  edges: Sequence[Edge]) -> list[Share]:
    """The split of ``revenue`` (minor units) earned at ``root`` over its ancestry
    ``edges``: one Share per artist, largest amount first (then by artist id)."""
    exact = exact_split(root, root_artist=root_artist, edges=edges)
    amounts = largest_remainder(revenue, {a: f for a, (f, _) in exact.items()})
    shares = [Share(artist=a, amount=amounts[a], fraction=f"{f.numerator}/{f.denominator}",
                    percent=round(float(f * 100), 6), resources=tuple(sorted(through)))
              for a, (f, through) in exact.items()]
    return sorted(shares, key=lambda s: (-s.amount, s.artist))


def ppm_of_percent(percent: int | float | None) -> int:
    """A revenue share percentage in parts per million (exact to four decimals)."""
    if percent is None:
        return 0
    return int(Fraction(str(percent)) * 10_000)
