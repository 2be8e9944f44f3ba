"""The RFC 9162 §2.1 definitions transcribed literally, and an in-memory node store.

The log builds proofs from stored subtree hashes; these recursive definitions over the
whole leaf list are the independent reference it is checked against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from casset_rights.log import merkle


def k_of(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: Sequence[bytes]) -> bytes:
    """MTH over leaf *hashes*."""
    if not d:
        return merkle.EMPTY_ROOT
    if len(d) == 1:
        return d[0]
    k = k_of(len(d))
    return merkle.node_hash(mth(d[:k]), mth(d[k:]))


def path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = k_of(len(d))
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    return subproof(m, d, True) if 0 < m < len(d) else []


def subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = k_of(n)
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


class MemoryTree:
    """Leaves and aligned subtree hashes in memory, grown the way the database log grows."""

    def __init__(self) -> None:
        self.leaves: list[bytes] = []
        self.nodes: dict[merkle.Node, bytes] = {}
        self._frontier: list[tuple[int, int, bytes]] = []

    def append(self, data: bytes) -> None:
        created, self._frontier = merkle.append_nodes(
            self._frontier, len(self.leaves), [merkle.leaf_hash(data)])
        self.leaves.append(merkle.leaf_hash(data))
        self.nodes.update({(lv, i): h for lv, i, h in created})

    def lookup(self, wanted: Sequence[merkle.Node]) -> Mapping[merkle.Node, bytes]:
        return {n: self.nodes[n] for n in wanted}

    def root(self, size: int) -> bytes:
        return merkle.tree_root(size, self.lookup)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return merkle.hashes_for(merkle.inclusion_ranges(index, size), self.nodes)

    def consistency(self, first: int, second: int) -> list[bytes]:
        return merkle.hashes_for(merkle.consistency_ranges(first, second), self.nodes)


def tree_of(size: int) -> MemoryTree:
    tree = MemoryTree()
    for i in range(size):
        tree.append(i.to_bytes(4, "big"))
    return tree
