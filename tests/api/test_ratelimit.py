"""Rate limits over HTTP: per client, per address for the public, 429 with Retry-After
and the RateLimit fields; in process, and in Redis when CASSET_TEST_REDIS_URL is set."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from casset_rights.config import RateLimit, settings_from_env

REDIS_URL = __import__("os").environ.get("CASSET_TEST_REDIS_URL", "")
LIMITS = {"public": RateLimit(3, 6), "agent": RateLimit(2, 6), "partner": RateLimit(5, 60),
          "artist": RateLimit(5, 60)}


def _settings(tmp_path: Path, **extra: Any) -> Any:
    fields: dict[str, Any] = {
        "data_dir": tmp_path / "data", "load_examples": True, "issuer": "http://rights.test",
        "rate_limits": LIMITS, "registration_burst": 2, "registration_per_minute": 1}
    return settings_from_env({}, **(fields | extra))


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    return _settings(tmp_path)


def assert_limited(response: Any, *, limit: int) -> None:
    assert response.status_code == 429, response.text
    problem = response.json()
    assert problem["code"] == "rate_limited" and problem["status"] == 429
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["ratelimit-policy"].startswith(f'"default";q={limit};w=')
    assert response.headers["ratelimit"].startswith('"default";r=0;t=')


def test_public_callers_are_limited_by_address(client: TestClient) -> None:
    for remaining in (2, 1, 0):
        ok = client.get("/.well-known/casset-rights")
        assert ok.status_code == 200
        assert ok.headers["ratelimit"].startswith(f'"default";r={remaining};')
        assert ok.headers["ratelimit-policy"] == '"default";q=3;w=30'
    assert_limited(client.get("/v1/releases"), limit=3)


def test_each_client_has_its_own_bucket(oauth: Any) -> None:
    # Tokens are minted straight from the service: the token endpoint is a public
    # (per address) route and would spend the public bucket.
    first, second = oauth.agent(), oauth.agent()
    tokens = [_mint(oauth, c) for c in (first, second)]
    for token in tokens:
        for _ in range(2):
            assert oauth.http.get("/v1/releases",
                                  headers=oauth.bearer(token)).status_code == 200
    assert_limited(oauth.http.get("/v1/releases", headers=oauth.bearer(tokens[0])), limit=2)
    assert_limited(oauth.http.get("/v1/releases", headers=oauth.bearer(tokens[1])), limit=2)
    # The public bucket of the same address is untouched.
    assert oauth.http.get("/v1/releases").status_code == 200
    # A partner's limit is the partner kind's.
    partner = _mint(oauth, oauth.partner())
    assert oauth.http.get("/v1/releases", headers=oauth.bearer(partner)).headers[
        "ratelimit-policy"] == '"default";q=5;w=5'


def test_refused_tokens_still_count(oauth: Any) -> None:
    for _ in range(3):
        response = oauth.http.get("/v1/releases", headers=oauth.bearer("x.y.z"))
        assert response.json()["code"] == "invalid_token"
    assert_limited(oauth.http.get("/v1/releases", headers=oauth.bearer("x.y.z")), limit=3)


def test_registration_has_its_own_limit(oauth: Any, settings: Any) -> None:
    body = {"client_name": "Agent", "operator": "Op", "purpose": "search"}
    # Two registrations spend the registration bucket and two of the public bucket.
    assert oauth.http.post("/oauth/register", json=body).status_code == 201
    assert oauth.http.post("/oauth/register", json=body).status_code == 201
    assert_limited(oauth.http.post("/oauth/register", json=body), limit=2)


def test_limits_can_be_switched_off(tmp_path: Path, engine: Any) -> None:
    from casset_rights.app import create_app
    from casset_rights.services import open_services

    settings = _settings(tmp_path, rate_limits_enabled=False, load_examples=False)
    services = open_services(settings, engine=engine, migrate=False)
    with TestClient(create_app(settings, services=services),
                    base_url="http://rights.test") as http:
        for _ in range(10):
            response = http.get("/.well-known/casset-rights")
            assert response.status_code == 200 and "ratelimit" not in response.headers
    services.writer.close()


@pytest.fixture
def redis_apps(tmp_path: Path, engine: Any) -> Iterator[tuple[TestClient, TestClient]]:
    """Two app instances (as two processes would be) sharing one Redis."""
    if not REDIS_URL:
        pytest.skip("CASSET_TEST_REDIS_URL is not set")
    from casset_rights.app import create_app
    from casset_rights.services import open_services

    settings = _settings(tmp_path, redis_url=REDIS_URL, load_examples=False,
                         redis_key_prefix=f"test-{uuid.uuid4().hex}:")
    first = open_services(settings, engine=engine, migrate=False)
    second = open_services(settings, engine=engine, migrate=False)
    with TestClient(create_app(settings, services=first), base_url="http://rights.test") as a, \
            TestClient(create_app(settings, services=second),
                       base_url="http://rights.test") as b:
        yield a, b
    first.close()
    second.close()


@pytest.mark.redis
def test_processes_share_buckets_in_redis(redis_apps: tuple[TestClient, TestClient]) -> None:
    a, b = redis_apps
    assert a.get("/.well-known/casset-rights").status_code == 200
    assert b.get("/.well-known/casset-rights").status_code == 200
    assert a.get("/.well-known/casset-rights").headers["ratelimit"].startswith(
        '"default";r=0;')
    assert_limited(b.get("/.well-known/casset-rights"), limit=3)


def _mint(oauth: Any, new: Any) -> str:
    from casset_rights.auth.server import CassetAuthorizationServer

    server: CassetAuthorizationServer = oauth.services.auth.server
    c = new.client
    scope = " ".join(sorted(c.machine_scopes))
    minted = server.token_issuer.mint(client_id=c.client_id, subject=c.client_id,
                                      kind=c.kind, scope=scope, attributes=c.attributes)
    return minted.token


def test_limits_fail_open_when_redis_is_unreachable(tmp_path: Path, engine: Any) -> None:
    """With Redis gone (nothing listens at its address), requests are let through
    rather than refused: the public limit of 3 does not stop the fourth."""
    import socket

    from casset_rights.app import create_app
    from casset_rights.services import open_services

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = _settings(tmp_path, redis_url=f"redis://127.0.0.1:{port}/0",
                         load_examples=False)
    services = open_services(settings, engine=engine, migrate=False)
    try:
        with TestClient(create_app(settings, services=services),
                        base_url="http://rights.test") as client:
            answers = [client.get("/.well-known/casset-rights") for _ in range(5)]
    finally:
        services.close()
    assert [a.status_code for a in answers] == [200] * 5
    assert all(int(a.headers["ratelimit"].split("r=")[1].split(";")[0]) == 3
               for a in answers)  # a full bucket: nothing was counted
