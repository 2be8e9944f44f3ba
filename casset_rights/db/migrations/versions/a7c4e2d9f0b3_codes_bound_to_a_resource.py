"""codes bound to a resource: the audience an authorization code was consented for

Revision ID: a7c4e2d9f0b3
Revises: f1c7a3e9d2b5
Create Date: 2026-12-07 01:00:00.000000

An authorization code keeps the RFC 8707 ``resource`` its authorization named (the API
or the MCP endpoint), so it is redeemed for that audience only. Codes made before this
revision have none and are redeemed as before (they live minutes).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'a7c4e2d9f0b3'
down_revision: str | None = 'f1c7a3e9d2b5'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('oauth_codes') as batch:
        batch.add_column(sa.Column('resource', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('oauth_codes') as batch:
        batch.drop_column('resource')
