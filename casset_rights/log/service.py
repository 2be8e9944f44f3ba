"""``TransparencyLog``: the append-only Merkle log of receipts, manifests and policies.

Writers do not append: they queue entries (``log.pending``) in the transaction of the
record they log, and one sequencer (``log.sequencer``) integrates the queue in batches
with ``integrate``. Appends are still sequenced by the database, so a second integrator
would be safe, only slower: on PostgreSQL every append transaction first takes a
transaction-level advisory lock (``pg_advisory_xact_lock``), on SQLite it begins
``IMMEDIATE`` (the write lock is taken at BEGIN), then reads the size and inserts. Indexes
are therefore contiguous, and the primary key on the index would refuse a duplicate even
if the lock were bypassed. Leaves and nodes are never updated or deleted.

Each append also writes the hash of every aligned subtree it completes (``log_nodes``), so
``root``, ``inclusion_proof`` and ``consistency_proof`` at any tree size read O(log n) rows
in one query and never rebuild the tree.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, NewType

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine, Row, insert, select, text

from casset_rights.db.bulk import execute, insert_rows
from casset_rights.db.engine import writing
from casset_rights.errors import CassetError, InvalidInput, NotFound
from casset_rights.log import merkle
from casset_rights.log.checkpoint import (
    Checkpoint,
    parse_checkpoint,
    sign_checkpoint,
    verifier_key,
    verify_note,
)
from casset_rights.log.tables import log_checkpoints, log_leaves, log_nodes
from casset_rights.log.tiles import TileAddress, TileReader, parse_tile_path
from casset_rights.log_queue import LeafInput, check_entry, log_pending

LogIndex = NewType("LogIndex", int)

# pg_advisory_xact_lock key: the first 8 bytes of SHA-256("casset_rights.log"), signed.
ADVISORY_LOCK_KEY = 0x62FA_17DE_7C2D_DBA2
_LEAF_COLUMNS = ("idx", "leaf_hash", "kind", "ref", "data", "created_at")
_NODE_COLUMNS = ("pos", "hash")
_SIZE_SQL = f"SELECT max(idx) FROM {log_leaves.name}"
_LAST_LEAF_SQL = f"SELECT idx, leaf_hash FROM {log_leaves.name} ORDER BY idx DESC LIMIT 1"


class LogEntry(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    leaf_hash: bytes
    kind: str
    ref: str
    data: bytes
    created_at: int


class InclusionProof(msgspec.Struct, frozen=True, kw_only=True):
    """RFC 9162 PATH: ``hashes`` lead from ``leaf_hash`` at ``leaf_index`` to the root."""

    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    hashes: tuple[bytes, ...]

    def verify(self, root: bytes) -> None:
        """Raises ProofInvalid unless the proof leads to ``root``."""
        merkle.verify_inclusion(leaf_index=self.leaf_index, tree_size=self.tree_size,
                                leaf=self.leaf_hash, proof=self.hashes, root=root)


class ConsistencyProof(msgspec.Struct, frozen=True, kw_only=True):
    """RFC 9162 PROOF: the tree of size ``first`` is a prefix of the tree of size ``second``."""

    first: int
    second: int
    hashes: tuple[bytes, ...]

    def verify(self, first_root: bytes, second_root: bytes) -> None:
        """Raises ProofInvalid unless the proof links the two roots."""
        merkle.verify_consistency(first=self.first, second=self.second, first_root=first_root,
                                  second_root=second_root, proof=self.hashes)


class Integrated(msgspec.Struct, frozen=True, kw_only=True):
    """One integration pass: how many queued entries it logged, and when the oldest of
    them was queued (unix milliseconds; None when the queue was empty)."""

    count: int
    oldest_ms: int | None


class TransparencyLog:
    """The log in the database, with signed checkpoints.

    A checkpoint is due (``maybe_checkpoint``) when the log grew by ``checkpoint_every_appends``
    leaves or has grown at all and ``checkpoint_every_seconds`` passed since the last one.
    Checkpoints are signed under ``key_name`` (default: the origin) with ``signing_key``.
    """

    def __init__(self, engine: Engine, *, origin: str, signing_key: Ed25519PrivateKey,
                 key_name: str | None = None, checkpoint_every_appends: int = 1000,
                 checkpoint_every_seconds: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        if not origin or "\n" in origin:
            raise InvalidInput("a log origin must be one non-empty line")
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self.origin = origin
        self.key_name = key_name or origin
        self._key = signing_key
        self._every_appends = checkpoint_every_appends
        self._every_seconds = checkpoint_every_seconds
        self._clock = clock
        self._tiles = TileReader(engine)
        # (size, last leaf hash, right edge) after this object's last append; see _frontier.
        self._edge: tuple[int, bytes, list[tuple[int, int, bytes]]] | None = None
        try:
            verifier_key(self.key_name, signing_key.public_key())
        except ValueError as exc:
            raise InvalidInput(f"unusable checkpoint key name: {exc}") from None

    @property
    def verifier_key(self) -> str:
        """The signed-note verifier key to publish: ``<name>+<key id>+<base64 key>``."""
        return verifier_key(self.key_name, self._key.public_key())

    # --- appending ------------------------------------------------------------------------

    def append(self, kind: str, ref: str, data: bytes) -> LogIndex:
        """Append one leaf; returns its index (the existing one if these bytes are logged)."""
        return self.append_many([LeafInput(kind, ref, data)])[0]

    def append_many(self, entries: Sequence[LeafInput]) -> list[LogIndex]:
        """Append leaves in one transaction, in order; returns their indexes."""
        if not entries:
            return []
        with writing(self._engine) as conn:
            return self.append_many_in(conn, entries)

    def append_many_in(self, conn: Connection, entries: Sequence[LeafInput], *,
                       unique_kinds: frozenset[str] = frozenset()) -> list[LogIndex]:
        """Append inside the caller's transaction (the sequencer's, see ``integrate``).

        On SQLite the caller's transaction must hold the write lock already: begun
        ``IMMEDIATE``, or having written before this call. Raises InvalidInput for a bad kind
        or ref; the indexes are final only when the caller commits. Bytes already logged
        get their existing index, unless their kind is in ``unique_kinds`` (a receipt's
        bytes hold its unique id): then the look-up is skipped, and the leaf hash's unique
        constraint still refuses a duplicate.
        """
        for entry in entries:
            check_entry(entry)
        if not entries:
            return []
        self._lock(conn)
        size, last_leaf = _last_leaf(conn)
        hashes = [merkle.leaf_hash(e.data) for e in entries]
        looked_up = {h for e, h in zip(entries, hashes, strict=True)
                     if e.kind not in unique_kinds}
        known: dict[bytes, int] = {} if not looked_up else {
            row.leaf_hash: row.idx for row in conn.execute(
                select(log_leaves.c.leaf_hash, log_leaves.c.idx)
                .where(log_leaves.c.leaf_hash.in_(looked_up)))
        }
        now = int(self._clock())
        indexes: list[LogIndex] = []
        rows: list[tuple[object, ...]] = []
        new_hashes: list[bytes] = []
        for entry, h in zip(entries, hashes, strict=True):
            if h not in known:
                known[h] = size + len(rows)
                rows.append((known[h], h, entry.kind, entry.ref, bytes(entry.data), now))
                new_hashes.append(h)
            indexes.append(LogIndex(known[h]))
        if rows:
            frontier = self._frontier(conn, size, last_leaf)
            created, after = merkle.append_nodes(frontier, size, new_hashes)
            insert_rows(conn, log_leaves, _LEAF_COLUMNS, rows)
            insert_rows(conn, log_nodes, _NODE_COLUMNS,
                        [(merkle.position(level, idx), h) for level, idx, h in created])
            self._edge = (size + len(rows), new_hashes[-1], after)
        return indexes

    def integrate(self, *, max_entries: int,
                  unique_kinds: frozenset[str] = frozenset()) -> Integrated:
        """Move up to ``max_entries`` queued entries (``log.pending``) into the log in one
        transaction, in queue order: their leaves and subtree hashes inserted, the entries
        deleted. Entries whose bytes are already logged keep their first index. The
        records they log are not touched: each finds its leaf by the leaf's hash (a
        receipt's row holds it). Meant for the one sequencer; a concurrent caller is
        still safe (the append lock is taken before the queue is read)."""
        with writing(self._engine) as conn:
            self._lock(conn)
            rows = execute(conn, f"SELECT seq, kind, ref, data, created_at_ms FROM "
                                 f"{log_pending.name} ORDER BY seq LIMIT {int(max_entries)}")
            if not rows:
                return Integrated(count=0, oldest_ms=None)
            entries = [LeafInput(kind, ref, bytes(data)) for _, kind, ref, data, _ in rows]
            self.append_many_in(conn, entries, unique_kinds=unique_kinds)
            # By the sequence numbers read, never a range: on PostgreSQL an entry with a
            # lower number may commit after this pass read the queue.
            if self._postgres:  # one array parameter, not thousands of literals to parse
                execute(conn, f"DELETE FROM {log_pending.name} WHERE seq = ANY(%s::bigint[])",
                        ([int(row[0]) for row in rows],))
            else:
                execute(conn, f"DELETE FROM {log_pending.name} WHERE seq IN "
                              f"({', '.join(str(int(row[0])) for row in rows)})")
        return Integrated(count=len(rows), oldest_ms=min(int(row[4]) for row in rows))

    def _frontier(self, conn: Connection, size: int,
                  last_leaf: bytes | None) -> list[tuple[int, int, bytes]]:
        """The right edge of the tree of ``size``: ``merkle.range_nodes(0, size)`` with
        their hashes.

        The edge this log object computed at its last append is reused when the stored
        log ends with that append's last leaf. That leaf is unique to the append (the leaf
        hash is a unique column), so finding it at that index means the append committed
        and nothing came after it; an append that rolled back, or others' appends since,
        make the edge be read from the nodes table instead."""
        edge = self._edge
        if edge is not None and edge[0] == size and edge[1] == last_leaf:
            return list(edge[2])
        nodes = merkle.range_nodes(0, size) if size else []
        found = _lookup(conn, nodes)
        return [(level, idx, found[(level, idx)]) for level, idx in nodes]

    # --- reading --------------------------------------------------------------------------

    def size(self) -> int:
        with self._engine.connect() as conn:
            return _size(conn)

    def root(self, tree_size: int | None = None) -> bytes:
        """MTH of the first ``tree_size`` leaves (default: all). Raises InvalidInput when the
        log is smaller than that."""
        with self._engine.connect() as conn:
            size = self._check_size(conn, tree_size)
            return merkle.tree_root(size, lambda nodes: _lookup(conn, nodes))

    def entry(self, index: int) -> LogEntry:
        """Raises NotFound when the log has no leaf at ``index``."""
        with self._engine.connect() as conn:
            row = conn.execute(select(log_leaves).where(log_leaves.c.idx == index)).first()
        if row is None:
            raise NotFound(f"the log has no leaf {index}")
        return LogEntry(index=row.idx, leaf_hash=row.leaf_hash, kind=row.kind, ref=row.ref,
                        data=row.data, created_at=row.created_at)

    def index_of(self, leaf_hash: bytes) -> LogIndex:
        """The index of the leaf with that hash. Raises NotFound when it is not logged."""
        with self._engine.connect() as conn:
            index = conn.execute(select(log_leaves.c.idx)
                                 .where(log_leaves.c.leaf_hash == leaf_hash)).scalar()
        if index is None:
            raise NotFound("no leaf with that hash is in the log")
        return LogIndex(index)

    def inclusion_proof(self, leaf: int | bytes, tree_size: int | None = None) -> InclusionProof:
        """PATH for a leaf given by index or leaf hash, in the tree of ``tree_size``.

        Raises NotFound for an unknown leaf hash; InvalidInput when the leaf is not inside
        that tree or the log is smaller than ``tree_size``.
        """
        index = self.index_of(leaf) if isinstance(leaf, bytes) else leaf
        with self._engine.connect() as conn:
            size = self._check_size(conn, tree_size)
            if not 0 <= index < size:
                raise InvalidInput(f"leaf {index} is not in the tree of size {size}")
            ranges = merkle.inclusion_ranges(index, size)
            found = _lookup(conn, merkle.proof_nodes([*ranges, (index, index + 1)]))
        return InclusionProof(leaf_index=index, tree_size=size, leaf_hash=found[(0, index)],
                              hashes=tuple(merkle.hashes_for(ranges, found)))

    def consistency_proof(self, first: int, second: int | None = None) -> ConsistencyProof:
        """PROOF that the tree of size ``first`` is a prefix of the tree of ``second``.

        Raises InvalidInput unless 0 <= first <= second <= the log's size.
        """
        with self._engine.connect() as conn:
            second = self._check_size(conn, second)
            if not 0 <= first <= second:
                raise InvalidInput(f"need 0 <= first <= second, got {first} and {second}")
            ranges = merkle.consistency_ranges(first, second)
            found = _lookup(conn, merkle.proof_nodes(ranges))
        return ConsistencyProof(first=first, second=second,
                                hashes=tuple(merkle.hashes_for(ranges, found)))

    def tile(self, path: str) -> tuple[TileAddress, bytes]:
        """A C2SP tlog-tiles tile or entry bundle by its path after ``tile/`` (see
        ``log/tiles.py``), as the log's current tree holds it. Raises NotFound for a path
        that is no tile or a tile the tree does not hold yet; EntryTooLarge for a bundle
        with a leaf over 65,535 bytes."""
        address = parse_tile_path(path)
        return address, self._tiles.read(address, self.size())

    # --- checkpoints ----------------------------------------------------------------------

    def maybe_checkpoint(self, now: float | None = None) -> Checkpoint | None:
        """Sign and store a checkpoint if one is due (see the class); else None."""
        now = self._clock() if now is None else now
        with writing(self._engine) as conn:
            size = _size(conn)
            last = _latest(conn)
            if last is None:
                due = size > 0
            else:
                grown = size - last.tree_size
                due = grown >= self._every_appends or (
                    grown > 0 and now - (last.timestamp or 0) >= self._every_seconds)
            return self._checkpoint(conn, size, now) if due else None

    def checkpoint_now(self, now: float | None = None) -> Checkpoint:
        """Sign and store a checkpoint of the log as it is (even an empty one)."""
        now = self._clock() if now is None else now
        with writing(self._engine) as conn:
            return self._checkpoint(conn, _size(conn), now)

    def store_cosigned(self, checkpoint: Checkpoint, note: str) -> Checkpoint:
        """Store ``note``, the checkpoint's note with the witnesses' cosignature lines
        (``witness_client.Cosigner.cosign``), as the newest row of that checkpoint: the
        checkpoint endpoints and bundles serve it from then on. Raises InvalidInput when
        the note is not that checkpoint signed by this log."""
        try:
            verify_note(note, name=self.key_name, public_key=self._key.public_key())
            same = parse_checkpoint(note)
        except CassetError as exc:
            raise InvalidInput(f"not a checkpoint of this log: {exc.detail}") from None
        if (same.tree_size, same.root, same.timestamp) != (
                checkpoint.tree_size, checkpoint.root, checkpoint.timestamp):
            raise InvalidInput("the cosigned note is of another checkpoint")
        with writing(self._engine) as conn:
            conn.execute(insert(log_checkpoints).values(
                origin=self.origin, tree_size=checkpoint.tree_size, root=checkpoint.root,
                timestamp=checkpoint.timestamp, key_name=self.key_name, note=note))
        return msgspec.structs.replace(checkpoint, note=note)

    def latest_checkpoint(self) -> Checkpoint | None:
        with self._engine.connect() as conn:
            return _latest(conn)

    def checkpoint_at(self, tree_size: int) -> Checkpoint:
        """The newest checkpoint of that size. Raises NotFound when none was made."""
        with self._engine.connect() as conn:
            row = conn.execute(select(log_checkpoints)
                               .where(log_checkpoints.c.tree_size == tree_size)
                               .order_by(log_checkpoints.c.id.desc()).limit(1)).first()
        if row is None:
            raise NotFound(f"no checkpoint of size {tree_size}")
        return _checkpoint_of(row)

    def _checkpoint(self, conn: Connection, size: int, now: float) -> Checkpoint:
        root = merkle.tree_root(size, lambda nodes: _lookup(conn, nodes))
        unsigned = Checkpoint(origin=self.origin, tree_size=size, root=root, timestamp=int(now))
        signed = sign_checkpoint(unsigned, name=self.key_name, private_key=self._key)
        conn.execute(insert(log_checkpoints).values(
            origin=self.origin, tree_size=size, root=root, timestamp=int(now),
            key_name=self.key_name, note=signed.note))
        return signed

    # --- sequencing -----------------------------------------------------------------------

    def _lock(self, conn: Connection) -> None:
        if self._postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})

    @staticmethod
    def _check_size(conn: Connection, tree_size: int | None) -> int:
        size = _size(conn)
        if tree_size is None:
            return size
        if not 0 <= tree_size <= size:
            raise InvalidInput(f"the log has {size} leaves, not {tree_size}")
        return tree_size


def _last_leaf(conn: Connection) -> tuple[int, bytes | None]:
    """The log's size and its last leaf hash (None when empty), in one look-up."""
    rows = execute(conn, _LAST_LEAF_SQL)  # once per append: the driver's cursor (db/bulk.py)
    return (0, None) if not rows else (int(rows[0][0]) + 1, bytes(rows[0][1]))


