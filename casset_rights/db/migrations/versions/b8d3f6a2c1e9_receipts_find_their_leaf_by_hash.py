"""receipts find their leaf by its hash: logging a receipt writes nothing to its row

Revision ID: b8d3f6a2c1e9
Revises: c9e1f4a7b2d6
Create Date: 2026-12-07 09:40:00.000000

A receipt's row held its token until the sequencer logged it; the sequencer then
updated the row, setting ``log_index`` and clearing ``token``. That update rewrote every
receipt once more (a new row version and a new primary-key entry, and the dead one left
to vacuum), and the row's token was a second copy of the queue entry's data.

The row now holds the leaf's hash (``SHA-256(0x00 || token)``), which finds the leaf
through ``log_leaves``' unique index; until then the token is read from the receipt's
queue entry, now indexed by its ref. Upgrading fills ``leaf_hash`` from the leaf of each
logged receipt and from the token of each one still queued (queuing it again if its
entry is missing, so no token is lost), then drops ``token`` and ``log_index``. A
downgrade restores ``log_index`` from the leaves and the queued receipts' tokens from
the queue.
"""

import hashlib
import time
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'b8d3f6a2c1e9'
down_revision: str | None = 'c9e1f4a7b2d6'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As the tables are at this revision (a migration does not change with the code).
_receipts = sa.table('receipts', sa.column('jti', sa.String), sa.column('token', sa.Text),
                     sa.column('log_index', sa.BigInteger),
                     sa.column('leaf_hash', sa.LargeBinary))
_pending = sa.table('log_pending', sa.column('kind', sa.String), sa.column('ref', sa.String),
                    sa.column('data', sa.LargeBinary),
                    sa.column('created_at_ms', sa.BigInteger))
_leaves = sa.table('log_leaves', sa.column('idx', sa.BigInteger),
                   sa.column('leaf_hash', sa.LargeBinary))


def upgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('leaf_hash', sa.LargeBinary(length=32), nullable=True))
    conn.execute(_receipts.update().where(_receipts.c.log_index.is_not(None)).values(
        leaf_hash=sa.select(_leaves.c.leaf_hash)
        .where(_leaves.c.idx == _receipts.c.log_index).scalar_subquery()))
    # Receipts not logged yet (and, should one's leaf be missing, a logged one that still
    # has its token): the hash from the token.
    queued = {row[0] for row in conn.execute(
        sa.select(_pending.c.ref).where(_pending.c.kind == 'receipt'))}
    unhashed: Sequence[sa.Row[str, str | None, int | None]] = conn.execute(
        sa.select(_receipts.c.jti, _receipts.c.token, _receipts.c.log_index)
        .where(_receipts.c.leaf_hash.is_(None))).all()
    now = time.time_ns() // 1_000_000
    for jti, token, log_index in unhashed:
        if token is None:
            raise RuntimeError(f'receipt {jti!r} is logged at {log_index}, but that leaf is '
                               'not in the log and the row has no token: the tables were '
                               'altered by hand')
        data = token.encode('ascii')
        conn.execute(_receipts.update().where(_receipts.c.jti == jti)
                     .values(leaf_hash=hashlib.sha256(b'\x00' + data).digest()))
        if log_index is None and jti not in queued:
            conn.execute(_pending.insert().values(kind='receipt', ref=jti, data=data,
                                                  created_at_ms=now))
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.alter_column('leaf_hash', existing_type=sa.LargeBinary(length=32),
                              nullable=False)
        batch_op.drop_column('token')
        batch_op.drop_column('log_index')
    with op.batch_alter_table('log_pending', schema=None) as batch_op:
        batch_op.create_index('ix_log_pending_ref', ['ref'], unique=False)


def downgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table('log_pending', schema=None) as batch_op:
        batch_op.drop_index('ix_log_pending_ref')
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('log_index', sa.BigInteger(), nullable=True))
    conn.execute(_receipts.update().values(
        log_index=sa.select(_leaves.c.idx)
        .where(_leaves.c.leaf_hash == _receipts.c.leaf_hash).scalar_subquery()))
    queued: Sequence[sa.Row[str, bytes]] = conn.execute(
        sa.select(_pending.c.ref, _pending.c.data).where(_pending.c.kind == 'receipt')).all()
    for jti, data in queued:
        conn.execute(_receipts.update().where(_receipts.c.jti == jti)
                     .values(token=bytes(data).decode('ascii')))
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.drop_column('leaf_hash')
