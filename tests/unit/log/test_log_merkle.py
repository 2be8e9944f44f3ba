"""Merkle hashing and proofs: the RFC 6962 reference vectors, the RFC's own recursive
definitions as the reference, and every way a proof must fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from merkle_reference import MemoryTree, mth, path, proof, tree_of

from casset_rights.log import merkle
from casset_rights.log.errors import ProofInvalid

VECTORS = json.loads((Path(__file__).parents[2] / "assets" / "rfc6962_merkle_vectors.json")
                     .read_text())
LEAVES = [bytes.fromhex(x) for x in VECTORS["leaves"]]
ROOTS = [bytes.fromhex(x) for x in VECTORS["roots"]]
H = bytes.fromhex
BIG = tree_of(300)


def _hashes(hexes: list[str]) -> list[bytes]:
    return [bytes.fromhex(x) for x in hexes]


# --- golden vectors ---------------------------------------------------------------------------


def test_roots_of_the_reference_leaves() -> None:
    tree = MemoryTree()
    assert tree.root(0) == ROOTS[0] == merkle.EMPTY_ROOT
    for size, data in enumerate(LEAVES, start=1):
        tree.append(data)
        assert tree.root(size) == ROOTS[size]
        assert merkle.root_of([merkle.leaf_hash(d) for d in LEAVES[:size]]) == ROOTS[size]


def test_stored_subtree_hashes_are_the_reference_node_hashes() -> None:
    tree = MemoryTree()
    for data in LEAVES:
        tree.append(data)
    expected = {(level, i): H(h) for level, row in enumerate(VECTORS["node_hashes"])
                for i, h in enumerate(row)}
    assert tree.nodes == expected


@settings(max_examples=200, deadline=None)
@given(size=st.integers(0, 5000), batch=st.integers(1, 70))
def test_the_nodes_an_append_completes_take_the_next_positions(size: int, batch: int) -> None:
    """Positions number every node once, in the order appends complete them: the nodes
    of a tree of ``size`` leaves are 0 .. 2·size − popcount(size) − 1, and appending more
    leaves writes exactly the positions that follow."""
    leaves = [bytes([i % 251]) * 32 for i in range(size + batch)]
    frontier: list[tuple[int, int, bytes]] = []
    before, frontier = merkle.append_nodes(frontier, 0, leaves[:size])
    appended, _ = merkle.append_nodes(frontier, size, leaves[size:])
    positions = [merkle.position(level, idx) for level, idx, _ in before + appended]
    assert positions == list(range(len(positions)))
    assert len(before) == 2 * size - size.bit_count()


@pytest.mark.parametrize("case", VECTORS["inclusion_proofs"],
                         ids=lambda c: f"{c['leaf_index']}-of-{c['tree_size']}")
def test_inclusion_proofs_match_the_reference(case: dict) -> None:
    tree = tree_of(0)
    for data in LEAVES:
        tree.append(data)
    index, size, want = case["leaf_index"], case["tree_size"], _hashes(case["path"])
    assert tree.inclusion(index, size) == want
    merkle.verify_inclusion(leaf_index=index, tree_size=size, leaf=merkle.leaf_hash(LEAVES[index]),
                            proof=want, root=ROOTS[size])


@pytest.mark.parametrize("case", VECTORS["consistency_proofs"],
                         ids=lambda c: f"{c['first']}-to-{c['second']}")
def test_consistency_proofs_match_the_reference(case: dict) -> None:
    tree = MemoryTree()
    for data in LEAVES:
        tree.append(data)
    first, second, want = case["first"], case["second"], _hashes(case["path"])
    assert tree.consistency(first, second) == want
    merkle.verify_consistency(first=first, second=second, first_root=ROOTS[first],
                              second_root=ROOTS[second], proof=want)


# --- exhaustive agreement with the RFC's definitions -------------------------------------------


def test_every_inclusion_proof_up_to_300_leaves_verifies() -> None:
    for size in range(1, 301):
        root = BIG.root(size)
        for index in range(size):
            hashes = BIG.inclusion(index, size)
            merkle.verify_inclusion(leaf_index=index, tree_size=size, leaf=BIG.leaves[index],
                                    proof=hashes, root=root)


def test_every_consistency_proof_up_to_300_leaves_verifies() -> None:
    roots = [BIG.root(n) for n in range(301)]
    for second in range(301):
        for first in range(second + 1):
            merkle.verify_consistency(first=first, second=second, first_root=roots[first],
                                      second_root=roots[second],
                                      proof=BIG.consistency(first, second))


def test_stored_proofs_equal_the_recursive_definitions_up_to_70_leaves() -> None:
    for size in range(0, 71):
        d = BIG.leaves[:size]
        assert BIG.root(size) == mth(d)
        for m in range(size):
            assert BIG.inclusion(m, size) == path(m, d)
        for m in range(size + 1):
            assert BIG.consistency(m, size) == proof(m, d)


# --- properties: any change makes verification fail --------------------------------------------

sizes = st.integers(min_value=1, max_value=300)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_flipping_any_bit_of_an_inclusion_proof_or_leaf_fails(data: st.DataObject) -> None:
    size = data.draw(sizes)
    index = data.draw(st.integers(0, size - 1))
    hashes = BIG.inclusion(index, size)
    root, leaf = BIG.root(size), BIG.leaves[index]
    items = [leaf, root, *hashes]
    which = data.draw(st.integers(0, len(items) - 1))
    bit = data.draw(st.integers(0, 255))
    items[which] = _flip(items[which], bit)
    with pytest.raises(ProofInvalid):
        merkle.verify_inclusion(leaf_index=index, tree_size=size, leaf=items[0],
                                proof=items[2:], root=items[1])


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_flipping_any_bit_of_a_consistency_proof_or_root_fails(data: st.DataObject) -> None:
    second = data.draw(st.integers(2, 300))
    first = data.draw(st.integers(1, second - 1))
    hashes = BIG.consistency(first, second)
    items = [BIG.root(first), BIG.root(second), *hashes]
    which = data.draw(st.integers(0, len(items) - 1))
    items[which] = _flip(items[which], data.draw(st.integers(0, 255)))
    with pytest.raises(ProofInvalid):
        merkle.verify_consistency(first=first, second=second, first_root=items[0],
                                  second_root=items[1], proof=items[2:])


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_a_proof_for_other_coordinates_fails(data: st.DataObject) -> None:
    size = data.draw(st.integers(2, 300))
    index = data.draw(st.integers(0, size - 1))
    hashes = BIG.inclusion(index, size)
    other_index = data.draw(st.integers(0, size + 3).filter(lambda i: i != index))
    with pytest.raises(ProofInvalid):
        merkle.verify_inclusion(leaf_index=other_index, tree_size=size, leaf=BIG.leaves[index],
                                proof=hashes, root=BIG.root(size))
    # A tree of another depth (RFC 9162's verifier checks the proof length against it).
    for other_size in (size * 2, size // 2):
        if index < other_size:
            with pytest.raises(ProofInvalid):
                merkle.verify_inclusion(leaf_index=index, tree_size=other_size,
                                        leaf=BIG.leaves[index], proof=hashes, root=BIG.root(size))


# --- the edge cases of RFC 9162's algorithms ----------------------------------------------------

ROOT5 = ROOTS[5]


@pytest.mark.parametrize("proof_change", ["drop-last", "add-garbage", "add-root", "prepend-root",
                                          "short-hash"])
def test_inclusion_proof_manglings_fail(proof_change: str) -> None:
    tree = MemoryTree()
    for data in LEAVES:
        tree.append(data)
    good = tree.inclusion(1, 5)
    bad = {"drop-last": good[:-1], "add-garbage": [*good, b"\x00" * 32],
           "add-root": [*good, ROOT5], "prepend-root": [ROOT5, *good],
           "short-hash": [good[0][:31], *good[1:]]}[proof_change]
    with pytest.raises(ProofInvalid):
        merkle.verify_inclusion(leaf_index=1, tree_size=5, leaf=tree.leaves[1], proof=bad,
                                root=ROOT5)


@pytest.mark.parametrize(("first", "second", "first_root", "second_root", "hashes"), [
    (0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [merkle.EMPTY_ROOT]),  # must be empty
    (1, 1, ROOTS[1], ROOTS[2], []),  # same size, different roots
    (0, 3, ROOTS[1], ROOTS[3], []),  # size 0 has the empty root only
    (2, 1, ROOTS[2], ROOTS[1], []),  # time travel
    (1, 2, ROOTS[1], ROOTS[2], []),  # empty proof
    (2, 5, ROOTS[2], ROOTS[5], [ROOTS[1]]),  # wrong proof
])
def test_consistency_edge_cases_fail(first: int, second: int, first_root: bytes,
                                     second_root: bytes, hashes: list[bytes]) -> None:
    with pytest.raises(ProofInvalid):
        merkle.verify_consistency(first=first, second=second, first_root=first_root,
                                  second_root=second_root, proof=hashes)


def test_trivial_consistency_holds() -> None:
    merkle.verify_consistency(first=0, second=0, first_root=merkle.EMPTY_ROOT,
                              second_root=merkle.EMPTY_ROOT, proof=[])
    merkle.verify_consistency(first=0, second=5, first_root=merkle.EMPTY_ROOT,
                              second_root=ROOT5, proof=[])
    merkle.verify_consistency(first=5, second=5, first_root=ROOT5, second_root=ROOT5, proof=[])


def test_inclusion_outside_the_tree_fails() -> None:
    leaf = merkle.leaf_hash(b"")
    for index, size in [(0, 0), (1, 1), (5, 3), (-1, 3)]:
        with pytest.raises(ProofInvalid):
            merkle.verify_inclusion(leaf_index=index, tree_size=size, leaf=leaf, proof=[],
                                    root=leaf)


def _flip(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8 % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


@given(st.binary(max_size=2048))
def test_the_queue_hashes_a_leaf_as_the_log_does(data: bytes) -> None:
    """A receipt's row holds the hash its leaf will have, computed by the queue (which
    imports no log code): the same function of the bytes as the log's."""
    from casset_rights import log_queue

    assert log_queue.leaf_hash(data) == merkle.leaf_hash(data)
