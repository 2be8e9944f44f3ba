"""receipts stored once: the token is the only copy of the payload, the log leaf the
only copy of a logged receipt's token; no unread index

Revision ID: 5e0a7c2d9b41
Revises: 45cbc9defe4d
Create Date: 2026-11-24 21:30:00.000000

The ``payload`` column repeated the JSON that the token's middle part already carries,
a logged receipt's token is also its log leaf's data, and no query read
``ix_receipts_resource_iat``; every receipt wrote all three. ``token`` becomes nullable
(NULL for receipts stored from now on with their log leaf; rows already stored keep
theirs). A downgrade restores the tokens from the log, the payloads from the tokens,
and the index.
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
        batch_op.alter_column('token', existing_type=sa.Text(), nullable=True)


def downgrade() -> None:
    conn = op.get_bind()
    leaves = sa.table('log_leaves', sa.column('idx', sa.BigInteger),
                      sa.column('ref', sa.String), sa.column('data', sa.LargeBinary))
    logged = sa.table('receipts', sa.column('jti', sa.String), sa.column('token', sa.Text),
                      sa.column('log_index', sa.BigInteger))
    unsigned: Sequence[sa.Row[str, bytes]] = conn.execute(
        sa.select(logged.c.jti, leaves.c.data)
        .select_from(logged.join(leaves, (leaves.c.idx == logged.c.log_index)
                                 & (leaves.c.ref == logged.c.jti)))
        .where(logged.c.token.is_(None))).all()
    for jti, data in unsigned:
        conn.execute(logged.update().where(logged.c.jti == jti)
                     .values(token=bytes(data).decode('ascii')))
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.alter_column('token', existing_type=sa.Text(), nullable=False)
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payload', sa.Text(), nullable=False,
                                      server_default='{}'))
    receipts = sa.table('receipts', sa.column('jti', sa.String), sa.column('token', sa.Text),
                        sa.column('payload', sa.Text))
    stored: Sequence[sa.Row[str, str]] = conn.execute(
        sa.select(receipts.c.jti, receipts.c.token)).all()
    for jti, token in stored:
        middle = token.split('.')[1]
        payload = json.loads(base64.urlsafe_b64decode(middle + '=' * (-len(middle) % 4)))
        conn.execute(receipts.update().where(receipts.c.jti == jti)
                     .values(payload=json.dumps(payload, separators=(',', ':'))))
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.alter_column('payload', server_default=None)
        batch_op.create_index('ix_receipts_resource_iat', ['resource', 'iat'], unique=False)
