"""receipts stored once: the token is the only copy of the payload; no unread index

Revision ID: 5e0a7c2d9b41
Revises: 45cbc9defe4d
Create Date: 2026-11-24 21:30:00.000000

The ``payload`` column repeated the JSON that the token's middle part already carries,
and no query read ``ix_receipts_resource_iat``; every receipt wrote both. A downgrade
restores the column from the tokens and rebuilds the index.
"""

import base64
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '5e0a7c2d9b41'
down_revision: str | None = '45cbc9defe4d'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.drop_index('ix_receipts_resource_iat')
        batch_op.drop_column('payload')


def downgrade() -> None:
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payload', sa.Text(), nullable=False,
                                      server_default='{}'))
    receipts = sa.table('receipts', sa.column('jti', sa.String), sa.column('token', sa.Text),
                        sa.column('payload', sa.Text))
    conn = op.get_bind()
    for jti, token in conn.execute(sa.select(receipts.c.jti, receipts.c.token)).all():
        middle = token.split('.')[1]
        payload = json.loads(base64.urlsafe_b64decode(middle + '=' * (-len(middle) % 4)))
        conn.execute(receipts.update().where(receipts.c.jti == jti)
                     .values(payload=json.dumps(payload, separators=(',', ':'))))
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.alter_column('payload', server_default=None)
        batch_op.create_index('ix_receipts_resource_iat', ['resource', 'iat'], unique=False)
