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

revision: str = 'e5d2a9c31f47'
down_revision: str | None = 'e3a9d6c1b2f4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables followed at this revision (name -> the column a notification names), and
# the trigger function, as they were at this revision (a migration does not change with
# the code: decisions/tables.py makes the same for a new database).
TABLES = {"license_grants": "licensee", "lineage_edges": "child_release",
          "release_versions": "release_id", "policy_versions": "policy_id"}
CHANGE_FUNCTION = """
CREATE OR REPLACE FUNCTION casset_notify_change() RETURNS trigger AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    PERFORM pg_notify('casset_changes', TG_TABLE_SCHEMA || ' ' || TG_TABLE_NAME || ' '
                      || coalesce(to_jsonb(OLD) ->> TG_ARGV[0], ''));
  END IF;
  IF TG_OP <> 'DELETE' THEN
    PERFORM pg_notify('casset_changes', TG_TABLE_SCHEMA || ' ' || TG_TABLE_NAME || ' '
                      || coalesce(to_jsonb(NEW) ->> TG_ARGV[0], ''));
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql
"""


def change_triggers(tables: dict[str, str]) -> list[str]:
    out = [CHANGE_FUNCTION]
    for table, column in tables.items():
        out.append(f"DROP TRIGGER IF EXISTS {table}_changes ON {table}")
        out.append(f"CREATE TRIGGER {table}_changes AFTER INSERT OR UPDATE OR DELETE "
                   f"ON {table} FOR EACH ROW EXECUTE FUNCTION casset_notify_change('{column}')")
    return out


def drop_change_triggers(tables: dict[str, str]) -> list[str]:
    return [*(f"DROP TRIGGER IF EXISTS {table}_changes ON {table}" for table in tables),
            "DROP FUNCTION IF EXISTS casset_notify_change()"]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in change_triggers(TABLES):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in drop_change_triggers(TABLES):
            op.execute(statement)
