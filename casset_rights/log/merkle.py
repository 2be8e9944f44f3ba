"""Merkle tree hashing, proofs and their verification, as RFC 9162 §2.1 defines them.

Pure functions, no storage. Proofs are built from the hashes of *aligned complete
subtrees* (a node at ``level`` L and ``index`` i covers leaves ``[i·2^L, (i+1)·2^L)``):
every hash a proof needs is one such node or a fold of the O(log n) nodes that tile a
range ending at the tree's right edge, so a store that keeps those nodes answers any proof
at any tree size with O(log n) look-ups (see ``proof_nodes`` and ``TransparencyLog``).

Verification follows the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2 word for word;
``verify_inclusion`` and ``verify_consistency`` return None or raise ``ProofInvalid``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence

from casset_rights.log.errors import ProofInvalid

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
# Tree sizes are 64-bit in RFC 9162 (and in the anchor contract).
MAX_TREE_SIZE = 2**64 - 1

Node = tuple[int, int]  # (level, index) of an aligned complete subtree
Range = tuple[int, int]  # leaves [start, end)


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of one leaf."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1): RFC 9162's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


# --- the RFC's recursive definitions over a list of leaf hashes (the reference) ----------


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) from leaf hashes, by the recursive definition (O(n); tests and offline)."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


# --- proofs as lists of ranges, then as aligned subtree nodes --------------------------------


def inclusion_ranges(index: int, tree_size: int) -> list[Range]:
    """The leaf ranges whose MTH make up PATH(index, D[tree_size]), in proof order."""
    _check_index(index, tree_size)
    ranges: list[Range] = []
    lo, hi = 0, tree_size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:  # PATH(m, D[0:k]) : MTH(D[k:n])
            ranges.append((lo + k, hi))
            hi = lo + k
        else:  # PATH(m - k, D[k:n]) : MTH(D[0:k])
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()  # collected from the root down; the proof lists them from the leaf up
    return ranges


def consistency_ranges(first: int, second: int) -> list[Range]:
    """The leaf ranges whose MTH make up PROOF(first, D[second]), in proof order.

    Empty when ``first`` is 0 or equals ``second``. Raises ValueError when first > second.
    """
    if not 0 <= first <= second <= MAX_TREE_SIZE:
        raise ValueError(f"need 0 <= first <= second, got {first} and {second}")
    if first in (0, second):
        return []
    ranges: list[Range] = []
    lo, hi, whole = 0, second, True  # ``whole``: RFC's b, "D[0:m] is a whole subtree of D[n]"
    while True:
        m, n = first - lo, hi - lo
        if m == n:  # SUBPROOF(m, D[m], true) = {};  SUBPROOF(m, D[m], false) = {MTH(D[m])}
            if not whole:
                ranges.append((lo, hi))
            break
        k = _split(n)
        if m <= k:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            ranges.append((lo + k, hi))
            hi = lo + k
        else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            ranges.append((lo, lo + k))
            lo += k
            whole = False
    ranges.reverse()
    return ranges


def range_nodes(start: int, end: int) -> list[Node]:
    """The aligned complete subtrees that tile ``[start, end)``, left to right.

    For the ranges proofs use (``start`` a multiple of a power of two at least
    ``end - start``) their sizes strictly decrease, and ``fold`` gives the range's MTH.
    """
    if not 0 <= start < end:
        raise ValueError(f"empty or negative range [{start}, {end})")
    nodes: list[Node] = []
    while start < end:
        level = (start & -start).bit_length() - 1 if start else (end - start).bit_length()
        while start + (1 << level) > end:
            level -= 1
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def position(level: int, index: int) -> int:
    """Where node ``(level, index)`` comes in the order appends complete nodes (post-order:
    a leaf, then each subtree that leaf completes, lowest first), from 0.

    Appending leaf ``m`` completes its own node and the ``t`` parents above it (``t`` the
    trailing one bits of ``m``): the nodes of a tree of ``m`` leaves number
    ``2m - popcount(m)``. The node is the ``level``-th of those written when its last leaf
    went in, so the nodes an append writes have consecutive positions, and a table keyed
    by position grows at one end only.
    """
    n = (index + 1) << level  # leaves in the tree when this node was completed
    completed_with_it = (n & -n).bit_length() - 1  # levels above 0 its last leaf completed
    return 2 * n - n.bit_count() - 1 - (completed_with_it - level)


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from the hashes of its ``range_nodes`` (right to left)."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def proof_nodes(ranges: Sequence[Range]) -> list[Node]:
    """Every aligned subtree node needed to compute ``ranges`` (duplicates removed)."""
    seen: dict[Node, None] = {}
    for start, end in ranges:
        for node in range_nodes(start, end):
            seen.setdefault(node)
    return list(seen)


def hashes_for(ranges: Sequence[Range], nodes: Mapping[Node, bytes]) -> list[bytes]:
    """The MTH of each range from looked-up node hashes. Raises KeyError when one is missing."""
    return [fold([nodes[n] for n in range_nodes(s, e)]) for s, e in ranges]


def tree_root(tree_size: int, lookup: Callable[[Sequence[Node]], Mapping[Node, bytes]]) -> bytes:
    """MTH(D[tree_size]) from a node look-up (one call, O(log n) nodes)."""
    if tree_size == 0:
        return EMPTY_ROOT
    nodes = range_nodes(0, tree_size)
    found = lookup(nodes)
    return fold([found[n] for n in nodes])


def append_nodes(frontier: Sequence[tuple[int, int, bytes]], tree_size: int,
                 new_leaf_hashes: Sequence[bytes]) -> tuple[list[tuple[int, int, bytes]],
                                                            list[tuple[int, int, bytes]]]:
    """The nodes completed by appending leaves to a tree of ``tree_size``.

    ``frontier`` is ``(level, index, hash)`` for ``range_nodes(0, tree_size)`` (the right
    edge of the tree). Returns ``(new_nodes, new_frontier)``; new nodes include level 0.
    """
    stack = list(frontier)
    created: list[tuple[int, int, bytes]] = []
    for offset, h in enumerate(new_leaf_hashes):
        current = (0, tree_size + offset, h)
        created.append(current)
        while stack and stack[-1][0] == current[0]:
            left = stack.pop()
            current = (current[0] + 1, current[1] >> 1, node_hash(left[2], current[2]))
            created.append(current)
        stack.append(current)
    return created, stack


# --- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ------------------------------------------


def root_from_inclusion_proof(*, leaf_index: int, tree_size: int, leaf: bytes,
                              proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to. Raises ProofInvalid when it cannot lead anywhere."""
    if not 0 <= leaf_index < tree_size <= MAX_TREE_SIZE:
        raise ProofInvalid(f"leaf index {leaf_index} is outside a tree of size {tree_size}")
    _check_hashes(leaf, *proof)
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofInvalid("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofInvalid("the inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(*, leaf_index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes],
                     root: bytes) -> None:
    """Check that ``leaf`` (a leaf *hash*) is at ``leaf_index`` in the tree with ``root``.

    Raises ProofInvalid when it is not, or when any input is malformed.
    """
    _check_hashes(root)
    if root_from_inclusion_proof(leaf_index=leaf_index, tree_size=tree_size, leaf=leaf,
                                 proof=proof) != root:
        raise ProofInvalid(f"the inclusion proof for leaf {leaf_index} does not lead to the root "
                           f"of the tree of size {tree_size}")


