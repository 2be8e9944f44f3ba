"""Fixtures of the fault tests: a PostgreSQL and a Redis of the test's own (see
fault_support)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_support import PrivatePostgres, PrivateRedis


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    # Not under pytest's tmp_path: the cluster runs as ``postgres``, which cannot enter
    # root's pytest folders.
    folder = Path(tempfile.mkdtemp(prefix="casset-fault-pg-"))
    server = PrivatePostgres(folder)
    server.init()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.kill()
