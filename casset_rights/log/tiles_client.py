"""Proofs computed from ``tlog-tiles``: what a verifier does with a log's static tiles.

``TiledLog(fetch)`` reads tiles through ``fetch(path) -> bytes`` (``path`` relative to
the log's prefix, e.g. ``tile/0/x001/234``; HTTP, a folder, or memory) and computes any
root, inclusion proof or consistency proof of a tree whose size the caller read from a
verified checkpoint. Hashes inside a tile are rebuilt by hashing its 256 (or W) hashes, as
the spec says; each tile is fetched once and each subtree asked for hashed once per
``TiledLog``.

A wrong or truncated tile from the server surfaces as ``ProofInvalid`` when the computed
root or proof is checked against the checkpoint (``verify_inclusion_from_tiles``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from casset_rights.log import merkle
from casset_rights.log.errors import ProofInvalid
from casset_rights.log.tiles import TILE_HEIGHT, TILE_WIDTH, tile_hashes_below, tile_path

Fetch = Callable[[str], bytes]
_sha256 = hashlib.sha256  # merkle.node_hash, inlined in the loop that rebuilds subtrees


class TiledLog:
    """A log read from its tiles at one tree size (``tree_size``, from a checkpoint)."""

    def __init__(self, fetch: Fetch, tree_size: int) -> None:
        if not 0 <= tree_size <= merkle.MAX_TREE_SIZE:
            raise ValueError(f"not a tree size: {tree_size}")
        self._fetch = fetch
        self.tree_size = tree_size
        self._tiles: dict[tuple[int, int], list[bytes]] = {}
        self._nodes: dict[merkle.Node, bytes] = {}
        self.fetched: list[str] = []  # paths fetched, in order (for reports)

    # --- proofs -------------------------------------------------------------------------

    def root(self) -> bytes:
        """MTH(D[tree_size])."""
        return merkle.tree_root(self.tree_size, self._lookup)

    def inclusion_proof(self, index: int) -> list[bytes]:
        """PATH(index, D[tree_size]). Raises ValueError when the leaf is outside the tree."""
        ranges = merkle.inclusion_ranges(index, self.tree_size)
        return merkle.hashes_for(ranges, self._lookup(merkle.proof_nodes(ranges)))

    def consistency_proof(self, first: int) -> list[bytes]:
        """PROOF(first, D[tree_size]). Raises ValueError unless 0 <= first <= tree_size."""
        ranges = merkle.consistency_ranges(first, self.tree_size)
        return merkle.hashes_for(ranges, self._lookup(merkle.proof_nodes(ranges)))

    def leaf_hash(self, index: int) -> bytes:
        """The leaf hash at ``index`` as the level-0 tile holds it."""
        if not 0 <= index < self.tree_size:
            raise ValueError(f"leaf {index} is outside the tree of size {self.tree_size}")
        return self.node(0, index)

    # --- nodes from tiles ---------------------------------------------------------------

    def node(self, level: int, index: int) -> bytes:
        """The hash of the complete aligned subtree ``(level, index)`` of the tree."""
        found = self._nodes.get((level, index))
        if found is not None:
            return found
        tile_level, below = divmod(level, TILE_HEIGHT)
        first = index << below  # its first hash at tile level ``tile_level``
        if first + (1 << below) > tile_hashes_below(tile_level, self.tree_size):
            raise ValueError(f"subtree ({level}, {index}) is not complete in a tree of size "
                             f"{self.tree_size}")
        tile = self._tile(tile_level, first // TILE_WIDTH)
        at = first % TILE_WIDTH
        hashes = tile[at: at + (1 << below)]
        while len(hashes) > 1:  # a perfect subtree: pairwise, level by level
            hashes = [_sha256(b"\x01" + hashes[i] + hashes[i + 1]).digest()
                      for i in range(0, len(hashes), 2)]
        self._nodes[(level, index)] = hashes[0]
        return hashes[0]

    def _lookup(self, nodes: Sequence[merkle.Node]) -> dict[merkle.Node, bytes]:
        return {n: self.node(*n) for n in nodes}

    def _tile(self, level: int, index: int) -> list[bytes]:
        found = self._tiles.get((level, index))
        if found is not None:
            return found
        complete = tile_hashes_below(level, self.tree_size)
        width = min(TILE_WIDTH, complete - index * TILE_WIDTH)
        path = tile_path(level, index, width)
        data = self._fetch(path)
        self.fetched.append(path)
        if len(data) != width * merkle.HASH_SIZE:
            raise ProofInvalid(f"{path} is {len(data)} bytes, not {width} hashes")
        hashes = [data[i: i + merkle.HASH_SIZE] for i in range(0, len(data), merkle.HASH_SIZE)]
        self._tiles[(level, index)] = hashes
        return hashes


def verify_inclusion_from_tiles(log: TiledLog, *, index: int, leaf: bytes,
                                root: bytes) -> list[bytes]:
    """Compute the inclusion proof of ``leaf`` (a leaf hash) at ``index`` from the tiles and
    check it against ``root`` (a verified checkpoint's). Returns the proof; raises
    ProofInvalid when it does not lead to the root."""
    try:
        proof = log.inclusion_proof(index)
    except ValueError as exc:
        raise ProofInvalid(str(exc)) from None
    merkle.verify_inclusion(leaf_index=index, tree_size=log.tree_size, leaf=leaf, proof=proof,
                            root=root)
    return proof
