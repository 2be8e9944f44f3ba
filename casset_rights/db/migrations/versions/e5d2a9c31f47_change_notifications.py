"""change notifications: tables followed in memory NOTIFY their writes (PostgreSQL)

Revision ID: e5d2a9c31f47
Revises: e3a9d6c1b2f4
Create Date: 2026-12-06 20:40:00.000000

License grants, lineage edges, release versions and policy versions are held in memory
by every API process (decisions read no database). On PostgreSQL a trigger on each
sends ``NOTIFY casset_changes`` in the writing transaction, which every process's
listener applies. SQLite has no NOTIFY: nothing changes there (the processes compare
stored generations).
"""

from collections.abc import Sequence

from alembic import op

from casset_rights.decisions.tables import change_triggers, drop_change_triggers

revision: str = 'e5d2a9c31f47'
down_revision: str | None = 'e3a9d6c1b2f4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables followed at this revision (name -> the column a notification names).
TABLES = {"license_grants": "licensee", "lineage_edges": "child_release",
          "release_versions": "release_id", "policy_versions": "policy_id"}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in change_triggers(TABLES):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in drop_change_triggers(TABLES):
            op.execute(statement)
