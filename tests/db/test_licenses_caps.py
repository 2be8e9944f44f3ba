"""Caps hold under concurrency: 50 buyers racing for a route capped at 10 get exactly 10
licenses and 40 clear refusals (on SQLite, and on PostgreSQL when configured)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select
from test_licenses_support import CAPPED_GROUNDING, agent, put_policy

from casset_rights.licenses import store
from casset_rights.licenses.errors import LicenseCapReached
from casset_rights.licenses.tables import license_grants
from casset_rights.services import Services

BUYERS = 50
CAP = 10


@pytest.mark.postgres
def test_fifty_concurrent_buyers_of_a_route_capped_at_ten(services: Services) -> None:
    put_policy(services, CAPPED_GROUNDING)
    buyers = [agent(f"buyer-{n:02d}") for n in range(BUYERS)]
    quotes = [services.licenses.quote(b, resource="release:glass-hours", route="grounding-ten")
              for b in buyers]
    start = threading.Barrier(BUYERS)

    def buy(n: int) -> str:
        start.wait(timeout=60)  # every buyer asks at the same moment
        try:
            grant = services.licenses.obtain(buyers[n], quotes[n].id).grant
            assert grant is not None
            return grant.id
        except LicenseCapReached as exc:
            assert "all 10" in exc.detail
            return exc.code

    with ThreadPoolExecutor(max_workers=BUYERS) as pool:
        outcomes = list(pool.map(buy, range(BUYERS)))

    granted = [o for o in outcomes if o.startswith("lic_")]
    refused = [o for o in outcomes if o == "license_cap_reached"]
    assert (len(granted), len(refused)) == (CAP, BUYERS - CAP)
    with services.engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(license_grants)).scalar()
        assert stored == CAP
        assert store.granted_count(conn, quotes[0].route) == CAP
    # The refused quotes were not used up: they are refused again, just as clearly.
    loser = outcomes.index("license_cap_reached")
    with pytest.raises(LicenseCapReached):
        services.licenses.obtain(buyers[loser], quotes[loser].id)
