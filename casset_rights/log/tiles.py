"""The log as C2SP ``tlog-tiles``: tile paths, and tiles and entry bundles read from storage.

A tile at level ``L``, index ``N`` holds the hashes of the aligned complete subtrees at
Merkle level ``8·L`` with indexes ``N·256 … N·256 + W - 1`` (``W`` = 256 for a full tile,
1–255 for a partial one): exactly the ``log_nodes`` rows of that level, so a tile is one
query and nothing is recomputed. An entry bundle is the leaves' bytes of the level-0 tile,
each prefixed by its length as a big-endian uint16.

Paths (``tile_path``/``parse_tile_path``) follow the spec: ``tile/<L>/<N>[.p/<W>]`` and
``tile/entries/<N>[.p/<W>]``, with ``N`` in zero-padded groups of three digits, every group
but the last prefixed by ``x`` (1234067 → ``x001/x234/067``).
"""

from __future__ import annotations

import re
import struct

import msgspec
from sqlalchemy import Connection, Engine

from casset_rights.errors import InvalidInput, NotFound
from casset_rights.log import merkle
from casset_rights.log.tables import log_leaves, log_nodes

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # 256 hashes, 8,192 bytes
MAX_TILE_LEVEL = 63
MAX_ENTRY_SIZE = 0xFFFF  # an entry bundle's length prefix is a uint16
ENTRIES = "entries"
_GROUP = re.compile(r"x\d{3}")
_LAST = re.compile(r"\d{3}")
_LEVEL = re.compile(r"0|[1-9]\d?")
_WIDTH = re.compile(r"[1-9]\d{0,2}")


class TileAddress(msgspec.Struct, frozen=True, kw_only=True):
    """One tile or entry bundle: ``level`` is None for an entry bundle; ``width`` is
    None for a full tile (256)."""

    level: int | None
    index: int
    width: int | None = None

    @property
    def count(self) -> int:
        return TILE_WIDTH if self.width is None else self.width

    @property
    def path(self) -> str:
        return tile_path(self.level, self.index, self.width)


class EntryTooLarge(InvalidInput):
    """A leaf longer than 65,535 bytes cannot be put in an entry bundle."""

    code = "entry_too_large"


def encode_index(index: int) -> str:
    """``N`` as the spec writes it: 3-digit groups, all but the last prefixed by ``x``."""
    if index < 0:
        raise ValueError(f"a tile index is not negative, got {index}")
    groups = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        groups.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(groups))


def tile_path(level: int | None, index: int, width: int | None = None) -> str:
    """``tile/<L>/<N>[.p/<W>]``, or ``tile/entries/<N>[.p/<W>]`` when ``level`` is None."""
    head = ENTRIES if level is None else str(level)
    tail = "" if width is None or width == TILE_WIDTH else f".p/{width}"
    return f"tile/{head}/{encode_index(index)}{tail}"


def parse_tile_path(path: str) -> TileAddress:
    """The tile a path (after ``tile/``) names, e.g. ``0/x001/234.p/7`` or ``entries/000``.

    Raises NotFound when the path is not a tile path in the spec's exact spelling (no
    leading zeroes in ``L`` or ``W``, 3-digit groups).
    """
    parts = path.strip("/").split("/")
    width = None
    if len(parts) >= 3 and parts[-2].endswith(".p"):
        if not _WIDTH.fullmatch(parts[-1]) or int(parts[-1]) >= TILE_WIDTH:
            raise NotFound(f"no tile at {path!r}: a partial width is 1 to 255")
        width = int(parts[-1])
        parts = [*parts[:-2], parts[-2][:-2]]
    if len(parts) < 2:
        raise NotFound(f"no tile at {path!r}")
    head, groups = parts[0], parts[1:]
    if not (all(_GROUP.fullmatch(g) for g in groups[:-1]) and _LAST.fullmatch(groups[-1])):
        raise NotFound(f"no tile at {path!r}: the index is 3-digit groups, x-prefixed "
                       "but the last")
    index = int("".join(g.lstrip("x") for g in groups))
    if encode_index(index) != "/".join(groups):  # e.g. a leading x000 group
        raise NotFound(f"no tile at {path!r}: the index is not in its shortest spelling")
    if head == ENTRIES:
        return TileAddress(level=None, index=index, width=width)
    if not _LEVEL.fullmatch(head) or int(head) > MAX_TILE_LEVEL:
        raise NotFound(f"no tile at {path!r}: a level is 0 to 63")
    return TileAddress(level=int(head), index=index, width=width)


