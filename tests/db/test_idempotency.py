"""Idempotency keys on SQLite and PostgreSQL: retries racing each other get one outcome;
keys past their retention are deleted, and a retry under one is then a new request."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import msgspec
import pytest
from sqlalchemy import func, select
from test_licenses_support import agent

from casset_rights.idempotency import claim, expire
from casset_rights.idempotency.tables import idempotency_keys
from casset_rights.jobs.periodic import Every, PeriodicJobs
from casset_rights.jobs.registry import JOBS, job_function
from casset_rights.licenses.errors import QuoteUsed
from casset_rights.licenses.models import licensee_key
from casset_rights.services import Services

BOT = agent("bot-1")


def test_concurrent_retries_under_one_key_get_one_license(services: Services) -> None:
    quote = services.licenses.quote(BOT, resource="release:midnight-tapes", route="grounding")
    key = claim(licensee_key(BOT) or "", "retry-1", operation="license-obtain",
                request={"quote_id": quote.id})

    def obtain() -> str:
        grant = services.licenses.obtain(BOT, quote.id, claim=key).grant
        assert grant is not None
        return grant.id

    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(lambda _: obtain(), range(8)))
    assert len(set(ids)) == 1
    held = services.license_desk.grants(BOT)
    assert [g.id for g in held] == ids[:1]


def test_an_expired_key_is_deleted_and_a_retry_under_it_is_a_new_request(
        services: Services) -> None:
    retention = services.settings.idempotency_key_retention_seconds
    first = services.licenses.quote(BOT, resource="release:midnight-tapes", route="grounding")
    old = claim(licensee_key(BOT) or "", "retry-old", operation="license-obtain",
                request={"quote_id": first.id})
    obtained = services.licenses.obtain(BOT, first.id, claim=old)
    assert obtained.grant is not None
    # Within the retention the key stays and a retry replays the first outcome.
    assert expire(services.engine, retention_seconds=retention) == 0
    assert services.licenses.obtain(BOT, first.id, claim=old) == obtained

    later = time.time() + retention + 1
    assert expire(services.engine, retention_seconds=retention, clock=lambda: later) == 1
    with services.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(idempotency_keys)).scalar() == 0
    # The same request again is new: it meets the spent quote instead of the replay.
    with pytest.raises(QuoteUsed):
        services.licenses.obtain(BOT, first.id, claim=old)
    # And the key may now name another request.
    second = services.licenses.quote(BOT, resource="release:midnight-tapes",
                                     route="grounding")
    reused = claim(licensee_key(BOT) or "", "retry-old", operation="license-obtain",
                   request={"quote_id": second.id})
    again = services.licenses.obtain(BOT, second.id, claim=reused).grant
    assert again is not None and obtained.grant is not None
    assert again.id != obtained.grant.id


def test_the_servers_timer_runs_the_expiry_job(services: Services) -> None:
    quote = services.licenses.quote(BOT, resource="release:midnight-tapes", route="grounding")
    key = claim(licensee_key(BOT) or "", "retry-timer", operation="license-obtain",
                request={"quote_id": quote.id})
    services.licenses.obtain(BOT, quote.id, claim=key)
    # A retention of nothing: every key is past it by the next millisecond.
    quick = msgspec.structs.replace(services.settings, idempotency_key_retention_seconds=0)
    periodic = PeriodicJobs([Every("expire-idempotency-keys", 0.05)], functions=job_function,
                            context={"services": replace(services, settings=quick)})
    assert "expire-idempotency-keys" in JOBS
    periodic.start()
    try:
        deadline = time.monotonic() + 10
        while _keys(services) > 0:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        periodic.stop()
    assert periodic.run("expire-idempotency-keys") == {"deleted": 0}


def _keys(services: Services) -> int:
    with services.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(idempotency_keys)).scalar_one()