def verify_consistency(*, first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> None:
    """Check that the tree of size ``first`` is a prefix of the tree of size ``second``.

    Raises ProofInvalid when it is not, or when any input is malformed. The empty tree
    (root SHA-256 of nothing) is a prefix of every tree, with an empty proof.
    """
    if not 0 <= first <= second <= MAX_TREE_SIZE:
        raise ProofInvalid(f"sizes must satisfy 0 <= first <= second, got {first} and {second}")
    _check_hashes(first_root, second_root, *proof)
    if first == 0 or first == second:
        if proof:
            raise ProofInvalid("a consistency proof from an empty or equal tree must be empty")
        if first == 0 and first_root != EMPTY_ROOT:
            raise ProofInvalid("the first root is not the root of the empty tree")
        if first == second and first_root != second_root:
            raise ProofInvalid("two trees of the same size have different roots")
        return
    if not proof:
        raise ProofInvalid("the consistency proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:  # first is an exact power of 2
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofInvalid("the consistency proof is longer than needed")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofInvalid("the consistency proof is shorter than needed")
    if fr != first_root:
        raise ProofInvalid(f"the consistency proof does not lead to the root of size {first}")
    if sr != second_root:
        raise ProofInvalid(f"the consistency proof does not lead to the root of size {second}")


def _check_index(index: int, tree_size: int) -> None:
    if not 0 <= index < tree_size <= MAX_TREE_SIZE:
        raise ValueError(f"leaf index {index} is outside a tree of size {tree_size}")


def _check_hashes(*hashes: bytes) -> None:
    for h in hashes:
        if not isinstance(h, bytes | bytearray) or len(h) != HASH_SIZE:
            raise ProofInvalid(f"a hash must be {HASH_SIZE} bytes")
