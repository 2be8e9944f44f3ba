"""C2SP tlog-tiles: paths in the spec's spelling, tiles read from the log's tables checked
against the spec's definition computed independently (``mth`` of the RFC over the leaf
list), proofs computed from tiles against the RFC 6962 vectors and the log's own proofs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from merkle_reference import mth
from sqlalchemy import Engine

from casset_rights.errors import NotFound
from casset_rights.log import TransparencyLog, merkle
from casset_rights.log.errors import ProofInvalid
from casset_rights.log.service import LeafInput
from casset_rights.log.tiles import (
    EntryTooLarge,
    TileAddress,
    TileReader,
    encode_index,
    entry_bundle,
    exists_in,
    parse_tile_path,
    split_entry_bundle,
    tile_path,
)
from casset_rights.log.tiles_client import TiledLog, verify_inclusion_from_tiles

VECTORS = json.loads((Path(__file__).parents[2] / "assets" / "rfc6962_merkle_vectors.json")
                     .read_text())


def spec_tile(leaf_hashes: list[bytes], level: int, index: int, width: int) -> bytes:
    """The spec's formula: MTH(D[(n·256 + i)·256^l : (n·256 + i + 1)·256^l]), i < width."""
    span = 256 ** level
    return b"".join(mth(leaf_hashes[(index * 256 + i) * span:(index * 256 + i + 1) * span])
                    for i in range(width))


def fetch_from(log: TransparencyLog):  # type: ignore[no-untyped-def]
    return lambda path: log.tile(path.removeprefix("tile/"))[1]


# --- paths -----------------------------------------------------------------------------------


def test_paths_in_the_specs_spelling() -> None:
    assert encode_index(1234067) == "x001/x234/067"
    assert encode_index(0) == "000" and encode_index(999) == "999"
    assert encode_index(1000) == "x001/000"
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(2, 5, 17) == "tile/2/005.p/17"
    assert tile_path(None, 3, 256) == "tile/entries/003"
    assert parse_tile_path("0/x001/x234/067") == TileAddress(level=0, index=1234067)
    assert parse_tile_path("entries/005.p/17") == TileAddress(level=None, index=5, width=17)
    for address in (TileAddress(level=1, index=70), TileAddress(level=None, index=10**7,
                                                                 width=255)):
        assert parse_tile_path(address.path.removeprefix("tile/")) == address


@pytest.mark.parametrize("path", [
    "00/000",  # a level has no leading zeroes
    "64/000",  # levels are 0..63
    "0/1",  # 3-digit groups
    "0/x000/001",  # not the shortest spelling
    "0/001/002",  # every group but the last has its x
    "0/000.p/0", "0/000.p/256", "0/000.p/007",  # widths 1..255, no leading zeroes
    "0", "entries", "tiles/0/000",
])
def test_other_spellings_are_no_tile(path: str) -> None:
    with pytest.raises(NotFound):
        parse_tile_path(path)


def test_the_specs_example_tree_of_70000() -> None:
    size = 70_000
    full0 = [n for n in range(300) if exists_in(TileAddress(level=0, index=n), size)]
    assert len(full0) == 273
    assert exists_in(TileAddress(level=0, index=273, width=112), size)
    assert not exists_in(TileAddress(level=0, index=273, width=113), size)
    assert exists_in(TileAddress(level=1, index=0), size)
    assert exists_in(TileAddress(level=1, index=1, width=17), size)
    assert not exists_in(TileAddress(level=1, index=1), size)
    assert exists_in(TileAddress(level=2, index=0, width=1), size)
    assert not exists_in(TileAddress(level=2, index=0, width=2), size)
    # A tree of 256: a full level-0 tile and a level-1 partial tile of width 1.
    assert exists_in(TileAddress(level=0, index=0), 256)
    assert exists_in(TileAddress(level=1, index=0, width=1), 256)


def test_entry_bundles_are_uint16_length_prefixed() -> None:
    entries = [b"", b"a", b"\x00" * 300, bytes(range(256)) * 255 + b"x" * 255]
    bundle = entry_bundle(entries)
    assert bundle[:2] == b"\x00\x00" and bundle[2:5] == b"\x00\x01a"
    assert split_entry_bundle(bundle) == entries
    with pytest.raises(EntryTooLarge):
        entry_bundle([b"x" * 65536])


# --- tiles from the database against the spec's definition ----------------------------------


