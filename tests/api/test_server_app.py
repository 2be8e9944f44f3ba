"""The app as servers build it (``app_from_environment``, granian's factory)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from litestar.testing import TestClient

from casset_rights.app import YOUNG_COLLECTION_THRESHOLD, app_from_environment
from casset_rights.receipts.verify import verify_receipt


def test_the_server_app_sequences_the_log_and_tunes_the_collector(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASSET_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CASSET_LOAD_EXAMPLES", "1")
    monkeypatch.delenv("CASSET_DATABASE_URL", raising=False)
    app = app_from_environment()
    services = app.state["services"]
    before = gc.get_freeze_count()
    threshold = gc.get_threshold()
    try:
        with TestClient(app, base_url="http://rights.test") as client:
            assert gc.get_freeze_count() > before  # the start-up froze what it holds
            # ... and collects the young generation less often, the others as before
            assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, *threshold[1:])
            # ... and made the anchoring chain, its contract deployed, before any anchor
            chain = services.anchoring._chain
            assert chain is not None and chain._deployed
            assert services.anchoring.recent() == []
            answer = client.post("/v1/decisions", json={
                "action": "ai-train", "resource": "release:midnight-tapes"})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["decision"] == "deny"
            jwks = client.get("/.well-known/jwks.json").json()
            assert verify_receipt(body["receipt"], jwks)["jti"] == body["receipt_id"]
            stored = client.get(f"/v1/receipts/{body['receipt_id']}").json()
            assert stored["receipt"] == body["receipt"]
            assert stored["payload"]["decision"] == "deny"
            # The server's own sequencer took the lease and logs the receipt on its own.
            bundle = _bundle_when_logged(client, body["receipt_id"])
            assert bundle["receipt"] == body["receipt"]
            assert services.sequencer.leading
    finally:
        gc.unfreeze()  # this test process goes on
        gc.set_threshold(*threshold)


def _bundle_when_logged(client: TestClient, jti: str, seconds: float = 10.0) -> dict:
    """The receipt's bundle, asked for until the sequencer has logged and checkpointed it
    (409 log_pending with Retry-After until then)."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        answer = client.get(f"/v1/receipts/{jti}/bundle")
        if answer.status_code == 200:
            return answer.json()
        assert answer.status_code == 409, answer.text
        assert answer.json()["code"] == "log_pending"
        assert int(answer.headers["retry-after"]) >= 1
        assert time.monotonic() < deadline, "the receipt was never logged"
        time.sleep(0.05)
