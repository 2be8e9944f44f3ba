"""commerce: payments, Stripe events, Connect accounts, transfers and the ledger

Revision ID: b46eed9d6058
Revises: e5d2a9c31f47
Create Date: 2026-12-06 20:29:00.258601
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'b46eed9d6058'
down_revision: str | None = 'e5d2a9c31f47'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('connect_accounts',
    sa.Column('artist_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=128), nullable=False),
    sa.Column('charges_enabled', sa.Boolean(), nullable=False),
    sa.Column('payouts_enabled', sa.Boolean(), nullable=False),
    sa.Column('details_submitted', sa.Boolean(), nullable=False),
    sa.Column('created_at_ms', sa.BigInteger(), nullable=False),
    sa.Column('updated_at_ms', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('artist_id', name=op.f('pk_connect_accounts')),
    sa.UniqueConstraint('account_id', name=op.f('uq_connect_accounts_account_id'))
    )
    op.create_table('ledger_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('payment_id', sa.String(length=64), nullable=False),
    sa.Column('movement', sa.String(length=160), nullable=False),
    sa.Column('account', sa.String(length=200), nullable=False),
    sa.Column('artist_id', sa.String(length=64), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('at_ms', sa.BigInteger(), nullable=False),
    sa.Column('reference', sa.String(length=160), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entries'))
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_artist_at', ['artist_id', 'at_ms', 'id'], unique=False,
                              postgresql_include=['amount', 'currency', 'kind'])
        batch_op.create_index('ix_ledger_payment', ['payment_id'], unique=False)

    op.create_table('ledger_days',
    sa.Column('artist_id', sa.String(length=64), nullable=False),
    sa.Column('currency', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('entries', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('artist_id', 'day', 'currency', 'kind', name=op.f('pk_ledger_days'))
    )
    op.create_table('payment_transfers',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('payment_id', sa.String(length=64), nullable=False),
    sa.Column('artist_id', sa.String(length=64), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('stripe_transfer_id', sa.String(length=128), nullable=True),
    sa.Column('transfer_group', sa.String(length=128), nullable=False),
    sa.Column('created_at_ms', sa.BigInteger(), nullable=False),
    sa.Column('paid_at_ms', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_transfers'))
    )
    with op.batch_alter_table('payment_transfers', schema=None) as batch_op:
        batch_op.create_index('ix_payment_transfers_artist_status', ['artist_id', 'status'], unique=False)
        batch_op.create_index('ix_payment_transfers_payment', ['payment_id'], unique=False)

    op.create_table('payments',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('intent_id', sa.String(length=128), nullable=True),
    sa.Column('quote_id', sa.String(length=64), nullable=True),
    sa.Column('payer', sa.String(length=200), nullable=False),
    sa.Column('artist_id', sa.String(length=64), nullable=False),
    sa.Column('resource', sa.String(length=256), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=8), nullable=False),
    sa.Column('platform_fee', sa.BigInteger(), nullable=False),
    sa.Column('destination', sa.String(length=128), nullable=False),
    sa.Column('splits', sa.Text(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('holds_slot', sa.Boolean(), nullable=False),
    sa.Column('hold_expires_at_ms', sa.BigInteger(), nullable=False),
    sa.Column('charge_id', sa.String(length=128), nullable=True),
    sa.Column('grant_id', sa.String(length=64), nullable=True),
    sa.Column('dispute_status', sa.String(length=32), nullable=True),
    sa.Column('created_at_ms', sa.BigInteger(), nullable=False),
    sa.Column('settled_at_ms', sa.BigInteger(), nullable=True),
    sa.Column('receipt_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments')),
    sa.UniqueConstraint('intent_id', name=op.f('uq_payments_intent_id')),
    sa.UniqueConstraint('quote_id', name=op.f('uq_payments_quote_id'))
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index('ix_payments_payer', ['payer', 'created_at_ms'], unique=False)
        batch_op.create_index('ix_payments_status_hold', ['status', 'hold_expires_at_ms'], unique=False)

    op.create_table('stripe_events',
    sa.Column('id', sa.String(length=128), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('object_id', sa.String(length=128), nullable=True),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.Column('received_at_ms', sa.BigInteger(), nullable=False),
    sa.Column('outcome', sa.String(length=200), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_events'))
    )


def downgrade() -> None:
    op.drop_table('stripe_events')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('ix_payments_status_hold')
        batch_op.drop_index('ix_payments_payer')

    op.drop_table('payments')
    with op.batch_alter_table('payment_transfers', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_transfers_payment')
        batch_op.drop_index('ix_payment_transfers_artist_status')

    op.drop_table('payment_transfers')
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_payment')
        batch_op.drop_index('ix_ledger_artist_at')

    op.drop_table('ledger_entries')
    op.drop_table('ledger_days')
    op.drop_table('connect_accounts')
