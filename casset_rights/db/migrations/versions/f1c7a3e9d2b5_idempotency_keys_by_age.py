"""idempotency keys by age: an index on created_at_ms for the expiry sweep

Revision ID: f1c7a3e9d2b5
Revises: b46eed9d6058
Create Date: 2026-12-07 00:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'f1c7a3e9d2b5'
down_revision: str | None = 'b46eed9d6058'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_idempotency_keys_created_at_ms', 'idempotency_keys', ['created_at_ms'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_idempotency_keys_created_at_ms', table_name='idempotency_keys')
