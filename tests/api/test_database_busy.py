"""Every connection of the database's pool busy: a request that needs one waits at most
``database_pool_timeout_seconds``, then is a 503 that says to come back (not a 500), and
the service answers again once a connection is free."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import TimeoutError as PoolTimeout

from casset_rights.app import create_app
from casset_rights.db.engine import make_engine, search_path_of
from casset_rights.services import load_examples, open_services

ASK = {"action": "preview", "resource": "hook:midnight-tapes/1/chorus"}


@pytest.fixture
def impatient(settings: Any, engine: Engine) -> Iterator[tuple[TestClient, Engine]]:
    """The app on its own engine (the fixture's database) whose pool gives up after
    0.5 s."""
    own = make_engine(engine.url.render_as_string(hide_password=False),
                      search_path=search_path_of(engine), pool_timeout=0.5)
    services = open_services(settings, engine=own, migrate=False)
    load_examples(services)
    try:
        with TestClient(create_app(settings, services=services),
                        base_url="http://rights.test") as client:
            yield client, own
    finally:
        services.close()


@contextlib.contextmanager
def every_connection_taken(engine: Engine) -> Iterator[None]:
    taken: list[Connection] = []
    try:
        while True:
            try:
                taken.append(engine.connect())
            except PoolTimeout:
                break
        yield
    finally:
        for conn in taken:
            conn.close()


def test_no_free_connection_is_a_503_not_a_500(
        impatient: tuple[TestClient, Engine]) -> None:
    client, engine = impatient
    decided = client.post("/v1/decisions", json=ASK)
    assert decided.status_code == 200, decided.text
    receipt = f"/v1/receipts/{decided.json()['receipt_id']}"
    with every_connection_taken(engine):
        started = time.monotonic()
        busy = client.get(receipt)
        waited = time.monotonic() - started
    assert busy.status_code == 503, busy.text
    assert busy.headers["retry-after"] == "1"
    assert busy.json()["code"] == "database_busy"
    assert 0.5 <= waited < 5
    assert client.get(receipt).status_code == 200