def _size(conn: Connection) -> int:
    last = conn.exec_driver_sql(_SIZE_SQL).scalar()
    return 0 if last is None else int(last) + 1


def _lookup(conn: Connection, nodes: Sequence[merkle.Node]) -> dict[merkle.Node, bytes]:
    """Node hashes by (level, index), in one query. Raises LookupError if one is missing
    (the tables were altered by hand: the log refuses to answer rather than guess)."""
    if not nodes:
        return {}
    # Written as text with the integer positions inlined (they are ints: safe): building
    # ~40 SQLAlchemy bound parameters per proof cost more than the query itself.
    wanted = {merkle.position(level, idx): (level, idx) for level, idx in nodes}
    rows = conn.exec_driver_sql(f"SELECT pos, hash FROM {log_nodes.name} "
                                f"WHERE pos IN ({', '.join(map(str, wanted))})")
    found = {wanted[row[0]]: bytes(row[1]) for row in rows}
    missing = [n for n in nodes if n not in found]
    if missing:
        raise LookupError(f"log storage is missing subtree hashes {missing[:4]}")
    return found


def _latest(conn: Connection) -> Checkpoint | None:
    """The checkpoint of the largest tree, its newest row (the cosigned one, once stored:
    a cosigned note stored late never hides a larger checkpoint made meanwhile)."""
    row = conn.execute(select(log_checkpoints)
                       .order_by(log_checkpoints.c.tree_size.desc(),
                                 log_checkpoints.c.id.desc()).limit(1)).first()
    return None if row is None else _checkpoint_of(row)


def _checkpoint_of(row: Row[Any]) -> Checkpoint:
    return Checkpoint(origin=row.origin, tree_size=row.tree_size, root=row.root,
                      timestamp=row.timestamp, note=row.note)
