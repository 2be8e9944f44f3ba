"""log keyed by position: log_nodes by post-order position; on SQLite, row-id keys

Revision ID: c4e8a1d2f7b3
Revises: 9c3f1b7e5a20
Create Date: 2026-11-25 02:00:00.000000

``log_nodes`` was keyed by ``(level, idx)``: the nodes one append completes went to the
end of a different run of the key for each level, so a commit of a few receipts rewrote
about five pages of that index alone. Keyed by the node's post-order position, where the
nodes of an append are consecutive, it grows at one end. On SQLite both ``log_nodes.pos``
and ``log_leaves.idx`` become ``INTEGER PRIMARY KEY``: the row id itself, with no second
index to write. Together a commit writes about a third fewer pages.

The node rows are copied in batches, each with its position computed here (the formula
is ``merkle.position``, repeated so this file keeps working whatever that module
becomes); a downgrade copies them back. Both report progress on large logs.
"""

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = 'c4e8a1d2f7b3'
down_revision: str | None = '9c3f1b7e5a20'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger("alembic.runtime.migration")
BATCH = 20_000
ROW_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _position(level: int, index: int) -> int:
    n = (index + 1) << level
    return 2 * n - n.bit_count() - 1 - ((n & -n).bit_length() - 1 - level)


def _post_order() -> Iterator[tuple[int, int]]:
    """``(level, idx)`` of every node, in position order."""
    leaf = 0
    while True:
        yield 0, leaf
        n, level = leaf + 1, 1
        while n & ((1 << level) - 1) == 0:
            yield level, (n >> level) - 1
            level += 1
        leaf += 1


def _set_aside(table: str, primary_key: str) -> str:
    """Rename ``table`` (and, on PostgreSQL, its primary key's index, whose name is
    schema-wide) to ``<table>_old``."""
    old = f"{table}_old"
    op.rename_table(table, old)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f'ALTER INDEX "{primary_key}" RENAME TO "{primary_key}_old"')
    return old


Rows = Sequence[Any]  # rows of the SELECT given to _copy, its columns in order
Convert = Callable[[Rows], list[dict[str, Any]]]


def _copy(select_sql: str, table: sa.Table, convert: Convert, label: str) -> None:
    bind = op.get_bind()
    total: int = bind.execute(sa.text(f"SELECT count(*) FROM ({select_sql}) AS t")).scalar_one()
    done, reported = 0, 0
    result = bind.execute(sa.text(select_sql).execution_options(yield_per=BATCH))
    for rows in result.partitions(BATCH):
        bind.execute(table.insert(), convert(rows))
        done += len(rows)
        if total > BATCH and 10 * done // total > reported:  # every tenth, on large logs
            reported = 10 * done // total
            logger.info("%s: %d of %d nodes (%d%%)", label, done, total, 100 * done // total)


def upgrade() -> None:
    old = _set_aside("log_nodes", "pk_log_nodes")
    nodes = op.create_table(
        "log_nodes",
        sa.Column("pos", ROW_KEY, autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("pos", name=op.f("pk_log_nodes")),
    )
    _copy(f"SELECT level, idx, hash FROM {old}", nodes,
          lambda rows: [{"pos": _position(level, idx), "hash": h} for level, idx, h in rows],
          "log_nodes by position")
    op.drop_table(old)
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("log_leaves", recreate="always") as batch_op:
            batch_op.alter_column("idx", existing_type=sa.BigInteger(), type_=sa.Integer(),
                                  existing_nullable=False, autoincrement=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("log_leaves", recreate="always") as batch_op:
            batch_op.alter_column("idx", existing_type=sa.Integer(), type_=sa.BigInteger(),
                                  existing_nullable=False, autoincrement=False)
    old = _set_aside("log_nodes", "pk_log_nodes")
    nodes = op.create_table(
        "log_nodes",
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_log_nodes")),
    )
    labels = _post_order()

    def convert(rows: Rows) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for pos, h in rows:
            level, idx = next(labels)
            while _position(level, idx) < pos:  # a gap: rows were removed by hand
                level, idx = next(labels)
            out.append({"level": level, "idx": idx, "hash": h})
        return out

    _copy(f"SELECT pos, hash FROM {old} ORDER BY pos", nodes, convert, "log_nodes by level")
    op.drop_table(old)
