"""Minting and validating access tokens, and the replay cache of client assertions."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import jwt
import pytest
from sqlalchemy import Engine

from casset_rights.auth.replay import InProcessReplayCache, RedisReplayCache
from casset_rights.auth.revocation import RevokedTokens
from casset_rights.auth.tokens import AccessTokenIssuer, TokenStore
from casset_rights.auth.validation import AccessTokenValidator
from casset_rights.errors import InvalidToken, ServiceUnavailable
from casset_rights.receipts.keys import FileKeyStore

ISSUER, AUDIENCE = "https://rights.example", "https://rights.example/v1"
REDIS_URL = os.environ.get("CASSET_TEST_REDIS_URL", "")


@pytest.fixture
def parts(engine: Engine, tmp_path: Path) -> tuple[AccessTokenIssuer, AccessTokenValidator,
                                                   TokenStore, FileKeyStore]:
    keys = FileKeyStore(tmp_path / "keys")
    revoked = RevokedTokens(engine, refresh_seconds=60)
    issuer = AccessTokenIssuer(keys, issuer=ISSUER, audience=AUDIENCE, ttl_seconds=900)
    validator = AccessTokenValidator(keys, issuer=ISSUER, audiences=(AUDIENCE,),
                                     leeway_seconds=30, revoked=revoked)
    return issuer, validator, TokenStore(engine, revoked=revoked,
                                         refresh_ttl_seconds=60), keys


def test_a_minted_token_validates_into_its_principal(parts) -> None:  # type: ignore[no-untyped-def]
    issuer, validator, _, _ = parts
    minted = issuer.mint(client_id="tidewater-radio", subject="nightglass", kind="artist",
                         scope="catalog:write policies:write", attributes={})
    principal = validator.principal(minted.token, address="10.0.0.1")
    assert principal.kind == "artist" and principal.subject == "nightglass"
    assert principal.client_id == "tidewater-radio" and principal.address == "10.0.0.1"
    assert principal.scopes == frozenset({"catalog:write", "policies:write"})
    assert principal.for_receipt() == {"kind": "artist", "client_id": "tidewater-radio",
                                       "sub": "nightglass"}
    agent = validator.principal(issuer.mint(
        client_id="a1", subject="a1", kind="agent", scope="rights:read",
        attributes={"operator": "Op", "verified": True, "tier": 2}).token)
    assert agent.subject is None
    assert agent.attributes == {"operator": "Op", "verified": True, "tier": 2}


def test_revocation_is_checked_on_every_use(parts) -> None:  # type: ignore[no-untyped-def]
    issuer, validator, tokens, _ = parts
    minted = issuer.mint(client_id="a", subject="a", kind="agent", scope="rights:read",
                         attributes={})
    tokens.record_access(minted, client_id="a", subject="a", scope="rights:read",
                         grant_id=None)
    validator.principal(minted.token)  # now cached
    tokens.revoke_access(minted.jti)
    with pytest.raises(InvalidToken, match="revoked"):
        validator.principal(minted.token)


def test_the_key_is_looked_up_once_and_rotation_keeps_old_tokens(parts) -> None:  # type: ignore[no-untyped-def]
    issuer, validator, _, keys = parts
    before = issuer.mint(client_id="a", subject="a", kind="agent", scope="", attributes={})
    keys.rotate()
    after = issuer.mint(client_id="a", subject="a", kind="agent", scope="", attributes={})
    assert jwt.get_unverified_header(before.token)["kid"] != \
        jwt.get_unverified_header(after.token)["kid"]
    assert validator.principal(before.token).client_id == "a"
    assert validator.principal(after.token).client_id == "a"


@pytest.mark.parametrize("change, detail", [
    ({"aud": "https://rights.example"}, "audience"),
    ({"iss": "https://evil.example"}, "issuer"),
    ({"exp": -100, "iat": -1000}, "expired"),
    ({"nbf": 600}, "not valid yet"),
    ({"casset_kind": "public"}, "principal"),
    ({"casset_attributes": {"x": [1]}}, "attributes"),
    ({"scope": None}, "scope"),
])
def test_claim_checks(parts, change: dict, detail: str) -> None:  # type: ignore[no-untyped-def]
    _, validator, _, keys = parts
    key = keys.active()
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "a", "client_id": "a", "scope": "",
            "jti": uuid.uuid4().hex, "iat": now, "exp": now + 600, "casset_kind": "agent"}
    for name, value in change.items():
        if value is None:
            body.pop(name)
        elif name in ("exp", "iat", "nbf"):
            body[name] = now + value
        else:
            body[name] = value
    token = jwt.encode(body, key.private_key, algorithm="EdDSA",
                       headers={"typ": "at+jwt", "kid": key.kid})
    with pytest.raises(InvalidToken, match=detail):
        validator.principal(token)


def test_in_process_replay_cache_remembers_for_the_ttl() -> None:
    now = [100.0]
    cache = InProcessReplayCache(clock=lambda: now[0])
    assert cache.first_use("c:j1", ttl_seconds=90)
    assert not cache.first_use("c:j1", ttl_seconds=90)
    assert cache.first_use("c:j2", ttl_seconds=90)
    now[0] += 91  # by now the assertion's exp (+ leeway) refuses it on its own
    assert cache.first_use("c:j1", ttl_seconds=90)


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL, reason="CASSET_TEST_REDIS_URL is not set")
def test_redis_replay_cache_is_shared() -> None:
    prefix = f"test-{uuid.uuid4().hex}:"
    one, two = RedisReplayCache(REDIS_URL, prefix=prefix), RedisReplayCache(REDIS_URL,
                                                                           prefix=prefix)
    try:
        assert one.first_use("c:j1", ttl_seconds=5)
        assert not two.first_use("c:j1", ttl_seconds=5)
    finally:
        one.close()
        two.close()


def test_an_unreachable_replay_cache_refuses() -> None:
    cache = RedisReplayCache("redis://127.0.0.1:1/0")
    with pytest.raises(ServiceUnavailable):
        cache.first_use("c:j", ttl_seconds=5)
    cache.close()
