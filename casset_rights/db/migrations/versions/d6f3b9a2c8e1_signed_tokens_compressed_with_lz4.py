"""signed tokens compressed with LZ4: the log's queue and leaves, quotes and licenses

Revision ID: d6f3b9a2c8e1
Revises: b8d3f6a2c1e9
Create Date: 2026-12-07 15:20:00.000000

PostgreSQL compressed a token that takes its row past about 2 kB with ``pglz``; these
columns now use LZ4 (``db.compression``), where the server has it. Values already stored
keep the compression they were written with. SQLite: nothing to do.
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'd6f3b9a2c8e1'
down_revision: str | None = 'b8d3f6a2c1e9'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As they are at this revision (a migration does not change with the code).
_COLUMNS = {"log_pending": "data", "log_leaves": "data", "license_quotes": "token",
            "license_grants": "token"}


def _set(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    has_lz4 = bind.exec_driver_sql(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings"
        " WHERE name = 'default_toast_compression'").scalar()
    if not has_lz4:
        return
    for table, column in _COLUMNS.items():
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method}")


def upgrade() -> None:
    _set("lz4")


def downgrade() -> None:
    _set("default")
