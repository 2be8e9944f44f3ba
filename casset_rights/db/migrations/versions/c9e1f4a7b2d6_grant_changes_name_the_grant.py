"""grant changes name the grant: a license grant's notification carries it

Revision ID: c9e1f4a7b2d6
Revises: a7c4e2d9f0b3
Create Date: 2026-12-07 03:10:00.000000

The change notification of a license grant named only its licensee, so every process
re-read every grant that licensee holds on each new one (thousands for a busy partner).
It now names the licensee, the grant, its revocation and expiry times and, when it fits
in a notification, the columns a decision needs ("<licensee> <grant id> <revoked at>
<expires at> <row JSON>"): a process holds the grant with no read. The license grants
get a trigger function of their own; the other tables keep theirs. PostgreSQL only
(SQLite has no notifications).
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'c9e1f4a7b2d6'
down_revision: str | None = 'a7c4e2d9f0b3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As it is at this revision (a migration does not change with the code:
# decisions/tables.py makes the same for a new database).
GRANT_FUNCTION = """
CREATE OR REPLACE FUNCTION casset_notify_grant() RETURNS trigger AS $$
DECLARE
  note text;
  grant_row text;
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('casset_changes', TG_TABLE_SCHEMA || ' ' || TG_TABLE_NAME || ' '
                      || OLD.licensee || ' ' || OLD.id);
    RETURN NULL;
  END IF;
  note := TG_TABLE_SCHEMA || ' ' || TG_TABLE_NAME || ' ' || NEW.licensee || ' ' || NEW.id
          || ' ' || coalesce(NEW.revoked_at_ms::text, '')
          || ' ' || coalesce(NEW.expires_at_ms::text, '');
  grant_row := json_build_object('resource', NEW.resource, 'scopes', NEW.scopes,
                                 'terms', NEW.terms, 'granted_at_ms', NEW.granted_at_ms)::text;
  IF octet_length(note) + octet_length(grant_row) < 7900 THEN
    note := note || ' ' || grant_row;
  END IF;
  PERFORM pg_notify('casset_changes', note);
  RETURN NULL;
END
$$ LANGUAGE plpgsql
"""


def _grant_trigger(function: str) -> list[str]:
    return ["DROP TRIGGER IF EXISTS license_grants_changes ON license_grants",
            "CREATE TRIGGER license_grants_changes AFTER INSERT OR UPDATE OR DELETE "
            f"ON license_grants FOR EACH ROW EXECUTE FUNCTION {function}"]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in [GRANT_FUNCTION, *_grant_trigger("casset_notify_grant()")]:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in [*_grant_trigger("casset_notify_change('licensee')"),
                          "DROP FUNCTION IF EXISTS casset_notify_grant()"]:
            op.execute(statement)