def tile_hashes_below(level: int, tree_size: int) -> int:
    """How many hashes of tile level ``level`` a tree of ``tree_size`` completes."""
    return tree_size >> (TILE_HEIGHT * level)


def exists_in(address: TileAddress, tree_size: int) -> bool:
    """Whether a tree of ``tree_size`` holds this tile (full, or partial of exactly a
    width some tree up to that size has)."""
    level = 0 if address.level is None else address.level
    end = address.index * TILE_WIDTH + address.count
    return end <= tile_hashes_below(level, tree_size)


def entry_bundle(entries: list[bytes]) -> bytes:
    """Entries as a bundle: each prefixed by its length (big-endian uint16). Raises
    EntryTooLarge for an entry over 65,535 bytes."""
    out = bytearray()
    for data in entries:
        if len(data) > MAX_ENTRY_SIZE:
            raise EntryTooLarge(f"an entry of {len(data)} bytes does not fit an entry bundle "
                                f"(at most {MAX_ENTRY_SIZE})")
        out += struct.pack(">H", len(data))
        out += data
    return bytes(out)


def split_entry_bundle(bundle: bytes) -> list[bytes]:
    """The entries of a bundle. Raises InvalidInput when a length runs past the end."""
    entries, at = [], 0
    while at < len(bundle):
        if at + 2 > len(bundle):
            raise InvalidInput("the entry bundle ends inside a length prefix")
        (size,) = struct.unpack_from(">H", bundle, at)
        if at + 2 + size > len(bundle):
            raise InvalidInput("the entry bundle ends inside an entry")
        entries.append(bundle[at + 2: at + 2 + size])
        at += 2 + size
    return entries


class TileReader:
    """Tiles and entry bundles of the log in the database (``log_leaves``/``log_nodes``).

    ``read(address, tree_size)`` answers only what a tree of ``tree_size`` (the log's
    integrated size) holds; every tile it answers is final: rows are never changed.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def read(self, address: TileAddress, tree_size: int) -> bytes:
        """The tile's bytes. Raises NotFound when the tree does not hold it yet;
        EntryTooLarge for an entry bundle with a leaf over 65,535 bytes."""
        if not exists_in(address, tree_size):
            raise NotFound(f"the log of size {tree_size} has no {address.path}")
        with self._engine.connect() as conn:
            if address.level is None:
                return entry_bundle(_leaf_data(conn, address))
            return b"".join(_tile_hashes(conn, address))


def _leaf_data(conn: Connection, address: TileAddress) -> list[bytes]:
    start = address.index * TILE_WIDTH
    rows = conn.exec_driver_sql(
        f"SELECT idx, data FROM {log_leaves.name} WHERE idx >= {start} "
        f"AND idx < {start + address.count} ORDER BY idx").all()
    if len(rows) != address.count:
        raise LookupError(f"log storage is missing leaves of {address.path}")
    return [bytes(row[1]) for row in rows]


def _tile_hashes(conn: Connection, address: TileAddress) -> list[bytes]:
    level = TILE_HEIGHT * (address.level or 0)
    first = address.index * TILE_WIDTH
    # Positions are ints computed here (safe to inline; see service._lookup for why text).
    wanted = {merkle.position(level, first + i): i for i in range(address.count)}
    rows = conn.exec_driver_sql(f"SELECT pos, hash FROM {log_nodes.name} "
                                f"WHERE pos IN ({', '.join(map(str, wanted))})")
    found = {wanted[row[0]]: bytes(row[1]) for row in rows}
    if len(found) != address.count:
        raise LookupError(f"log storage is missing subtree hashes of {address.path}")
    return [found[i] for i in range(address.count)]
