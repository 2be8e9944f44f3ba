"""Idempotency keys on SQLite and PostgreSQL: retries racing each other get one outcome."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from test_licenses_support import agent

from casset_rights.idempotency import claim
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
