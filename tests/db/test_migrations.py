"""The Alembic migrations build exactly the schema the tables declare, on both databases."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from casset_rights.db.engine import make_engine
from casset_rights.db.migrate import upgrade
from casset_rights.db.tables import metadata


def _assert_no_drift(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                metadata)
    assert diff == []


def test_migrations_match_the_tables_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    upgrade(engine)  # a second run is a no-op
    _assert_no_drift(engine)


@pytest.mark.postgres
def test_migrations_match_the_tables_on_postgres() -> None:
    url = os.environ.get("CASSET_TEST_DATABASE_URL")
    if not url:
        pytest.skip("CASSET_TEST_DATABASE_URL is not set")
    schema = f"migr_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, search_path=schema)
    try:
        upgrade(engine)
        _assert_no_drift(engine)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
