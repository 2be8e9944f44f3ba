"""Commerce: the paid flow per second against localstripe, and an artist's statement.

``flow``: the real services (examples loaded, SQLite in a temporary folder, or
PostgreSQL with ``--database-url``) with Stripe pointed at localstripe behind the test
double (tests/stripe_double), through the real ``stripe`` SDK. ``--buyers`` concurrent
payers (threads) each run, for ``--seconds``: quote a paid route of Glass Hours
(``BENCH_POLICY``: 15.00 USD, no cap), open the payment (a PaymentIntent), pay it as the
payer (set the card, confirm), then hand the service the signed
``payment_intent.succeeded`` webhook, which verifies it, grants the license and writes
the ledger. localstripe itself delivers that
event a fixed second after the payment (an ``asyncio.sleep(1)`` in its code); the
benchmark signs the same event itself (Stripe's scheme, the webhook secret) so the
figure is the service's and localstripe's work, not that sleep. Afterwards it checks
every flow left one license and a ledger balancing to zero.

``statement``: on PostgreSQL (``--database-url``), ``--entries`` ledger entries for one
artist (and as many for another, each movement balanced by a payer's entry) spread over
a year, written through ``ledger.write``; then the statement for the whole range and for
one month, ``--repeats`` times each (balances and totals from the day sums and the
edges' entries, the first 1,000 lines as objects); prints the median and p95 in ms.

    .venv/bin/python benchmarks/commerce_bench.py flow
    .venv/bin/python benchmarks/commerce_bench.py statement \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _machine import cpu_model, load_average  # noqa: E402

RELEASE = "release:glass-hours"
# A paid route without a cap (the examples' paid routes are capped at 100).
BENCH_POLICY = """\
policy: nightglass-glass-hours-bench
artist: nightglass
applies_to: release:glass-hours
rules:
  - id: grounding-paid
    route: grounding-paid
    for: [ai-input]
    to: [agent, partner]
routes:
  grounding-paid:
    type: paid
    price: { amount: 1500, currency: usd }
    term_days: 30
