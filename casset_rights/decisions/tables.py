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
# table -> the columns naming what changed (what a follower reloads), joined by a space
# in the key: a grant's notification names its licensee and the grant itself, so a
# follower reads that one row, not every grant the licensee holds.
FOLLOWED_TABLES: dict[str, tuple[str, ...]] = {
    "license_grants": ("licensee", "id"),
    "lineage_edges": ("child_release",),
    "release_versions": ("release_id",),
    "policy_versions": ("policy_id",),
}
CHANGE_FUNCTION = f"""
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
    PERFORM pg_notify('{CHANGE_CHANNEL}', TG_TABLE_SCHEMA || ' ' || TG_TABLE_NAME || ' '
                      || key);
  END LOOP;
  RETURN NULL;
END
$$ LANGUAGE plpgsql
"""


def change_triggers(tables: dict[str, tuple[str, ...]] = FOLLOWED_TABLES) -> list[str]:
    """The statements that make each of ``tables`` (name -> key columns) notify its
    changes (PostgreSQL)."""
    out = [CHANGE_FUNCTION]
    for table, columns in tables.items():
        arguments = ", ".join(f"'{column}'" for column in columns)
        out.append(f"DROP TRIGGER IF EXISTS {table}_changes ON {table}")
        out.append(f"CREATE TRIGGER {table}_changes AFTER INSERT OR UPDATE OR DELETE "
                   f"ON {table} FOR EACH ROW EXECUTE FUNCTION casset_notify_change({arguments})")
    return out


def drop_change_triggers(tables: dict[str, tuple[str, ...]] = FOLLOWED_TABLES) -> list[str]:
    return [*(f"DROP TRIGGER IF EXISTS {table}_changes ON {table}" for table in tables),
            "DROP FUNCTION IF EXISTS casset_notify_change()"]


@event.listens_for(metadata, "after_create")
def _create_change_triggers(target: Any, connection: Connection, **_kw: Any) -> None:
    if connection.dialect.name == "postgresql":
        for statement in change_triggers():
            connection.exec_driver_sql(statement)
