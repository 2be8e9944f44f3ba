"""no unread log index: drop ix_log_leaves_kind_ref

Revision ID: 9c3f1b7e5a20
Revises: 5e0a7c2d9b41
Create Date: 2026-11-25 00:10:00.000000

No query looks log leaves up by ``(kind, ref)``: a receipt's leaf is found by its index
(``receipts.log_index``), any leaf by its index or its hash. Every append still wrote
the index, about a tenth of what storing a receipt costs. A downgrade builds it again.
"""

from collections.abc import Sequence

from alembic import op

revision: str = '9c3f1b7e5a20'
down_revision: str | None = '5e0a7c2d9b41'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('log_leaves', schema=None) as batch_op:
        batch_op.drop_index('ix_log_leaves_kind_ref')


def downgrade() -> None:
    with op.batch_alter_table('log_leaves', schema=None) as batch_op:
        batch_op.create_index('ix_log_leaves_kind_ref', ['kind', 'ref'], unique=False)
