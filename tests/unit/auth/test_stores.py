"""Clients, codes, token records and the revoked set, on SQLite and PostgreSQL."""

from __future__ import annotations

import socket
import time

import pytest
from sqlalchemy import Engine

from casset_rights.auth.clients import ClientStore
from casset_rights.auth.codes import CodeStore
from casset_rights.auth.revocation import RevokedTokens
from casset_rights.auth.tokens import MintedToken, TokenStore
from casset_rights.db.engine import make_engine
from casset_rights.errors import Conflict, InvalidInput, NotFound

pytestmark = pytest.mark.postgres


class Clock:
    def __init__(self, now: float = 1_900_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _client(store: ClientStore, client_id: str | None = None) -> str:
    new = store.create(kind="partner", name="P", created_by="operator",
                       auth_method="client_secret_basic",
                       grant_types=["client_credentials", "authorization_code"],
                       scope="rights:read catalog:write",
                       redirect_uris=["https://p.example/cb"], client_id=client_id)
    assert new.secret is not None and new.client.check_client_secret(new.secret)
    return new.client.client_id


def test_clients(engine: Engine) -> None:
    store = ClientStore(engine)
    client_id = _client(store, "tidewater-radio")
    client = store.get(client_id)
    assert client.redirect_uris == ("https://p.example/cb",)
    assert client.get_allowed_scope(None) == "catalog:write rights:read"
    assert client.get_allowed_scope("rights:read") == "rights:read"
    assert client.get_allowed_scope("rights:read admin") is None
    assert client.check_endpoint_auth_method("client_secret_post", "token")
    assert not client.check_endpoint_auth_method("private_key_jwt", "token")
    assert client.check_response_type("code") and not client.check_response_type("token")
    with pytest.raises(Conflict):
        _client(store, "tidewater-radio")
    with pytest.raises(InvalidInput):
        _client(store, "Bad Id")
    store.disable(client_id)
    assert store.find(client_id) is None
    with pytest.raises(NotFound):
        store.get(client_id)
    assert store.find("x" * 500) is None


def _code(engine: Engine, clock: Clock) -> tuple[CodeStore, str]:
    store = ClientStore(engine)
    client_id = _client(store)
    codes = CodeStore(engine, ttl_seconds=300, clock=clock)
    codes.save("the-code", client_id=client_id, artist_id="nightglass",
               redirect_uri="https://p.example/cb", scope="catalog:write",
               code_challenge="c" * 43, code_challenge_method="S256")
    return codes, client_id


def test_a_code_is_redeemed_once(engine: Engine) -> None:
    clock = Clock()
    codes, client_id = _code(engine, clock)
    assert codes.redeem("the-code", client_id="someone-else").code is None
    first = codes.redeem("the-code", client_id=client_id)
    assert first.code is not None and first.code.artist_id == "nightglass"
    again = codes.redeem("the-code", client_id=client_id)
    assert again.code is None and again.reused_grant == first.code.grant_id
    assert codes.redeem("never-issued", client_id=client_id) == codes.redeem(
        "never-issued", client_id=client_id)


def test_an_expired_code(engine: Engine) -> None:
    clock = Clock()
    codes, client_id = _code(engine, clock)
    clock.now += 301
    outcome = codes.redeem("the-code", client_id=client_id)
    assert outcome.code is None and outcome.reused_grant is None


def test_refresh_tokens_rotate_and_reuse_is_reported(engine: Engine) -> None:
    clock = Clock()
    revoked = RevokedTokens(engine, refresh_seconds=0, clock=clock)
    tokens = TokenStore(engine, revoked=revoked, refresh_ttl_seconds=3600, clock=clock)
    tokens.save_refresh("r1", client_id="p", artist_id="a", grant_id="g1", scope="x")
    assert tokens.exchange("r1", client_id="q").record is None  # another client's
    first = tokens.exchange("r1", client_id="p")
    assert first.record is not None and first.record.grant_id == "g1"
    reuse = tokens.exchange("r1", client_id="p")
    assert reuse.record is None and reuse.reused_grant == "g1"
    tokens.save_refresh("r2", client_id="p", artist_id="a", grant_id="g2", scope="x")
    clock.now += 3601
    expired = tokens.exchange("r2", client_id="p")
    assert expired.record is None and expired.reused_grant is None


def test_revocations_reach_other_processes(engine: Engine) -> None:
    clock = Clock()
    here = RevokedTokens(engine, refresh_seconds=1.0, clock=clock)
    there = RevokedTokens(engine, refresh_seconds=1.0, clock=clock)
    tokens = TokenStore(engine, revoked=here, refresh_ttl_seconds=3600, clock=clock)
    now = int(clock.now)
    for jti, grant in (("j1", None), ("j2", "g"), ("j3", "g")):
        tokens.record_access(MintedToken(token="t", jti=jti, issued_at=now,
                                         expires_at=now + 900),
                             client_id="c", subject="c", scope="rights:read", grant_id=grant)
    assert not there.is_revoked("j1")
    tokens.revoke_access("j1")
    tokens.revoke_grant("g")
    assert here.is_revoked("j1") and here.is_revoked("j2")  # at once, in this process
    assert not there.is_revoked("j1")  # the other process has not looked yet
    clock.now += 1.0
    assert there.is_revoked("j1") and there.is_revoked("j3") and not there.is_revoked("x")
    record = tokens.access("j2")
    assert record is not None and record.is_revoked()
    clock.now += 900  # expired: the set forgets them, exp refuses them anyway
    there.refresh()
    assert len(there) == 0


def test_a_started_set_follows_other_processes_from_its_own_thread(engine: Engine) -> None:
    here = RevokedTokens(engine, refresh_seconds=0.05)
    there = RevokedTokens(engine, refresh_seconds=0.05)
    tokens = TokenStore(engine, revoked=here, refresh_ttl_seconds=3600)
    now = int(time.time())
    tokens.record_access(MintedToken(token="t", jti="j1", issued_at=now, expires_at=now + 900),
                         client_id="c", subject="c", scope="rights:read", grant_id=None)
    there.start()
    try:
        tokens.revoke_access("j1")
        deadline = time.monotonic() + 10
        while not there.is_revoked("j1") and time.monotonic() < deadline:
            time.sleep(0.01)  # a started set's look-ups read memory: the thread refreshes
        assert there.is_revoked("j1") and not there.is_revoked("j2")
    finally:
        there.stop()


def test_a_started_set_answers_while_the_database_does_not() -> None:
    """A database that accepts connections and never answers (a hung server): the
    refresh waits in its thread, and every look-up answers from memory at once."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/casset"
                             "?connect_timeout=2")
        revoked = RevokedTokens(engine, refresh_seconds=0.05)
        revoked.add("j1", int(time.time()) + 900)
        revoked.start()
        try:
            slowest = 0.0
            for _ in range(20):
                started = time.monotonic()
                assert revoked.is_revoked("j1") and not revoked.is_revoked("j2")
                slowest = max(slowest, time.monotonic() - started)
                time.sleep(0.02)
            assert slowest < 0.1
        finally:
            revoked.stop()
            engine.dispose()