def test_tiles_and_bundles_of_the_database_log_are_the_specs(log: TransparencyLog,
                                                             engine: Engine) -> None:
    data = [f"leaf {i}".encode() * (1 + i % 7) for i in range(600)]
    log.append_many([LeafInput("receipt", f"j{i}", d) for i, d in enumerate(data)])
    hashes = [merkle.leaf_hash(d) for d in data]
    reader = TileReader(engine)
    for level, index, width in [(0, 0, 256), (0, 1, 256), (0, 2, 88), (0, 2, 1), (1, 0, 2)]:
        address = TileAddress(level=level, index=index, width=None if width == 256 else width)
        assert reader.read(address, 600) == spec_tile(hashes, level, index, width), address
    assert split_entry_bundle(reader.read(TileAddress(level=None, index=1), 600)) == data[256:512]
    assert split_entry_bundle(reader.read(TileAddress(level=None, index=2, width=88), 600)) == \
        data[512:600]
    for missing in [TileAddress(level=0, index=2), TileAddress(level=0, index=2, width=89),
                    TileAddress(level=1, index=0, width=3), TileAddress(level=None, index=3,
                                                                        width=1)]:
        with pytest.raises(NotFound):
            reader.read(missing, 600)


def test_proofs_from_tiles_are_the_rfc6962_vectors(log: TransparencyLog) -> None:
    roots = [bytes.fromhex(r) for r in VECTORS["roots"]]
    for i, hexdata in enumerate(VECTORS["leaves"]):
        log.append("manifest", f"m{i}", bytes.fromhex(hexdata))
    for size in range(9):
        assert TiledLog(fetch_from(log), size).root() == roots[size]
    for case in VECTORS["inclusion_proofs"]:
        tiles = TiledLog(fetch_from(log), case["tree_size"])
        assert [h.hex() for h in tiles.inclusion_proof(case["leaf_index"])] == case["path"]
    for case in VECTORS["consistency_proofs"]:
        tiles = TiledLog(fetch_from(log), case["second"])
        assert [h.hex() for h in tiles.consistency_proof(case["first"])] == case["path"]


def test_a_lying_tile_fails_the_proof(log: TransparencyLog) -> None:
    log.append_many([LeafInput("receipt", f"j{i}", f"{i}".encode()) for i in range(300)])
    root = log.root()
    leaf = merkle.leaf_hash(b"7")

    def lying(path: str) -> bytes:
        tile = bytearray(fetch_from(log)(path))
        tile[40] ^= 1  # the second hash of every tile
        return bytes(tile)

    verify_inclusion_from_tiles(TiledLog(fetch_from(log), 300), index=7, leaf=leaf, root=root)
    with pytest.raises(ProofInvalid):
        verify_inclusion_from_tiles(TiledLog(lying, 300), index=7, leaf=leaf, root=root)
    with pytest.raises(ProofInvalid):  # a truncated tile
        TiledLog(lambda p: fetch_from(log)(p)[:-1], 300).inclusion_proof(7)


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> TransparencyLog:
    """One SQLite log of 700 leaves for the property test (pure reads)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from casset_rights.db.engine import make_engine
    from casset_rights.db.tables import metadata

    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('tiles') / 'log.db'}")
    metadata.create_all(engine)
    log = TransparencyLog(engine, origin="tiles.test/log",
                          signing_key=Ed25519PrivateKey.generate())
    log.append_many([LeafInput("receipt", f"j{i}", f"leaf {i}".encode()) for i in range(700)])
    return log


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_proofs_from_tiles_equal_the_logs_at_any_size(grown: TransparencyLog,
                                                      data: st.DataObject) -> None:
    size = data.draw(st.integers(1, 700))
    index = data.draw(st.integers(0, size - 1))
    first = data.draw(st.integers(0, size))
    tiles = TiledLog(fetch_from(grown), size)
    assert tiles.root() == grown.root(size)
    assert tuple(tiles.inclusion_proof(index)) == grown.inclusion_proof(index, size).hashes
    assert tuple(tiles.consistency_proof(first)) == grown.consistency_proof(first, size).hashes


@pytest.mark.slow
def test_full_level_one_tiles_of_a_log_past_65536(engine: Engine, log: TransparencyLog) -> None:
    count = 256 * 256 + 300
    for start in range(0, count, 10_000):
        log.append_many([LeafInput("receipt", f"j{i}", i.to_bytes(4, "big"))
                         for i in range(start, min(count, start + 10_000))])
    hashes = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(count)]
    reader = TileReader(engine)
    assert reader.read(TileAddress(level=1, index=0), count) == spec_tile(hashes, 1, 0, 256)
    assert reader.read(TileAddress(level=1, index=1, width=1), count) == \
        spec_tile(hashes, 1, 1, 1)
    assert reader.read(TileAddress(level=2, index=0, width=1), count) == \
        spec_tile(hashes, 2, 0, 1)
    tiles = TiledLog(fetch_from(log), count)
    assert tiles.root() == log.root()
    assert tuple(tiles.inclusion_proof(65_000)) == log.inclusion_proof(65_000).hashes
