"""Proofs computed from C2SP tlog-tiles at 10,000,000 leaves.

What is measured:

1. **building the tiles** of a synthetic 10 M-leaf log: leaf ``i`` is the 8 bytes of ``i``
   (big-endian), hashed as RFC 9162 leaves; every full tile at every level and the partial
   tiles of the tree size are built as the spec defines them (a level-``l+1`` hash is the
   Merkle root of a full level-``l`` tile), and written as files under a folder in the
   spec's paths, as a static host or a CDN would serve them. Building is not the point
   (the log reads its tiles straight from ``log_nodes``); it is timed for the record.
2. **an inclusion proof from tiles**, as ``casset-rights verify --tiles`` computes it:
   a new ``TiledLog`` per proof (nothing cached between proofs), reading the tiles it
   needs from the folder (each a file read), rebuilding the inner hashes, then checking
   the proof against the root; and the same with the tiles already in memory (pure
   computation). Also a consistency proof from a random earlier size.

Every proof is verified against the root the tiles give, and that root is checked once
against an independent fold of the level-0 tiles' roots.

Run from the repository root, on a quiet machine (about a minute, 400 MB of tiles in a
temporary folder, removed after)::

    .venv/bin/python benchmarks/tiles_bench.py [--leaves 10000000] [--proofs 2000]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import cpu_model, load_average

from casset_rights.log import merkle
from casset_rights.log.tiles import TILE_WIDTH, tile_path
from casset_rights.log.tiles_client import TiledLog, verify_inclusion_from_tiles

_sha = hashlib.sha256


def tile_root(hashes: list[bytes]) -> bytes:
    """The Merkle root of a full tile's 256 hashes (a perfect subtree)."""
    while len(hashes) > 1:
        hashes = [_sha(b"\x01" + hashes[i] + hashes[i + 1]).digest()
                  for i in range(0, len(hashes), 2)]
    return hashes[0]


def build_tiles(leaves: int, folder: Path) -> tuple[int, dict[str, bytes]]:
    """Write every tile of a tree of ``leaves`` synthetic leaves under ``folder``; returns
    the count of tiles and the tiles in memory."""
    tiles: dict[str, bytes] = {}
    level_hashes: list[bytes] = []
    for start in range(0, leaves, TILE_WIDTH):
        count = min(TILE_WIDTH, leaves - start)
        hashes = [_sha(b"\x00" + i.to_bytes(8, "big")).digest()
                  for i in range(start, start + count)]
        tiles[tile_path(0, start // TILE_WIDTH, count)] = b"".join(hashes)
        if count == TILE_WIDTH:
            level_hashes.append(tile_root(hashes))
    level = 1
    while level_hashes:
        above: list[bytes] = []
        for start in range(0, len(level_hashes), TILE_WIDTH):
            chunk = level_hashes[start:start + TILE_WIDTH]
            tiles[tile_path(level, start // TILE_WIDTH, len(chunk))] = b"".join(chunk)
            if len(chunk) == TILE_WIDTH:
                above.append(tile_root(chunk))
        level_hashes, level = above, level + 1
    for path, data in tiles.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return len(tiles), tiles


def independent_root(tiles: dict[str, bytes], leaves: int) -> bytes:
    """MTH of the tree by the RFC's definition over the full level-0 tiles' roots and
    the last partial tile's leaves (a perfect subtree per full tile)."""
    stack: list[tuple[int, bytes]] = []  # (leaves covered, hash): the right edge

    def push(size: int, h: bytes) -> None:
        while stack and stack[-1][0] == size:
            left = stack.pop()
            h, size = merkle.node_hash(left[1], h), size * 2
        stack.append((size, h))

    for n in range(leaves // TILE_WIDTH):
        data = tiles[tile_path(0, n)]
        push(TILE_WIDTH, tile_root([data[i:i + 32] for i in range(0, len(data), 32)]))
    rest = leaves % TILE_WIDTH
    if rest:
        data = tiles[tile_path(0, leaves // TILE_WIDTH, rest)]
        for i in range(rest):
            push(1, data[32 * i:32 * i + 32])
    acc = stack[-1][1]
    for _, h in reversed(stack[:-1]):
        acc = merkle.node_hash(h, acc)
    return acc


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"{p50 * 1000:.2f} | {p99 * 1000:.2f} | {ordered[-1] * 1000:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leaves", type=int, default=10_000_000)
    parser.add_argument("--proofs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"load average before: {load_average()}; CPU: {cpu_model()}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        began = time.perf_counter()
        count, tiles = build_tiles(args.leaves, folder)
        built = time.perf_counter() - began
        root = TiledLog(tiles.__getitem__, args.leaves).root()
        assert root == independent_root(tiles, args.leaves), "the tiles' root is wrong"

        def from_files(path: str) -> bytes:
            return (folder / path).read_bytes()

        rows = []
        for name, fetch in (("tiles read from files", from_files),
                            ("tiles in memory", tiles.__getitem__)):
            inclusion, consistency, fetched = [], [], []
            for _ in range(args.proofs):
                index = rng.randrange(args.leaves)
                leaf = _sha(b"\x00" + index.to_bytes(8, "big")).digest()
                t0 = time.perf_counter()
                log = TiledLog(fetch, args.leaves)
                verify_inclusion_from_tiles(log, index=index, leaf=leaf, root=root)
                inclusion.append(time.perf_counter() - t0)
                fetched.append(len(log.fetched))
                first = rng.randrange(1, args.leaves)
                t0 = time.perf_counter()
                proof = TiledLog(fetch, args.leaves).consistency_proof(first)
                consistency.append(time.perf_counter() - t0)
                assert proof or first == args.leaves
            rows.append(f"| inclusion proof, {name} | {percentiles(inclusion)} | "
                        f"{statistics.mean(fetched):.1f} |")
            rows.append(f"| consistency proof, {name} | {percentiles(consistency)} | |")
    print(f"\n{args.leaves:,} leaves: {count:,} tiles built and written in {built:.1f} s; "
          f"{args.proofs:,} proofs of each kind, every inclusion proof verified\n")
    print("| proof (a new TiledLog each, nothing cached) | p50 ms | p99 ms | max ms | "
          "tiles read |")
    print("| --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print(f"\ncommand: .venv/bin/python benchmarks/tiles_bench.py "
          f"{shlex.join(sys.argv[1:])}".rstrip())
    print(f"load average after: {load_average()}", file=sys.stderr)


if __name__ == "__main__":
    main()
