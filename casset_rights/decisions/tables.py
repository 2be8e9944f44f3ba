"""Policy versions as artists wrote them, and the head version of each policy."""

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
)

from casset_rights.db.metadata import metadata

policies = Table(
    "policies",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("artist_id", String(64), nullable=False, index=True),
    Column("applies_to", String(256), nullable=False),
    Column("head_version", Integer, nullable=False),
    Column("head_hash", String(80), nullable=False),
    UniqueConstraint("artist_id", "applies_to", name="uq_policies_artist_target"),
)

policy_versions = Table(
    "policy_versions",
    metadata,
    Column("policy_id", String(128), ForeignKey("policies.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("hash", String(80), nullable=False),
    Column("source_name", String(256), nullable=False),
    Column("source_text", Text, nullable=False),
    Column("document", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)


# -- change notifications (PostgreSQL) ---------------------------------------------------
# Every write to a table an in-memory read model follows sends, in the writing
# transaction itself, ``NOTIFY casset_changes`` with "<schema> <table> <key>" (the
# database's own trigger, so no write path can forget it, and a rolled-back write sends
# nothing). ``decisions.changes.ChangeListener`` applies them in every process. SQLite
# has no NOTIFY: there the rights index compares stored generations instead.
CHANGE_CHANNEL = "casset_changes"
# table -> the column naming what changed (what a follower reloads).
FOLLOWED_TABLES: dict[str, str] = {
    "lineage_edges": "child_release",
    "release_versions": "release_id",
    "policy_versions": "policy_id",
}
CHANGE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION casset_notify_change() RETURNS trigger AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    PERFORM pg_notify('{CHANGE_CHANNEL}', TG_TABLE_SCHEMA || ' ' || TG_TABLE_NAME || ' '
                      || coalesce(to_jsonb(OLD) ->> TG_ARGV[0], ''));
  END IF;
  IF TG_OP <> 'DELETE' THEN
    PERFORM pg_notify('{CHANGE_CHANNEL}', TG_TABLE_SCHEMA || ' ' || TG_TABLE_NAME || ' '
                      || coalesce(to_jsonb(NEW) ->> TG_ARGV[0], ''));
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql
"""
# License grants say more, as every process holds every grant and a busy partner holds
# thousands: "<licensee> <grant id> <revoked at> <expires at> <row>", the row being the
# JSON of what a decision needs (resource, scopes, terms, granted at), left out when it
# would take the notification past its 8000 bytes. A process then holds the grant with no
# read (``licenses.held.HeldGrants.reload_key``), and its own writes cost it nothing.
GRANT_CHANGE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION casset_notify_grant() RETURNS trigger AS $$
DECLARE
  note text;
  grant_row text;
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('{CHANGE_CHANNEL}', TG_TABLE_SCHEMA || ' ' || TG_TABLE_NAME || ' '
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
  PERFORM pg_notify('{CHANGE_CHANNEL}', note);
  RETURN NULL;
END
$$ LANGUAGE plpgsql
"""
GRANT_TRIGGER = ("CREATE TRIGGER license_grants_changes AFTER INSERT OR UPDATE OR DELETE "
                 "ON license_grants FOR EACH ROW EXECUTE FUNCTION casset_notify_grant()")


def change_triggers(tables: dict[str, str] = FOLLOWED_TABLES) -> list[str]:
    """The statements that make each of ``tables`` (name -> key column), and the license
    grants, notify their changes (PostgreSQL)."""
    out = [CHANGE_FUNCTION]
    for table, column in tables.items():
        out.append(f"DROP TRIGGER IF EXISTS {table}_changes ON {table}")
        out.append(f"CREATE TRIGGER {table}_changes AFTER INSERT OR UPDATE OR DELETE "
                   f"ON {table} FOR EACH ROW EXECUTE FUNCTION casset_notify_change('{column}')")
    return [*out, GRANT_CHANGE_FUNCTION,
            "DROP TRIGGER IF EXISTS license_grants_changes ON license_grants", GRANT_TRIGGER]


@event.listens_for(metadata, "after_create")
def _create_change_triggers(target: Any, connection: Connection, **_kw: Any) -> None:
    if connection.dialect.name == "postgresql":
        for statement in change_triggers():
            connection.exec_driver_sql(statement)
