"""The log's queue: what writers do instead of appending to the transparency log.

A record that is logged (a receipt, a manifest or policy version) is queued here by
``enqueue_in`` inside the transaction that stores the record, with a plain insert: no
lock, no read of the log's edge, so writers never wait for each other or for the log.
The one sequencer (``log.sequencer``) integrates the queue in batches. This module sits
below the domain packages (it imports none of them), so every writer can queue without
importing the log, and the log can read receipts without a cycle.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Sequence

import msgspec
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    func,
    select,
)

from casset_rights.db.bulk import Rows, insert_rows
from casset_rights.db.metadata import metadata
from casset_rights.errors import InvalidInput

_KIND = re.compile(r"[a-z][a-z0-9-]{0,31}")
_COLUMNS = ("kind", "ref", "data", "created_at_ms")

# Entries written with their records and not yet in the log. Writers only insert here,
# in the transaction of the record they log (a receipt, a manifest or policy version);
# the one sequencer (log/sequencer.py) moves them into ``log_leaves`` in batches and
# deletes them in the same transaction. ``seq`` orders them roughly by arrival.
log_pending = Table(
    "log_pending",
    metadata,
    # BIGINT on PostgreSQL; on SQLite INTEGER, which makes it the row id.
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
           autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("ref", String(256), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
)
# A record waiting here is found by its ref (a receipt read before it is logged).
Index("ix_log_pending_ref", log_pending.c.ref)


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``, RFC 9162's hash of a leaf (``log.merkle.leaf_hash``,
    which a test holds equal to this): what an entry is found by once it is logged, so a
    writer can record it beside its record before the log exists."""
    return hashlib.sha256(b"\x00" + data).digest()


class LeafInput(msgspec.Struct, frozen=True):
    """What to append: ``data`` are the leaf bytes (hashed as ``SHA-256(0x00 || data)``);
    ``kind`` (``receipt``, ``manifest``, ``policy``…) and ``ref`` (a receipt's jti, a
    manifest's hash) are stored beside them for look-ups and are not hashed."""

    kind: str
    ref: str
    data: bytes


def check_entry(entry: LeafInput) -> None:
    """Raises InvalidInput unless ``entry`` has a short lowercase kind, a ref of 1 to 256
    characters and bytes for data."""
    if not _KIND.fullmatch(entry.kind):
        raise InvalidInput(f"a leaf kind is a short lowercase word, got {entry.kind!r}")
    if not 0 < len(entry.ref) <= 256:
        raise InvalidInput("a leaf ref is 1 to 256 characters")
    if not isinstance(entry.data, bytes | bytearray):
        raise InvalidInput("leaf data must be bytes")



def enqueue_in(conn: Connection, entries: Sequence[LeafInput]) -> None:
    """Queue ``entries`` for the log in the caller's transaction: they are integrated
    after it commits, and never if it rolls back. Raises InvalidInput for a bad kind or
    ref (before anything is written)."""
    insert_rows(conn, *pending_rows(entries))


def pending_rows(entries: Sequence[LeafInput]) -> Rows:
    """The queue's rows for ``entries``, for a write that inserts them with others
    (``db.bulk.insert_together``). Raises InvalidInput for a bad kind or ref."""
    for entry in entries:
        check_entry(entry)
    now = time.time_ns() // 1_000_000
    return Rows(log_pending, _COLUMNS, [(e.kind, e.ref, bytes(e.data), now) for e in entries])


def pending_count(conn: Connection, kind: str | None = None) -> int:
    """How many entries wait for integration (of ``kind`` only, when given)."""
    query = select(func.count()).select_from(log_pending)
    if kind is not None:
        query = query.where(log_pending.c.kind == kind)
    return int(conn.execute(query).scalar() or 0)
