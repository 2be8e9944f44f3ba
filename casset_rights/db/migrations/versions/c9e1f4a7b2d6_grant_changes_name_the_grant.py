"""grant changes name the grant: a license grant's notification carries its id

Revision ID: c9e1f4a7b2d6
Revises: a7c4e2d9f0b3
Create Date: 2026-12-07 03:10:00.000000

The change notification of a license grant named only its licensee, so every process
re-read every grant that licensee holds on each new one (thousands for a busy partner).
It now names the licensee and the grant ("<licensee> <grant id>"), and a process reads
that one row. The trigger function joins any number of key columns; the other tables
keep their one. PostgreSQL only (SQLite has no notifications).
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'c9e1f4a7b2d6'
down_revision: str | None = 'a7c4e2d9f0b3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As they are at this revision (a migration does not change with the code:
# decisions/tables.py makes the same for a new database).
FUNCTION = """
CREATE OR REPLACE FUNCTION casset_notify_change() RETURNS trigger AS $$
DECLARE
  changed jsonb;
  key text;
BEGIN
  FOREACH changed IN ARRAY CASE TG_OP
      WHEN 'INSERT' THEN ARRAY[to_jsonb(NEW)]
      WHEN 'DELETE' THEN ARRAY[to_jsonb(OLD)]
      ELSE ARRAY[to_jsonb(OLD), to_jsonb(NEW)] END LOOP
    key := coalesce(changed ->> TG_ARGV[0], '');
    FOR i IN 1 .. TG_NARGS - 1 LOOP
      key := key || ' ' || coalesce(changed ->> TG_ARGV[i], '');
    END LOOP;
    PERFORM pg_notify('casset_changes', TG_TABLE_SCHEMA || ' ' || TG_TABLE_NAME || ' '
                      || key);
  END LOOP;
  RETURN NULL;
END
$$ LANGUAGE plpgsql
"""
# The function of revision e5d2a9c31f47 (one key column), restored by the downgrade.
PREVIOUS_FUNCTION = """
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


def _grant_trigger(arguments: str) -> list[str]:
    return ["DROP TRIGGER IF EXISTS license_grants_changes ON license_grants",
            "CREATE TRIGGER license_grants_changes AFTER INSERT OR UPDATE OR DELETE "
            f"ON license_grants FOR EACH ROW EXECUTE FUNCTION casset_notify_change({arguments})"]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in [FUNCTION, *_grant_trigger("'licensee', 'id'")]:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in [*_grant_trigger("'licensee'"), PREVIOUS_FUNCTION]:
            op.execute(statement)
