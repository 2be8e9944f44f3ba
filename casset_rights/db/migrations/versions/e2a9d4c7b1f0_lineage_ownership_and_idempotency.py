"""lineage ownership and idempotency: edge ids and withdrawals, proposals, idempotency keys

Revision ID: e2a9d4c7b1f0
Revises: d2b7e4f1a9c8
Create Date: 2026-12-06 21:00:00.000000

A withdrawn lineage edge stays as history, so the same (child, parent, relationship) may
appear more than once: the edge gets an ``id`` of its own as primary key, and a partial
unique index keeps one edge in force per key. The table is rebuilt (SQLite cannot change
a primary key in place); existing edges get random ids. ``lineage_proposals`` holds the
edges proposed to a child's owner, ``idempotency_keys`` the keys of retried writes.

A downgrade deletes the withdrawn edges (the old key cannot hold them; their receipts
stay) and the proposals and keys.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = 'e2a9d4c7b1f0'
down_revision: str | None = 'd2b7e4f1a9c8'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SHARED = ("child", "parent", "relationship", "child_release", "child_track",
           "child_artist", "parent_release", "parent_track", "parent_artist", "grant_id",
           "revenue_share_ppm", "registered_by", "registered_at_ms", "receipt_id")


def _edge_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column('child', sa.String(length=210), nullable=False),
        sa.Column('parent', sa.String(length=210), nullable=False),
        sa.Column('relationship', sa.String(length=16), nullable=False),
        sa.Column('child_release', sa.String(length=210), nullable=False),
        sa.Column('child_track', sa.String(length=210), nullable=True),
        sa.Column('child_artist', sa.String(length=64), nullable=False),
        sa.Column('parent_release', sa.String(length=210), nullable=False),
        sa.Column('parent_track', sa.String(length=210), nullable=True),
        sa.Column('parent_artist', sa.String(length=64), nullable=False),
        sa.Column('grant_id', sa.String(length=64), nullable=True),
        sa.Column('revenue_share_ppm', sa.Integer(), nullable=False),
        sa.Column('registered_by', sa.String(length=200), nullable=False),
        sa.Column('registered_at_ms', sa.BigInteger(), nullable=False),
        sa.Column('receipt_id', sa.String(length=64), nullable=True),
    ]


def _set_aside_edges() -> None:
    """Rename the edge table out of the way, with the names its constraints and indexes
    hold (index and constraint names are per schema on PostgreSQL)."""
    op.drop_index('ix_lineage_edges_parent_release', table_name='lineage_edges')
    op.drop_index('ix_lineage_edges_child_release', table_name='lineage_edges')
    op.rename_table('lineage_edges', 'lineage_edges_old')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE lineage_edges_old RENAME CONSTRAINT pk_lineage_edges '
                   'TO pk_lineage_edges_old')
        op.execute('ALTER TABLE lineage_edges_old RENAME CONSTRAINT '
                   'fk_lineage_edges_grant_id_license_grants TO fk_lineage_edges_old_grant')


def _edge_indexes() -> None:
    op.create_index('ix_lineage_edges_child_release', 'lineage_edges', ['child_release'],
                    unique=False)
    op.create_index('ix_lineage_edges_parent_release', 'lineage_edges',
                    ['parent_release', 'parent_track', 'parent'], unique=False)


def upgrade() -> None:
    _set_aside_edges()
    op.create_table(
        'lineage_edges',
        sa.Column('id', sa.String(length=40), nullable=False),
        *_edge_columns(),
        sa.Column('withdrawn_at_ms', sa.BigInteger(), nullable=True),
        sa.Column('withdrawal_receipt_id', sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(['grant_id'], ['license_grants.id'],
                                name=op.f('fk_lineage_edges_grant_id_license_grants')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_lineage_edges')),
    )
    _edge_indexes()
    in_force = sa.text('withdrawn_at_ms IS NULL')
    op.create_index('uq_lineage_edges_in_force', 'lineage_edges',
                    ['child', 'parent', 'relationship'], unique=True,
                    sqlite_where=in_force, postgresql_where=in_force)
    new_id = ("'edge_' || lower(hex(randomblob(16)))" if op.get_bind().dialect.name == 'sqlite'
              else "'edge_' || md5(random()::text || clock_timestamp()::text)")
    shared = ", ".join(_SHARED)
    op.execute(f'INSERT INTO lineage_edges (id, {shared}) '
               f'SELECT {new_id}, {shared} FROM lineage_edges_old')
    op.drop_table('lineage_edges_old')

    op.create_table(
        'lineage_proposals',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('child', sa.String(length=210), nullable=False),
        sa.Column('child_artist', sa.String(length=64), nullable=False),
        sa.Column('parents', sa.Text(), nullable=False),
        sa.Column('context', sa.Text(), nullable=False),
        sa.Column('proposer', sa.String(length=200), nullable=False),
        sa.Column('principal', sa.Text(), nullable=False),
        sa.Column('message', sa.Text(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_at_ms', sa.BigInteger(), nullable=False),
        sa.Column('decided_at_ms', sa.BigInteger(), nullable=True),
        sa.Column('decision_message', sa.Text(), nullable=True),
        sa.Column('decision_receipt_id', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_lineage_proposals')),
    )
    op.create_index('ix_lineage_proposals_child_artist', 'lineage_proposals',
                    ['child_artist', 'status'], unique=False)
    op.create_index('ix_lineage_proposals_proposer', 'lineage_proposals', ['proposer'],
                    unique=False)
    op.create_table(
        'idempotency_keys',
        sa.Column('owner', sa.String(length=200), nullable=False),
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('operation', sa.String(length=64), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('outcome', sa.Text(), nullable=False),
        sa.Column('created_at_ms', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('owner', 'key', name=op.f('pk_idempotency_keys')),
    )


def downgrade() -> None:
    op.drop_table('idempotency_keys')
    op.drop_index('ix_lineage_proposals_proposer', table_name='lineage_proposals')
    op.drop_index('ix_lineage_proposals_child_artist', table_name='lineage_proposals')
    op.drop_table('lineage_proposals')
    op.execute('DELETE FROM lineage_edges WHERE withdrawn_at_ms IS NOT NULL')
    op.drop_index('uq_lineage_edges_in_force', table_name='lineage_edges')
    _set_aside_edges()
    op.create_table(
        'lineage_edges',
        *_edge_columns(),
        sa.ForeignKeyConstraint(['grant_id'], ['license_grants.id'],
                                name=op.f('fk_lineage_edges_grant_id_license_grants')),
        sa.PrimaryKeyConstraint('child', 'parent', 'relationship',
                                name=op.f('pk_lineage_edges')),
    )
    _edge_indexes()
    shared = ", ".join(_SHARED)
    op.execute(f'INSERT INTO lineage_edges ({shared}) SELECT {shared} FROM lineage_edges_old')
    op.drop_table('lineage_edges_old')