"""


def _services(data_dir: Path, database_url: str | None, double: Any) -> Any:
    from casset_rights.config import settings_from_env
    from casset_rights.db.engine import make_engine
    from casset_rights.services import load_examples, open_services

    settings = settings_from_env({}, data_dir=data_dir, issuer="http://rights.bench",
                                 stripe_secret_key="sk_test_bench",
                                 stripe_webhook_secret=double.webhook_secret,
                                 stripe_api_base=double.url)
    engine = None
    if database_url:
        from sqlalchemy import text

        admin = make_engine(database_url)
        with admin.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS bench_commerce CASCADE"))
            conn.execute(text("CREATE SCHEMA bench_commerce"))
        admin.dispose()
        engine = make_engine(database_url, search_path="bench_commerce")
    services = open_services(settings, engine=engine)
    load_examples(services)
    return services


def flow(args: argparse.Namespace) -> None:
    import stripe
    from sqlalchemy import func, select
    from stripe_double.server import local_stripe

    from casset_rights.commerce import ledger
    from casset_rights.commerce.tables import payments
    from casset_rights.licenses.tables import license_grants
    from casset_rights.principal import Principal

    print(f"load before: {load_average()}; cpu: {cpu_model()}", file=sys.stderr)
    with local_stripe() as double, tempfile.TemporaryDirectory() as tmp:
        services = _services(Path(tmp), args.database_url, double)
        commerce = services.commerce
        services.policies.put(BENCH_POLICY, source_name="bench.yaml")
        services.index.refresh(force=True)
        account = commerce.payouts.onboard("nightglass", principal={"kind": "artist"},
                                           refresh_url="https://x.example/r",
                                           return_url="https://x.example/d")
        enabled = double.enable_account(account.account_id)
        commerce.webhooks.receive(enabled.payload, enabled.signature)
        payer = stripe.StripeClient("sk_test_payer", base_addresses={"api": double.url},
                                    max_network_retries=0)
        latencies: list[float] = []
        lock = threading.Lock()
        stop = time.monotonic() + args.seconds

        def one(n: int, i: int) -> None:
            started = time.perf_counter()
            who = Principal(kind="agent", client_id=f"bench-{n}-{i}")
            quote = services.licenses.quote(who, resource=RELEASE, route="grounding-paid")
            payment = commerce.checkout.open_for_quote(who, quote.id)
            payer.v1.payment_intents.update(payment.intent_id,
                                            {"payment_method": "pm_card_visa"})
            intent = payer.v1.payment_intents.confirm(payment.intent_id)
            body = json.dumps({"id": f"evt_bench_{n}_{i}", "object": "event",
                               "type": "payment_intent.succeeded",
                               "created": int(time.time()),
                               "data": {"object": intent.to_dict()}}).encode()
            outcome = commerce.webhooks.receive(body, double.sign(body))
            assert outcome.outcome.endswith("succeeded"), outcome
            with lock:
                latencies.append(time.perf_counter() - started)

        def buyer(n: int) -> None:
            i = 0
            while time.monotonic() < stop:
                one(n, i)
                i += 1

        one(-1, 0)  # warm up
        latencies.clear()
        began = time.monotonic()
        threads = [threading.Thread(target=buyer, args=(n,)) for n in range(args.buyers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - began
        with services.engine.connect() as conn:
            grants = conn.execute(select(func.count()).select_from(license_grants)).scalar()
            ids = [r for (r,) in conn.execute(select(payments.c.id))]
            unbalanced = [p for p in ids if ledger.payment_balance(conn, p) != 0]
        services.writer.close()
    flows = len(latencies)
    assert grants == flows + 1 and not unbalanced, (grants, flows, unbalanced)
    lat = sorted(latencies)
    print(f"load after: {load_average()}", file=sys.stderr)
    print("| database | buyers | flows | flows/s | p50 ms | p95 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(f"| {'PostgreSQL' if args.database_url else 'SQLite'} | {args.buyers} | {flows} | "
          f"{flows / elapsed:.1f} | {lat[len(lat) // 2] * 1000:.0f} | "
          f"{lat[int(len(lat) * 0.95)] * 1000:.0f} |")
    print(f"\ncommand: .venv/bin/python benchmarks/commerce_bench.py "
          f"{shlex.join(sys.argv[1:])}")


def statement(args: argparse.Namespace) -> None:
    from sqlalchemy import text

    from casset_rights.commerce import ledger
    from casset_rights.db.engine import make_engine
    from casset_rights.db.migrate import upgrade

    if not args.database_url:
        sys.exit("statement needs --database-url (PostgreSQL)")
    print(f"load before: {load_average()}; cpu: {cpu_model()}", file=sys.stderr)
    admin = make_engine(args.database_url)
    with admin.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS bench_statement CASCADE"))
        conn.execute(text("CREATE SCHEMA bench_statement"))
    admin.dispose()
    engine = make_engine(args.database_url, search_path="bench_statement")
    upgrade(engine)
    rng = random.Random(7)
    year_ms = 365 * 86_400_000
    start = 1_767_225_600_000  # 2026-01-01
    rows = []
    # Each movement balances: the artist's entry and the payer's opposite one, written
    # through ledger.write (so the day sums are kept as in service).
    for artist in ("nightglass", "someone-else"):
        for n in range(args.entries):
            at = start + rng.randrange(year_ms)
            amount = rng.randint(-5000, 20000)
            kind = rng.choice(["license_share", "transfer", "refund", "support_share"])
            common = {"payment_id": f"pay_{artist}_{n}", "movement": f"m:{artist}:{n}",
                      "currency": "usd", "kind": kind, "at_ms": at, "reference": f"ch_{n}"}
            rows.append(ledger.Entry(common, account=f"artist:{artist}:paid",
                                     artist_id=artist, amount=amount))
            rows.append(ledger.Entry(common, account=f"payer:client:{n}", artist_id=None,
                                     amount=-amount))
    began = time.perf_counter()
    for i in range(0, len(rows), 10_000):
        with engine.begin() as conn:
            ledger.write(conn, rows[i:i + 10_000])
    print(f"{len(rows):,} entries written in {time.perf_counter() - began:.1f} s",
          file=sys.stderr)
    # What autovacuum does on a live table: statistics and the visibility map (without
    # which an index-only scan still visits the table).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE ledger_entries"))
        conn.execute(text("VACUUM ANALYZE ledger_days"))
    ranges = {"whole year": (start, start + year_ms),
              "one month": (start + 5 * year_ms // 12, start + 6 * year_ms // 12)}
    print("| range | entries in range | lines returned | p50 ms | p95 ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, (lo, hi) in ranges.items():
        times = []
        for _ in range(args.repeats):
            began = time.perf_counter()
            with engine.connect() as conn:
                found = ledger.statement(conn, "nightglass", from_ms=lo, to_ms=hi)
            times.append((time.perf_counter() - began) * 1000)
        in_range = sum(r["artist_id"] == "nightglass" and lo <= r["at_ms"] < hi for r in rows)
        times.sort()
        print(f"| {name} | {in_range:,} | {len(found.lines)} | {statistics.median(times):.1f} "
              f"| {times[int(len(times) * 0.95)]:.1f} |")
    print(f"load after: {load_average()}", file=sys.stderr)
    print(f"\ncommand: .venv/bin/python benchmarks/commerce_bench.py "
          f"{shlex.join(sys.argv[1:])}")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    f = sub.add_parser("flow")
    f.add_argument("--buyers", type=int, default=4)
    f.add_argument("--seconds", type=float, default=20)
    f.add_argument("--database-url")
    s = sub.add_parser("statement")
    s.add_argument("--entries", type=int, default=100_000)
    s.add_argument("--repeats", type=int, default=30)
    s.add_argument("--database-url")
    args = parser.parse_args()
    {"flow": flow, "statement": statement}[args.what](args)


if __name__ == "__main__":
    main()
