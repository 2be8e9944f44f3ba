"""Licenses over HTTP: quote plus grant for a free route, per second, under granian.

One run:

0. on PostgreSQL, runs one flow through the real app in this process and counts every
   statement, COPY, commit and rollback psycopg sends for it;
1. creates an agent client (as ``casset-rights clients create`` does), starts the real
   service under granian in the production shape by default (two workers, loopback,
   examples loaded, PostgreSQL in a fresh schema, Redis, rate limits on but never
   refusing, jobs on the Redis queue with a ``casset-rights worker`` beside) and takes
   an OAuth access token (client_credentials) for it;
2. checks one flow end to end: the quote's receipt and the license token verify against
   the JWKS, and a decision with the token answers ``permit`` naming the license;
3. drives closed loops of the flow ``POST /v1/licenses/quotes`` then ``POST
   /v1/licenses`` (the free ``grounding`` route of Midnight Tapes: signed quote receipt,
   quote row, license token, grant row, grant receipt, each committed before the answer)
   over ``--connections`` connections for ``--seconds``, in ``--rounds`` rounds, and
   prints the median flows per second and latencies. The client is wrk with a Lua
   script by default (a lean client: a Python one took 50 to 60 % of one of the two
   cores from the server); ``--client httpx`` drives it from asyncio in this process
   and reports whole-flow latencies;
4. checks that every license answered left its grant row (wrk stops counting with
   requests in flight: at most one a connection a round is stored unanswered).

``--database-url ''`` runs the service on SQLite in the data folder instead, and
``--redis-url ''`` without Redis. The client runs on the same machine as the server (2
shared cores here), so the numbers are a floor. Run from the repository root::

    .venv/bin/python benchmarks/licenses_bench.py
    .venv/bin/python benchmarks/licenses_bench.py --database-url '' --redis-url '' --workers 1
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import http_bench  # noqa: E402  (granian start/stop helpers shared with the decisions bench)

FLOW = {"resource": "release:midnight-tapes", "route": "grounding"}
PG_SCHEMA = "bench_licenses"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def postgres_url(url: str) -> str:
    """A fresh schema for the run, named in the URL the server is given."""
    from sqlalchemy import text

    from casset_rights.db.engine import make_engine

    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{PG_SCHEMA}"'))
    admin.dispose()
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{PG_SCHEMA}"


def make_agent(folder: Path, database_url: str) -> tuple[str, str]:
    """An agent client in the service's database (what the CLI does)."""
    from casset_rights.config import settings_from_env
    from casset_rights.services import open_services

    services = open_services(settings_from_env({}, data_dir=str(folder / "data"),
                                               database_url=database_url))
    try:
        made = services.auth.create_client(kind="agent", name="Licenses bench",
                                           attributes={"operator": "bench"})
        assert made.secret is not None
        return made.client.client_id, made.secret
    finally:
        services.close()


