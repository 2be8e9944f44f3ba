"""An answer that waits on its receipt does not wait on a database that stopped answering:
past ``receipt_wait_seconds`` it is a 503 that says to come back, and the service answers
again as soon as the database does."""

from __future__ import annotations

import time
from typing import Any

import msgspec
import pytest
from database_held import receipts_held
from litestar.testing import TestClient
from sqlalchemy import func, select

from casset_rights.receipts.service import ReceiptStore
from casset_rights.receipts.tables import receipts

HOOK = "hook:midnight-tapes/1/chorus"
ASK = {"action": "preview", "resource": HOOK}


@pytest.fixture
def settings(settings: Any) -> Any:
    return msgspec.structs.replace(settings, receipt_wait_seconds=0.5)


def assert_not_stored(answer: Any) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.headers["retry-after"] == "1"
    problem = answer.json()
    assert problem["code"] == "receipt_not_stored"
    assert "not stored within 0.5 s" in problem["detail"]


def stored_receipts(services: Any) -> int:
    with services.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(receipts)).scalar_one()


def test_a_receipt_that_cannot_be_stored_in_time_is_a_503_not_a_wait(
        client: TestClient, services: Any) -> None:
    writer = services.writer
    before = stored_receipts(services)
    with receipts_held(services.engine):
        started = time.monotonic()
        decision = client.post("/v1/decisions", json=ASK)
        waited = time.monotonic() - started
        while writer.stuck_for() <= 0.5:
            time.sleep(0.02)
        started = time.monotonic()
        grid = client.get(f"/v1/rights/{HOOK}")  # refused at once: the writer is stuck
        refused_in = time.monotonic() - started
        assert client.get("/v1/releases/midnight-tapes").status_code == 200  # reads go on
    assert_not_stored(decision)
    assert 0.5 <= waited < 5
    assert_not_stored(grid)
    assert refused_in < 0.5
    deadline = time.monotonic() + 30
    while writer.stuck_for() and time.monotonic() < deadline:
        time.sleep(0.02)
    again = client.post("/v1/decisions", json=ASK)
    assert again.status_code == 200, again.text
    assert ReceiptStore(services.engine).get(again.json()["receipt_id"]).token \
        == again.json()["receipt"]
    # The decision's receipt was in the group under way, which committed once the
    # database answered (stored, with no answer given for it, like a request cut off after
    # its commit); the grid's was refused before it was queued, and is not stored.
    assert stored_receipts(services) == before + 2
