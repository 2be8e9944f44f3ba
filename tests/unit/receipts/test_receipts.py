"""Receipts: signing, storing, verifying offline, and every way verification fails."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from pathlib import Path

import pytest
from database_held import receipts_held
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from casset_rights.errors import NotFound, ReceiptInvalid, ReceiptNotStored
from casset_rights.receipts.jws import sign_compact
from casset_rights.receipts.keys import FileKeyStore, b64url
from casset_rights.receipts.service import (
    RECEIPT_TYP,
    Receipt,
    ReceiptIssuer,
    ReceiptStore,
    ReceiptWriter,
    new_receipt_id,
)
from casset_rights.receipts.tables import receipts as receipts_table
from casset_rights.receipts.verify import keys_from_jwks, verify_receipt

BODY = {
    "principal": {"kind": "public"},
    "request": {"action": "remix", "resource": "hook:midnight-tapes/1/chorus"},
    "decision": "license_required",
    "policy_hash": "sha256:" + "a" * 64,
    "manifest_hash": "sha256:" + "b" * 64,
}


@pytest.fixture
def keys(tmp_path: Path) -> FileKeyStore:
    return FileKeyStore(tmp_path / "keys")


def test_first_start_generates_one_key_and_reloads_it(tmp_path: Path) -> None:
    first = FileKeyStore(tmp_path / "k")
    again = FileKeyStore(tmp_path / "k")
    assert first.active().kid == again.active().kid
    assert len(again.jwks()["keys"]) == 1
    pem = next((tmp_path / "k").glob("ed25519-*.pem"))
    assert pem.stat().st_mode & 0o077 == 0


def test_receipt_verifies_offline_with_the_published_jwks(keys: FileKeyStore) -> None:
    receipt = ReceiptIssuer(keys, issuer="https://rights.test").issue("decision", BODY)
    payload = verify_receipt(receipt.token, keys.jwks())
    assert payload["jti"] == receipt.jti
    assert payload["iss"] == "https://rights.test"
    assert payload["decision"] == "license_required"
    header = json.loads(base64.urlsafe_b64decode(receipt.token.split(".")[0] + "=="))
    assert header == {"alg": "EdDSA", "kid": keys.active().kid, "typ": RECEIPT_TYP}


def test_receipt_ids_are_unique_hex_and_sort_by_issue_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_795_000_000_000_000_000]
    monkeypatch.setattr("casset_rights.receipts.service.time.time_ns", lambda: now[0])
    same_ms = [new_receipt_id() for _ in range(1000)]
    now[0] += 1_000_000  # one millisecond later
    later = new_receipt_id()
    assert len(set(same_ms)) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in [*same_ms, later])
    assert {i[:12] for i in same_ms} == {f"{1_795_000_000_000:012x}"}
    assert later > max(same_ms)


def test_old_receipts_verify_after_rotation(keys: FileKeyStore) -> None:
    issuer = ReceiptIssuer(keys, issuer="i")
    old = issuer.issue("decision", BODY)
    keys.rotate()
    new = issuer.issue("decision", BODY)
    jwks = keys.jwks()
    assert len(jwks["keys"]) == 2
    assert verify_receipt(old.token, jwks)["jti"] == old.jti
    assert verify_receipt(new.token, jwks)["jti"] == new.jti
    assert old.token.split(".")[0] != new.token.split(".")[0]


def test_tampered_payload_is_a_bad_signature(keys: FileKeyStore) -> None:
    token = ReceiptIssuer(keys, issuer="i").issue("decision", BODY).token
    head, _, sig = token.split(".")
    forged = b64url(json.dumps({**BODY, "decision": "permit", "iss": "i", "iat": 1,
                                "jti": "x"}).encode())
    with pytest.raises(ReceiptInvalid, match=r"^bad signature"):
        verify_receipt(f"{head}.{forged}.{sig}", keys.jwks())


def test_unknown_key(keys: FileKeyStore, tmp_path: Path) -> None:
    token = ReceiptIssuer(keys, issuer="i").issue("decision", BODY).token
    other = FileKeyStore(tmp_path / "other")
    with pytest.raises(ReceiptInvalid, match=r"^unknown key"):
        verify_receipt(token, other.jwks())


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c.d", "!!.??.##", "e30.e30"])
def test_malformed(keys: FileKeyStore, token: str) -> None:
    with pytest.raises(ReceiptInvalid, match=r"^malformed"):
        verify_receipt(token, keys.jwks())


def test_alg_none_and_other_algorithms_are_refused(keys: FileKeyStore) -> None:
    payload = b64url(json.dumps({"iss": "i", "iat": 1, "jti": "x", "principal": {}}).encode())
    for alg in ("none", "HS256", "RS256", "ES256"):
        header = b64url(json.dumps({"alg": alg, "kid": keys.active().kid,
                                    "typ": RECEIPT_TYP}).encode())
        with pytest.raises(ReceiptInvalid, match=r"^unsupported algorithm"):
            verify_receipt(f"{header}.{payload}.", keys.jwks())


def test_another_token_type_is_not_a_receipt(keys: FileKeyStore) -> None:
    token = sign_compact({"iss": "i", "iat": 1, "jti": "x", "principal": {}}, keys.active(),
                         typ="at+jwt")
    with pytest.raises(ReceiptInvalid, match=r"^wrong type"):
        verify_receipt(token, keys.jwks())


def test_a_jwks_kid_that_is_not_the_thumbprint_is_not_trusted(keys: FileKeyStore) -> None:
    jwks = keys.jwks()
    jwks["keys"][0]["kid"] = "chosen-by-attacker"
    assert keys_from_jwks(jwks) == {}


def test_store_and_fetch(engine: Engine, keys: FileKeyStore) -> None:
    store = ReceiptStore(engine)
    receipt = ReceiptIssuer(keys, issuer="i").issue("decision", BODY)
    store.store([receipt])
    fetched = store.get(receipt.jti)
    assert fetched.token == receipt.token
    assert fetched.payload == receipt.payload
    with pytest.raises(NotFound):
        store.get("missing")


def test_writer_groups_concurrent_receipts_and_every_waiter_gets_its_own(
    engine: Engine, keys: FileKeyStore
) -> None:
    store = ReceiptStore(engine)
    writer = ReceiptWriter(store, batch_max=16)
    issuer = ReceiptIssuer(keys, issuer="i")
    results: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(20):
            r = issuer.issue("decision", BODY)
            stored = writer.stored_blocking(r)
            with lock:
                results.append(stored.jti)
            assert stored.jti == r.jti

    threads = [threading.Thread(target=work) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    assert len(set(results)) == 100
    for jti in results[::10]:
        assert store.get(jti).jti == jti


def test_a_store_that_keeps_its_connection_recovers_from_a_failed_batch(
        engine: Engine, keys: FileKeyStore) -> None:
    issuer = ReceiptIssuer(keys, issuer="i")
    store = ReceiptStore(engine, keep_connection=True)
    first = store.store([issuer.issue("decision", BODY) for _ in range(3)])
    kept = store._kept
    assert kept is not None
    second = store.store([issuer.issue("decision", BODY)])
    assert store._kept is kept  # one connection for both batches
    with pytest.raises(IntegrityError):  # the same jti twice: nothing of the batch stays
        store.store([issuer.issue("decision", BODY), first[0]])
    assert store._kept is None
    third = store.store([issuer.issue("decision", BODY)])
    store.close()
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(receipts_table)).scalar()
    assert stored == 5
    for receipt in [*first, *second, *third]:
        assert ReceiptStore(engine).get(receipt.jti).token == receipt.token


def impatient_writer(engine: Engine, keys: FileKeyStore,
                     wait_seconds: float) -> tuple[ReceiptIssuer, ReceiptWriter]:
    return ReceiptIssuer(keys, issuer="i"), ReceiptWriter(
        ReceiptStore(engine), batch_wait_ms=0,
        wait_seconds=wait_seconds)


def stored_once_free(writer: ReceiptWriter, issuer: ReceiptIssuer) -> Receipt:
    """A new receipt stored once the group under way has committed (SQLite's busy
    handler looks again every few tens of milliseconds)."""
    deadline = time.monotonic() + 30
    while writer.stuck_for() and time.monotonic() < deadline:
        time.sleep(0.01)
    return writer.stored_blocking(issuer.issue("decision", BODY))


def test_a_receipt_not_stored_in_time_is_a_refusal_not_a_wait(
        engine: Engine, keys: FileKeyStore) -> None:
    issuer, writer = impatient_writer(engine, keys, 0.5)
    taken, refused = issuer.issue("decision", BODY), issuer.issue("decision", BODY)
    try:
        with receipts_held(engine):
            started = time.monotonic()
            with pytest.raises(ReceiptNotStored, match=r"not stored within 0\.5 s"):
                writer.stored_blocking(taken)  # taken into a group that cannot commit
            assert 0.5 <= time.monotonic() - started < 5
            while writer.stuck_for() <= 0.5:
                time.sleep(0.05)
            started = time.monotonic()
            with pytest.raises(ReceiptNotStored):
                writer.stored_blocking(refused)  # refused at once: the writer is stuck
            assert time.monotonic() - started < 0.5
        after = stored_once_free(writer, issuer)
    finally:
        writer.close()
    store = ReceiptStore(engine)
    assert store.get(after.jti).token == after.token
    # The group under way commits once the database answers: that receipt is stored,
    # with no answer given for it (as for a request cut off after its commit).
    assert store.get(taken.jti).jti == taken.jti
    with pytest.raises(NotFound):
        store.get(refused.jti)


def test_a_receipt_given_up_while_queued_is_never_stored(
        engine: Engine, keys: FileKeyStore) -> None:
    issuer, writer = impatient_writer(engine, keys, 1.0)
    taken, queued = issuer.issue("decision", BODY), issuer.issue("decision", BODY)
    refusals: list[ReceiptNotStored] = []

    def wait_for_taken() -> None:
        try:
            writer.stored_blocking(taken)
        except ReceiptNotStored as exc:
            refusals.append(exc)

    first = threading.Thread(target=wait_for_taken)
    try:
        with receipts_held(engine):
            first.start()
            while not writer.stuck_for():  # ``taken`` is being written
                time.sleep(0.01)
            with pytest.raises(ReceiptNotStored):  # queued behind it, on an event loop
                asyncio.run(writer.stored(queued))
            first.join()
        assert len(refusals) == 1
        after = stored_once_free(writer, issuer)
    finally:
        writer.close()
    store = ReceiptStore(engine)
    assert store.get(after.jti).jti == after.jti
    with pytest.raises(NotFound):
        store.get(queued.jti)