def access_token(server: http_bench.Server, client_id: str, secret: str) -> str:
    import urllib.request

    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    req = urllib.request.Request(
        server.base + "/oauth/token", data=b"grant_type=client_credentials", method="POST",
        headers={"Authorization": f"Basic {basic}",
                 "Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return str(json.loads(resp.read())["access_token"])


def check_one_flow(server: http_bench.Server, headers: dict[str, str]) -> str:
    from casset_rights.licenses import verify_license_token
    from casset_rights.receipts.verify import verify_receipt

    jwks = json.loads(http_bench.http(server, "GET", "/.well-known/jwks.json")[1])
    status, raw = http_bench.http(server, "POST", "/v1/licenses/quotes",
                                  json.dumps(FLOW).encode(), headers)
    assert status == 201, raw
    quote = json.loads(raw)
    assert verify_receipt(quote["quote"], jwks)["status"] == "quoted"
    status, raw = http_bench.http(server, "POST", "/v1/licenses",
                                  json.dumps({"quote_id": quote["id"]}).encode(), headers)
    assert status == 201, raw
    grant = json.loads(raw)["license"]
    assert verify_license_token(grant["token"], jwks)["jti"] == grant["id"]
    status, raw = http_bench.http(server, "POST", "/v1/decisions", json.dumps(
        {"action": "ai-input", "resource": "track:midnight-tapes/1"}).encode(), headers)
    decision = json.loads(raw)
    assert decision["decision"] == "permit", decision
    assert decision["reasons"][0]["rule"] == f"grant:{grant['id']}"
    return f"quote {quote['id'][:8]}… -> license {grant['id'][:12]}… -> decision permit"


def count_statements(database_url: str, folder: Path) -> dict[str, Any]:
    """One quote + license flow through the real app in this process, counting what
    psycopg sends to PostgreSQL: statements, COPYs, commits and rollbacks. The service's
    background threads (the sequencer) are stopped first, so only the flow's own work is
    counted; a warm-up flow runs before."""
    import threading

    import psycopg
    from litestar.testing import TestClient

    from casset_rights.app import create_app
    from casset_rights.config import settings_from_env

    seen: list[str] = []
    lock = threading.Lock()
    originals = {name: getattr(psycopg.Cursor, name) for name in ("execute", "executemany",
                                                                 "copy")}

    def counting(name: str) -> Any:
        original = originals[name]

        def call(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            text = query if isinstance(query, str) else repr(query)
            with lock:
                seen.append(f"{name}: {text.split()[0].upper()} {text[:60]}")
            return original(self, query, *args, **kwargs)

        return call

    commit, rollback = psycopg.Connection.commit, psycopg.Connection.rollback

    def counted_commit(self: Any) -> Any:
        with lock:
            seen.append("commit")
        return commit(self)

    def counted_rollback(self: Any) -> Any:
        # psycopg sends ROLLBACK only in a transaction: a pooled connection given back
        # after a read (SQLAlchemy resets it on return) ends that read's transaction.
        if self.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            with lock:
                seen.append("rollback")
        return rollback(self)

    settings = settings_from_env({}, data_dir=str(folder / "count"), database_url=database_url,
                                 load_examples=True, rate_limits_enabled=False)
    client_id, secret = make_agent(folder / "count-agent", database_url)
    app = create_app(settings)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        services = app.state["services"]
        services.sequencer.stop()
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        token = client.post("/oauth/token", content=b"grant_type=client_credentials",
                            headers={"Authorization": f"Basic {basic}", "Content-Type":
                                     "application/x-www-form-urlencoded"}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}

        def flow() -> None:
            quote = client.post("/v1/licenses/quotes", json=FLOW, headers=headers)
            assert quote.status_code == 201, quote.text
            grant = client.post("/v1/licenses", json={"quote_id": quote.json()["id"]},
                                headers=headers)
            assert grant.status_code == 201, grant.text

        flow()
        for name in originals:
            setattr(psycopg.Cursor, name, counting(name))
        psycopg.Connection.commit = counted_commit  # type: ignore[method-assign]
        psycopg.Connection.rollback = counted_rollback  # type: ignore[method-assign]
        try:
            flow()
        finally:
            for name, original in originals.items():
                setattr(psycopg.Cursor, name, original)
            psycopg.Connection.commit = commit  # type: ignore[method-assign]
            psycopg.Connection.rollback = rollback  # type: ignore[method-assign]
    statements = [s for s in seen if s not in ("commit", "rollback")]
    return {"statements": len(statements), "commits": seen.count("commit"),
            "rollbacks": seen.count("rollback"), "seen": seen}


async def drive(server: http_bench.Server, headers: dict[str, str], *, seconds: float,
                connections: int) -> dict[str, Any]:
    import httpx

    quote_body = json.dumps(FLOW).encode()
    hdrs = {"Content-Type": "application/json", **headers}
    latencies: list[float] = []
    counts = {"granted": 0, "failed": 0}
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=server.base, limits=limits, timeout=30) as client:
        async def worker() -> None:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                quote = await client.post("/v1/licenses/quotes", content=quote_body,
                                          headers=hdrs)
                if quote.status_code != 201:
                    counts["failed"] += 1
                    continue
                body = json.dumps({"quote_id": quote.json()["id"]}).encode()
                grant = await client.post("/v1/licenses", content=body, headers=hdrs)
                if grant.status_code != 201:
                    counts["failed"] += 1
                    continue
                counts["granted"] += 1
                latencies.append((time.perf_counter() - start) * 1000)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {"flows_per_s": counts["granted"] / elapsed, "granted": counts["granted"],
            "failed": counts["failed"], "p50": statistics.median(latencies),
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
            "per": "flow"}


# The flow in wrk: each thread keeps the ids of the quotes it was given; a connection
# ready to send redeems one (the quote its own last answer carried, as answers arrive
# one per connection) or asks for a new quote. Counted per thread, summed in done().
FLOW_LUA = r"""
local quote_body = %(quote_body)s
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = %(auth)s }
local threads = {}
local pending = {}
granted, failed = 0, 0

function setup(thread)
  table.insert(threads, thread)
end

function request()
  local id = table.remove(pending)
  if id then
    return wrk.format("POST", "/v1/licenses", headers, '{"quote_id":"' .. id .. '"}')
  end
  return wrk.format("POST", "/v1/licenses/quotes", headers, quote_body)
end

function response(status, hdrs, body)
  if status ~= 201 then
    failed = failed + 1
  elseif body:find('"status":"granted"', 1, true) then
    granted = granted + 1
  else
    local id = body:match('^{"id":"([^"]+)"')
    if id then table.insert(pending, id) else failed = failed + 1 end
  end
end

function done(summary, latency, requests)
  local g, f = 0, 0
  for _, t in ipairs(threads) do g = g + t:get("granted"); f = f + t:get("failed") end
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "granted": %%d, "failed": %%d, ' ..
    '"p50_us": %%d, "p99_us": %%d}\n', summary.requests, summary.duration, g, f,
    latency:percentile(50), latency:percentile(99)))
end
"""


def drive_wrk(server: http_bench.Server, headers: dict[str, str], *, seconds: float,
              connections: int, folder: Path) -> dict[str, Any]:
    """The flows driven by wrk (one thread): a lean client, so that the server has the
    machine's cores rather than sharing them with a Python client. Latencies are per
    request (a flow is two)."""
    script = folder / "flow.lua"
    script.write_text(FLOW_LUA % {"quote_body": http_bench.lua_string(json.dumps(FLOW)),
                                  "auth": http_bench.lua_string(headers["Authorization"])})
    result = http_bench.run_wrk(server, script, duration=max(1, round(seconds)),
                                connections=connections, threads=1)
    return {"flows_per_s": result["granted"] / (result["duration_us"] / 1e6),
            "granted": result["granted"], "failed": result["failed"],
            "p50": result["p50_us"] / 1000, "p99": result["p99_us"] / 1000, "per": "request"}


def grant_count(server: http_bench.Server, database_url: str) -> int:
    if database_url:
        from sqlalchemy import text

        from casset_rights.db.engine import make_engine

        engine = make_engine(database_url)
        with engine.connect() as pg:
            count = int(pg.execute(text("SELECT count(*) FROM license_grants")).scalar_one())
        engine.dispose()
        return count
    return http_bench.row_count(server, "license_grants")


def main(argv: list[str] | None = None) -> None:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
                        help="PostgreSQL URL (a fresh schema is made in it); '' for SQLite "
                             "in the data folder")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12",
                        help="Redis for limits and replay caches ('' for none)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--client", choices=("wrk", "httpx"), default="wrk",
                        help="wrk (default: lean, the server gets the cores) or httpx "
                             "(asyncio, in this process: flow latencies, no wrk needed)")
    args = parser.parse_args(argv)
    if args.client == "wrk" and shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk), or use --client httpx")
    database_url = postgres_url(args.database_url) if args.database_url else ""

    # The shared helpers (the worker's start, row counts) read the shape's database.
    http_bench.SHAPE.database_url = database_url
    http_bench.SHAPE.redis_url = args.redis_url or None

    def env(folder: Path) -> dict[str, str]:
        # authlib refuses plain-http token requests unless told otherwise: loopback only.
        values = {**http_bench.casset_env(folder), "AUTHLIB_INSECURE_TRANSPORT": "1"}
        if database_url:
            values["CASSET_DATABASE_URL"] = database_url
        if args.redis_url:
            values["CASSET_REDIS_URL"] = args.redis_url
            values["CASSET_REDIS_KEY_PREFIX"] = f"licenses-bench-{time.time_ns()}:"
            # As deployed: jobs on the queue, a ``casset-rights worker`` running them and
            # the log's sequencer beside the API workers.
            values["CASSET_QUEUE_URL"] = args.redis_url
            values["CASSET_QUEUE_NAME"] = f"licenses-bench-{time.time_ns()}"
        return values

    server = http_bench.Server(name="casset", target="casset_rights.app:app_from_environment",
                               env=env, ready_path="/.well-known/casset-rights",
                               with_worker=bool(args.redis_url))
    with tempfile.TemporaryDirectory(prefix="licenses-bench-") as tmp:
        folder = Path(tmp)
        (folder / "data").mkdir(parents=True)
        counted = count_statements(database_url, folder) if database_url else None
        if counted is not None:
            print(f"one flow in process: {counted['statements']} statements, "
                  f"{counted['commits']} commits, {counted['rollbacks']} rollbacks",
                  flush=True)
            for line in counted["seen"]:
                print(f"  {line}", flush=True)
        client_id, secret = make_agent(folder, database_url)
        http_bench.start(server, folder, workers=args.workers)
        try:
            headers = {"Authorization": f"Bearer {access_token(server, client_id, secret)}"}
            print("check:", check_one_flow(server, headers), flush=True)

            def run(seconds: float) -> dict[str, Any]:
                if args.client == "wrk":
                    return drive_wrk(server, headers, seconds=seconds,
                                     connections=args.connections, folder=folder)
                return asyncio.run(drive(server, headers, seconds=seconds,
                                         connections=args.connections))

            run(2)  # warm-up
            before = grant_count(server, database_url)
            rounds = []
            for n in range(args.rounds):
                cpu_before = http_bench.cpu_snapshot(server)
                result = run(args.seconds)
                cpu = {k: v - cpu_before[k] for k, v in http_bench.cpu_snapshot(server).items()}
                rounds.append(result)
                flows = max(1, result["granted"])
                print(f"round {n + 1}: {result['flows_per_s']:.1f} flows/s "
                      f"(quote + license), p50 {result['p50']:.1f} ms, "
                      f"p99 {result['p99']:.1f} ms a {result['per']}, "
                      f"{result['failed']} failed; CPU a flow: " + ", ".join(
                          f"{k} {1e6 * v / flows:,.0f} µs" for k, v in cpu.items()
                          if k not in ("Redis", "wrk")), flush=True)
            granted = sum(r["granted"] for r in rounds)
            time.sleep(1)  # what wrk left in flight as a round ended finishes
            stored = grant_count(server, database_url) - before
            # wrk stops counting at the end of a round with requests in flight: those
            # grants are stored unanswered (at most one a connection, warm-up included).
            unanswered = stored - granted
            in_flight = args.connections * (args.rounds + 1) if args.client == "wrk" else 0
            assert 0 <= unanswered <= in_flight, f"{granted} licenses answered, {stored} stored"
        finally:
            http_bench.stop(server)
    best = statistics.median(r["flows_per_s"] for r in rounds)
    database = "PostgreSQL" if database_url else "SQLite"
    print(f"quote + license for a free route over HTTP (granian, {args.workers} worker(s), "
          f"{database}, Redis {'on' if args.redis_url else 'off'}, rate limits on): "
          f"median {best:.1f} flows/s = {2 * best:.1f} requests/s, "
          f"{args.connections} connections, client {args.client}; "
          f"every license answered stored ({granted}, and {unanswered} in flight at "
          f"the ends of rounds)")
    print("command: .venv/bin/python benchmarks/licenses_bench.py "
          + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])))


if __name__ == "__main__":
    main()
