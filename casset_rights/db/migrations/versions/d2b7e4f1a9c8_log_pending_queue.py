"""log pending queue: writers queue log entries, one sequencer integrates them

Revision ID: d2b7e4f1a9c8
Revises: c4e8a1d2f7b3
Create Date: 2026-12-06 20:30:00.000000

Receipts, manifest versions and policy versions are no longer appended to the log in the
transaction that stores them (under one global lock): they are queued in
``log_pending`` with plain inserts, and the sequencer moves them into the log in
batches. ``receipts.seq`` was never read or written; it goes. A downgrade integrates
nothing: it refuses while entries still wait, so none is lost.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'd2b7e4f1a9c8'
down_revision: str | None = 'c4e8a1d2f7b3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    row_key = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
    op.create_table(
        'log_pending',
        sa.Column('seq', row_key, primary_key=True, autoincrement=True),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('ref', sa.String(length=256), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('created_at_ms', sa.BigInteger(), nullable=False),
    )
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.drop_column('seq')


def downgrade() -> None:
    waiting = op.get_bind().execute(sa.text('SELECT count(*) FROM log_pending')).scalar()
    if waiting:
        raise RuntimeError(f'{waiting} log entries still wait for the sequencer: run the '
                           'service until the queue is empty, then downgrade')
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.Integer(), autoincrement=False, nullable=True))
    op.drop_table('log_pending')
