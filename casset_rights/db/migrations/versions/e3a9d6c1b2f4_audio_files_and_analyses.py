"""audio files, analyses and rendered previews

Revision ID: e3a9d6c1b2f4
Revises: e2a9d4c7b1f0
Create Date: 2026-12-06 20:40:00.000000

The stored audio blobs (content-addressed), the analysis job of each, and the
rendered previews by what made them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'e3a9d6c1b2f4'
down_revision: str | None = 'e2a9d4c7b1f0'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'audio_files',
        sa.Column('content_hash', sa.String(length=71), nullable=False),
        sa.Column('format', sa.String(length=8), nullable=False),
        sa.Column('media_type', sa.String(length=32), nullable=False),
        sa.Column('size_bytes', sa.BigInteger(), nullable=False),
        sa.Column('sample_rate', sa.Integer(), nullable=False),
        sa.Column('channels', sa.Integer(), nullable=False),
        sa.Column('frames', sa.BigInteger(), nullable=False),
        sa.Column('uploaded_by', sa.String(length=64), nullable=False),
        sa.Column('stored_at_ms', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('content_hash', name=op.f('pk_audio_files')),
    )
    op.create_table(
        'audio_analyses',
        sa.Column('content_hash', sa.String(length=71), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('progress', sa.Float(), nullable=False),
        sa.Column('result', sa.Text(), nullable=True),
        sa.Column('error_code', sa.String(length=64), nullable=True),
        sa.Column('error_detail', sa.Text(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('queued_at_ms', sa.BigInteger(), nullable=False),
        sa.Column('updated_at_ms', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('content_hash', name=op.f('pk_audio_analyses')),
    )
    op.create_table(
        'audio_renders',
        sa.Column('render_key', sa.String(length=64), nullable=False),
        sa.Column('blob_key', sa.String(length=64), nullable=False),
        sa.Column('media_type', sa.String(length=32), nullable=False),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.Column('loudness_lufs', sa.Float(), nullable=True),
        sa.Column('gain_db', sa.Float(), nullable=False),
        sa.Column('created_at_ms', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('render_key', name=op.f('pk_audio_renders')),
    )


def downgrade() -> None:
    op.drop_table('audio_renders')
    op.drop_table('audio_analyses')
    op.drop_table('audio_files')
