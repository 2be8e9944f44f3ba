"""Entries waiting for the log: what writers do instead of appending.

A record that is logged (a receipt, a manifest or policy version) is queued here by
``enqueue_in`` inside the transaction that stores the record, with a plain insert: no
lock, no read of the log's edge, so writers never wait for each other or for the log.
The one sequencer (``log.sequencer``) integrates the queue in batches.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Connection, func, select

from casset_rights.db.bulk import insert_rows
from casset_rights.log.service import LeafInput, check_entry
from casset_rights.log.tables import log_pending

_COLUMNS = ("kind", "ref", "data", "created_at_ms")


def enqueue_in(conn: Connection, entries: Sequence[LeafInput]) -> None:
    """Queue ``entries`` for the log in the caller's transaction: they are integrated
    after it commits, and never if it rolls back. Raises InvalidInput for a bad kind or
    ref (before anything is written)."""
    for entry in entries:
        check_entry(entry)
    now = time.time_ns() // 1_000_000
    insert_rows(conn, log_pending, _COLUMNS,
                [(e.kind, e.ref, bytes(e.data), now) for e in entries])


def pending_count(conn: Connection) -> int:
    """How many entries wait for integration."""
    return int(conn.execute(select(func.count()).select_from(log_pending)).scalar() or 0)
