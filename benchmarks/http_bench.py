"""HTTP throughput of the service against a bare Litestar app, with wrk, in the shape a
deployment runs.

The default shape is production: PostgreSQL (a fresh database per server start, dropped
after), Redis for rate limits, replay caches and the job queue, rate limits on (set high
enough that the benchmark's one address is never refused: the limiter still runs on every
request), one ``casset-rights worker`` beside the API processes (it runs the jobs and the
log's sequencer, as deployed), and the service and the bare app each under granian with
the same number of workers, measured for 1 and then 2 workers. ``--shape embedded`` is the
second row: SQLite in a data folder, limits in process, 1 worker.

For each worker count one run starts both servers, checks the real service answers a
decision with a receipt that verifies against its JWKS, then drives each scenario with
wrk (a Lua script that rotates through realistic requests), alternating the scenarios
round by round, and reports the medians, the ratio against the bare route and the
latency percentiles. Decisions store their receipt before answering; during the load
the age of the oldest entry waiting for the log sequencer is sampled every 100 ms (the
integration delay). After the load it checks that no receipt was lost: every 200 answer
of the decision endpoint has its receipt stored, and every receipt reaches the log. Each
run also counts the CPU time every process spent per answer (the API workers, the
``casset-rights worker``, PostgreSQL, Redis and wrk, from ``/proc``): on a machine with
few cores the service and the bare app share the cores with different neighbours, and
this table says where each answer's time went.

Run from the repository root (wrk: ``apt-get install -y wrk``; PostgreSQL and Redis on
127.0.0.1, or ``--database-url`` / ``--redis-url``)::

    .venv/bin/python benchmarks/http_bench.py

Scenarios are a list (``SCENARIOS``): a new variant (for example one that presents an
OAuth bearer token) is one more entry with its server, bodies and a ``headers`` hook.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _machine import cpu_model, load_average

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


# -- the bare baseline (imported by granian in its worker) --------------------------------------

def bare_app():  # type: ignore[no-untyped-def]
    """A Litestar app with one trivial POST route, which decodes the JSON body and answers
    a small JSON object, and one trivial GET route with a path parameter. The floor for
    what any Litestar endpoint costs here."""
    from litestar import Litestar, get, post

    @post("/v1/decisions", status_code=200)
    async def decide(data: dict[str, Any]) -> dict[str, Any]:
        return {"decision": "permit", "action": data.get("action")}

    @get("/v1/things/{thing:path}")
    async def thing(thing: str) -> dict[str, Any]:
        return {"id": thing, "kind": "bare"}

    return Litestar(route_handlers=[decide, thing], debug=False)


# -- servers and scenarios ----------------------------------------------------------------------

@dataclass
class Server:
    """A granian server: ``target`` is an ASGI app factory (``module:function``)."""

    name: str
    target: str
    env: Callable[[Path], dict[str, str]]  # extra environment, given the server's folder
    ready_path: str
    ready_method: str = "GET"
    pythonpath: tuple[str, ...] = ()
    port: int = 0
    folder: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    log_file: Path | None = None
    # Processes that run beside it (the production shape's ``casset-rights worker``).
    companions: list[subprocess.Popen[bytes]] = field(default_factory=list)
    with_worker: bool = False

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Scenario:
    """One load: a server, a path, request bodies rotated by the Lua script, headers.

    ``headers(server)`` runs once before the load (fetch a token here); ``baseline``
    is the key of the scenario to compare with and ``target_ratio`` the ratio it must reach;
    ``receipts`` says the scenario stores one receipt per 200 answer.
    """

    key: str   # short name for --scenarios and for ``baseline``
    name: str
    server: str
    path: str
    bodies: list[dict[str, Any]]
    # GET scenarios rotate through ``paths`` instead of posting ``bodies`` to ``path``.
    paths: list[str] = field(default_factory=list)
    headers: Callable[[Server], dict[str, str]] = lambda server: {}
    baseline: str | None = None
    target_ratio: float | None = None
    receipts: bool = False
    runs: list[dict[str, Any]] = field(default_factory=list)


# Rate limits stay on (the limiter runs for every request, against Redis in the
# production shape) with buckets no benchmark from one address empties.
UNREFUSED = "1000000000/1000000000"


@dataclass
class Shape:
    """Where the service keeps its state: ``database_url`` empty means SQLite in the data
    folder; ``redis_url`` None means limits in process."""

    name: str
    database_url: str = ""
    redis_url: str | None = None
    database: str | None = None  # the fresh PostgreSQL database of the current start


SHAPE = Shape(name="production")


def casset_env(folder: Path) -> dict[str, str]:
    env = {"CASSET_DATA_DIR": str(folder / "data"), "CASSET_LOAD_EXAMPLES": "1",
           "CASSET_RATE_LIMITS_ENABLED": "true"}
    for kind in ("PUBLIC", "AGENT", "PARTNER", "ARTIST"):
        env[f"CASSET_RATE_LIMIT_{kind}"] = UNREFUSED
    if SHAPE.database_url:
        env["CASSET_DATABASE_URL"] = SHAPE.database_url
    if SHAPE.redis_url:
        env["CASSET_REDIS_URL"] = SHAPE.redis_url
        env["CASSET_REDIS_KEY_PREFIX"] = f"casset-bench-{os.getpid()}:"
    if SHAPE.name == "production":
        # As deployed: jobs on a queue, and a ``casset-rights worker`` beside the API
        # workers running them and the log's sequencer (the API processes run neither).
        env["CASSET_QUEUE_URL"] = SHAPE.redis_url or ""
        env["CASSET_QUEUE_NAME"] = f"casset-bench-{os.getpid()}"
    # librosa's compiled code kept between runs, as a deployment keeps its data folder.
    env["CASSET_NUMBA_CACHE_DIR"] = str(Path(tempfile.gettempdir()) / "casset-bench-numba")
    return env


# Realistic asks on the example catalog (public audience): permits, denies and license
# routes, on releases, tracks and hooks, with and without context.
DECISION_BODIES: list[dict[str, Any]] = [
    {"action": "preview", "resource": "hook:midnight-tapes/1/chorus"},
    {"action": "quote", "resource": "hook:midnight-tapes/1/chorus",
     "context": {"excerpt_seconds": 25}},
    {"action": "remix", "resource": "hook:glass-hours/2/drop",
     "context": {"purpose": "commercial"}},
    {"action": "ai-train", "resource": "release:midnight-tapes"},
    {"action": "listen", "resource": "track:midnight-tapes/2", "context": {"territory": "GB"}},
    {"action": "sync", "resource": "track:river-engine/2",
     "context": {"purpose": "commercial", "territory": "US"}},
    {"action": "ai-input", "resource": "release:salt-and-static"},
    {"action": "sample", "resource": "hook:glass-hours/1/intro",
     "context": {"purpose": "non-commercial"}},
]

SERVERS = {
    "casset": Server(name="casset", target="casset_rights.app:app_from_environment",
                     env=casset_env, ready_path="/.well-known/casset-rights",
                     with_worker=True),
    "bare": Server(name="bare", target="http_bench:bare_app", env=lambda folder: {},
                   ready_path="/v1/decisions", ready_method="POST",
                   pythonpath=(str(HERE),)),
}

def agent_token(server: Server) -> dict[str, str]:
    """Register an agent (RFC 7591) and take a client_credentials token: the bearer header."""
    status, raw = http(server, "POST", "/oauth/register", json.dumps({
        "client_name": "Benchmark Agent", "operator": "Casset Bench", "purpose": "search",
    }).encode())
    if status != 201:
        raise SystemExit(f"registration failed: {status} {raw[:200]!r}")
    client = json.loads(raw)
    form = urllib.parse.urlencode({"grant_type": "client_credentials",
                                   "scope": "rights:read"}).encode()
    credentials = base64.b64encode(
        f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    request = urllib.request.Request(
        server.base + "/oauth/token", data=form, method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "Authorization": f"Basic {credentials}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        token = json.loads(response.read())["access_token"]
    return {"Authorization": f"Bearer {token}"}


RELEASE_PATHS = [f"/v1/releases/{r}" for r in (
    "midnight-tapes", "glass-hours", "salt-and-static", "river-engine")]
RIGHTS_PATHS = [f"/v1/rights/{r}" for r in (
    "release:midnight-tapes", "hook:midnight-tapes/1/chorus", "track:glass-hours/2",
    "release:salt-and-static")]
BARE_PATHS = [f"/v1/things/{r}" for r in ("midnight-tapes", "glass-hours/2", "a/b/c", "x")]

SCENARIOS = [
    Scenario(key="authenticated", name="POST /v1/decisions (agent bearer token)",
             server="casset", path="/v1/decisions", bodies=DECISION_BODIES,
             headers=agent_token, baseline="bare", target_ratio=0.50, receipts=True),
    Scenario(key="decisions", name="POST /v1/decisions (public; receipt signed, stored)",
             server="casset", path="/v1/decisions", bodies=DECISION_BODIES, baseline="bare",
             target_ratio=0.50, receipts=True),
    Scenario(key="bare", name="bare Litestar POST route", server="bare",
             path="/v1/decisions", bodies=DECISION_BODIES),
    Scenario(key="release", name="GET /v1/releases/{id}", server="casset", path="",
             bodies=[], paths=RELEASE_PATHS, baseline="bare-get", target_ratio=0.70),
    Scenario(key="rights", name="GET /v1/rights/{resource} (every scope, receipts)",
             server="casset", path="", bodies=[], paths=RIGHTS_PATHS, baseline="bare-get",
             target_ratio=0.40, receipts=True),
    Scenario(key="bare-get", name="bare Litestar GET route", server="bare", path="",
             bodies=[], paths=BARE_PATHS),
]


# -- process handling ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


LAUNCHER = """
import sys
from granian import Granian
from granian.constants import Interfaces
Granian(target=sys.argv[1], factory=True, address="127.0.0.1", port=int(sys.argv[2]),
        interface=Interfaces.ASGI, workers=int(sys.argv[3]), log_access=False,
        respawn_failed_workers=True).serve()
"""


def start(server: Server, folder: Path, workers: int) -> None:
    """Start granian the way ``casset-rights serve`` does (factory, ASGI, no access log)."""
    server.port = free_port()
    server.folder = folder
    folder.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASSET_")}
    env.update(server.env(folder))
    env["CASSET_HOST"], env["CASSET_PORT"] = "127.0.0.1", str(server.port)
    paths = [*server.pythonpath, str(ROOT), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    server.log_file = folder / "server.log"
    out = server.log_file.open("wb")
    server.process = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, server.target, str(server.port), str(workers)],
        cwd=str(ROOT), env=env, stdout=out, stderr=subprocess.STDOUT,
        start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited: {server.log_file.read_text()[-2000:]}")
        try:
            body = b"{}" if server.ready_method == "POST" else None
            status, _ = http(server, server.ready_method, server.ready_path, body)
            if status < 500:
                break
        except OSError:
            pass
        time.sleep(0.2)
    else:
        raise RuntimeError(f"{server.name} did not start within 60 s")
    if server.with_worker and env.get("CASSET_QUEUE_URL"):  # once the schema is made
        worker_log = (folder / "worker.log").open("wb")
        server.companions.append(subprocess.Popen(
            [sys.executable, "-m", "casset_rights.cli", "worker"], cwd=str(ROOT), env=env,
            stdout=worker_log, stderr=subprocess.STDOUT, start_new_session=True))
        # Loaded only once it leads: the catalog's entries, queued at the server's start,
        # integrated (its start-up is not measured as load).
        deadline = time.monotonic() + 120
        try:
            while int(query_one(server, "SELECT count(*) FROM log_pending")):
                if server.companions[-1].poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the worker did not integrate the log: "
                                       + (folder / "worker.log").read_text()[-2000:])
                time.sleep(0.2)
        except BaseException:
            stop(server)  # the caller gets no server to stop
            raise
    try:
        settle(server)
        serving_as_asked(server, workers)
    except BaseException:
        stop(server)
        raise


def serving_as_asked(server: Server, workers: int) -> None:
    """Raise unless the server runs ``workers`` worker processes, none of which died: a
    worker that failed at start (a run of this benchmark once measured one worker where
    it said two) would make the row measure a shape it does not name."""
    if not os.path.isdir("/proc") or server.process is None:
        return
    running = [pid for pid, (_, parent, _) in _process_cpu().items()
               if parent == server.process.pid]
    told = server.log_file.read_text(errors="replace")
    if len(running) != workers or "Traceback" in told:
        raise RuntimeError(f"{server.name}: {len(running)} worker process(es) running, "
                           f"{workers} asked for: {told[-2000:]}")


def settle(server: Server, *, quiet: float = 0.15, timeout: float = 300) -> None:
    """Wait until the server's processes (its session: granian, its workers and their
    children, and the worker beside it) use less than ``quiet`` CPU seconds in a second:
    what a service does once at its start (the audio analysis warm-up compiling or
    loading librosa's code, the first anchor's chain set-up) is not measured as load."""
    if not os.path.isdir("/proc") or server.process is None:
        return
    sessions = {server.process.pid, *(c.pid for c in server.companions)}

    def used() -> float:
        return sum(seconds for _, _, seconds in _process_cpu(sessions).values())

    deadline = time.monotonic() + timeout
    before, waited = used(), False
    while time.monotonic() < deadline:
        time.sleep(1)
        now = used()
        if now - before < quiet:
            return
        if not waited:
            log(f"{server.name}: waiting for its start-up work to finish ...")
            waited = True
        before = now
    log(f"{server.name}: still busy after {timeout:.0f} s; measuring anyway")


def stop(server: Server) -> None:
    """Stop the server we started: SIGINT (granian shuts down gracefully and lets the
    app close, which drains the receipt writer), then its process group if needed; then
    its companions (the worker integrates what is left as it stops)."""
    _stop(server.process)
    for companion in server.companions:
        _stop(companion)
    server.companions.clear()


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def http(server: Server, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(server.base + path, data=body, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# -- checks -------------------------------------------------------------------------------------

def query_one(server: Server, sql: str) -> Any:
    """The first column of the first row of ``sql`` on the server's database: the shape's
    PostgreSQL database, or the embedded SQLite file (read only)."""
    if SHAPE.database_url:
        import psycopg

        with psycopg.connect(SHAPE.database_url.replace("+psycopg", ""),
                             autocommit=True) as conn:
            row = conn.execute(sql).fetchone()  # type: ignore[arg-type]
            return None if row is None else row[0]
    assert server.folder is not None
    db = server.folder / "data" / "casset.db"
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        row = conn.execute(sql).fetchone()
        return None if row is None else row[0]
    finally:
        conn.close()


def row_count(server: Server, table: str) -> int:
    return int(query_one(server, f"SELECT count(*) FROM {table}"))


def pending_age_ms(server: Server) -> int:
    """How long the oldest entry waiting for the log sequencer has waited (0: none)."""
    oldest = query_one(server, "SELECT min(created_at_ms) FROM log_pending")
    return 0 if oldest is None else max(0, int(time.time() * 1000) - int(oldest))


class DelaySampler:
    """Samples ``pending_age_ms`` every 100 ms on a thread while a load runs."""

    def __init__(self, server: Server) -> None:
        import threading

        self.samples: list[int] = []
        self._server = server
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> DelaySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            try:
                self.samples.append(pending_age_ms(self._server))
            except Exception:
                continue


def unlogged_receipts(server: Server, *, seconds: float = 30.0) -> int:
    """Receipts not yet in the log once the sequencer has had ``seconds`` to catch up."""
    deadline = time.monotonic() + seconds
    while True:
        left = int(query_one(server, "SELECT count(*) FROM log_pending WHERE kind = 'receipt'"))
        if left == 0 or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def receipt_count(server: Server) -> int:
    return row_count(server, "receipts")


def settled_receipt_count(server: Server) -> int:
    """The count once it stops moving (requests in flight when wrk stopped finish)."""
    last = receipt_count(server)
    while True:
        time.sleep(0.5)
        now = receipt_count(server)
        if now == last:
            return now
        last = now


def check_one_decision(server: Server, scenario: Scenario, headers: dict[str, str]) -> str:
    """Before the load: every body answers 200 with a decision and a receipt, and the
    receipt verifies against the service's JWKS and is stored."""
    sys.path.insert(0, str(ROOT))
    from casset_rights.receipts.verify import verify_receipt

    status, raw = http(server, "GET", "/.well-known/jwks.json")
    assert status == 200, f"JWKS: {status}"
    jwks = json.loads(raw)
    seen = []
    for body in scenario.bodies:
        status, raw = http(server, "POST", scenario.path, json.dumps(body).encode(), headers)
        answer = json.loads(raw)
        if status != 200 or answer.get("decision") not in ("permit", "deny", "license_required"):
            raise AssertionError(f"{body}: {status} {raw[:300]!r}")
        payload = verify_receipt(answer["receipt"], jwks)
        assert payload["jti"] == answer["receipt_id"]
        assert payload["decision"] == answer["decision"]
        status, raw = http(server, "GET", f"/v1/receipts/{answer['receipt_id']}")
        assert status == 200, f"stored receipt: {status}"
        seen.append(f"{body['action']} {body['resource']} -> {answer['decision']}")
    return "; ".join(seen)


async def _burst(server: Server, scenario: Scenario, headers: dict[str, str], total: int,
                 connections: int) -> dict[str, int]:
    import httpx

    counts: dict[str, int] = {"200": 0, "other": 0, "errors": 0}
    bodies = [json.dumps(b).encode() for b in scenario.bodies]
    next_index = iter(range(total))
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=server.base, limits=limits, timeout=30) as client:
        async def worker() -> None:
            for i in next_index:
                try:
                    resp = await client.post(scenario.path, content=bodies[i % len(bodies)],
                                             headers={"Content-Type": "application/json",
                                                      **headers})
                except httpx.HTTPError:
                    counts["errors"] += 1
                    continue
                counts["200" if resp.status_code == 200 else "other"] += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
    return counts


def exact_receipt_check(server: Server, scenario: Scenario, headers: dict[str, str],
                        total: int, connections: int) -> dict[str, int]:
    """A closed burst of exactly ``total`` requests over ``connections`` connections
    (no request is cut off by a deadline): stored receipts must equal the 200s exactly."""
    before = settled_receipt_count(server)
    counts = asyncio.run(_burst(server, scenario, headers, total, connections))
    after = settled_receipt_count(server)
    return {"requests": total, "ok": counts["200"], "other": counts["other"],
            "errors": counts["errors"], "receipts": after - before}


# -- wrk ----------------------------------------------------------------------------------------

LUA = r"""
-- generated by benchmarks/http_bench.py
local bodies = { %(bodies)s }
local paths = { %(paths)s }
local path = %(path)s
local extra = { %(headers)s }
local prepared = {}
local threads = {}
local index = 0
sent, ok, other = 0, 0, 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local headers = { ["Content-Type"] = "application/json" }
  for k, v in pairs(extra) do headers[k] = v end
  for k, body in ipairs(bodies) do
    prepared[k] = wrk.format("POST", path, headers, body)
  end
  for k, p in ipairs(paths) do
    prepared[k] = wrk.format("GET", p, headers)
  end
end

function request()
  index = index %% #prepared + 1
  sent = sent + 1
  return prepared[index]
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local s, o, x = 0, 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("sent"); o = o + t:get("ok"); x = x + t:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "sent": %%d, "ok": %%d, "other": %%d, ' ..
    '"connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d, ' ..
    '"p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "max_us": %%d, "mean_us": %%.1f}\n',
    summary.requests, summary.duration, s, o, x, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


def lua_string(text: str) -> str:
    if not text.isascii():
        raise ValueError("request bodies and headers must be ASCII")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_script(scenario: Scenario, headers: dict[str, str], folder: Path) -> Path:
    script = folder / f"wrk-{re.sub(r'[^a-z0-9]+', '-', scenario.name.lower())}.lua"
    script.write_text(LUA % {
        "bodies": ", ".join(lua_string(json.dumps(b)) for b in scenario.bodies),
        "paths": ", ".join(lua_string(p) for p in scenario.paths),
        "path": lua_string(scenario.path),
        "headers": ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()),
    })
    return script


def run_wrk(server: Server, script: Path, *, duration: int, connections: int,
            threads: int) -> dict[str, Any]:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
           "--timeout", "10s", "-s", str(script), server.base]
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    found = re.search(r"^WRKJSON (.*)$", done.stdout, re.M)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    result = json.loads(found.group(1))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["stdout"] = done.stdout
    result["wrk_cpu"] = wrk_cpu
    return result


# -- where the CPU goes ---------------------------------------------------------------------------

CPU_GROUPS = ("API workers", "casset-rights worker", "PostgreSQL", "Redis", "wrk")
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _process_cpu(sessions: set[int] | None = None) -> dict[int, tuple[str, int, float]]:
    """Every process's name, parent and CPU seconds so far (Linux ``/proc``); only
    those of ``sessions`` (session ids) when given."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        if sessions is not None and int(fields[3]) not in sessions:
            continue
        found[int(entry)] = (name, int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK)
    return found


def cpu_snapshot(server: Server) -> dict[str, float]:
    """CPU seconds so far by group: the server's granian processes, its worker, every
    PostgreSQL and Redis process on the machine (``wrk`` is counted by ``run_wrk``)."""
    groups = dict.fromkeys(CPU_GROUPS, 0.0)
    if not os.path.isdir("/proc") or server.process is None:
        return groups
    companions = {c.pid for c in server.companions}
    for pid, (name, parent, seconds) in _process_cpu().items():
        if pid == server.process.pid or parent == server.process.pid:
            groups["API workers"] += seconds
        elif pid in companions or parent in companions:
            groups["casset-rights worker"] += seconds
        elif name.startswith("postgres"):
            groups["PostgreSQL"] += seconds
        elif name.startswith("redis-server"):
            groups["Redis"] += seconds
    return groups


# -- main ---------------------------------------------------------------------------------------

def machine() -> str:
    return f"{os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=("production", "embedded"), default="production",
                        help="production: PostgreSQL, Redis, workers 1 and 2 (default); "
                             "embedded: SQLite, limits in process, 1 worker")
    parser.add_argument("--database-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server where a fresh database is made per start")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: "
                        "the client shares the 2 cores with the server)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="runs per scenario, alternating (default 3)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per server")
    parser.add_argument("--workers", default="",
                        help="granian worker counts, comma-separated (default: 1,2 for "
                             "production, 1 for embedded)")
    parser.add_argument("--burst", type=int, default=3000,
                        help="requests in the exact receipt check after the load")
    parser.add_argument("--scenarios", default="",
                        help="comma-separated scenario keys to run (default: all: "
                             + ",".join(s.key for s in SCENARIOS) + ")")
    args = parser.parse_args(argv)
    command = "python benchmarks/http_bench.py " + shlex.join(
        sys.argv[1:] if argv is None else argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    wanted = [k.strip() for k in args.scenarios.split(",") if k.strip()]
    unknown = set(wanted) - {s.key for s in SCENARIOS}
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    worker_counts = [int(w) for w in (args.workers or (
        "1,2" if args.shape == "production" else "1")).split(",")]
    SHAPE.name = args.shape
    args.load_before = load_average()
    ok, ratios = True, {}
    for workers in worker_counts:
        chosen = [msgspec_free_copy(s) for s in SCENARIOS if not wanted or s.key in wanted]
        args.worker_count = workers
        wall = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="casset-http-bench-") as tmp:
            folder = Path(tmp)
            servers = {name: SERVERS[name] for name in {s.server for s in chosen}}
            try:
                if args.shape == "production":
                    fresh_database(args.database_url)
                    SHAPE.redis_url = args.redis_url
                for name, server in servers.items():
                    log(f"starting {name} ({server.target}, {workers} worker(s), "
                        f"{args.shape}) ...")
                    start(server, folder / name, workers)
                    log(f"  {server.base} (pid {server.process.pid if server.process else '?'})")
                good, found = _run(args, command, chosen, servers, folder, wall)
                ok &= good
                ratios[workers] = found
            finally:
                for server in servers.values():
                    stop(server)
                drop_database(args.database_url)
    if len(ratios) > 1:
        print("\n## Scaling: each ratio by worker count\n")
        print("| scenario | " + " | ".join(f"{w} worker(s)" for w in ratios) + " |")
        print("| --- | " + " | ".join("---:" for _ in ratios) + " |")
        for key in next(iter(ratios.values())):
            print(f"| {key} | " + " | ".join(f"{r.get(key, float('nan')):.1%}"
                                             for r in ratios.values()) + " |")
    return 0 if ok else 1


def msgspec_free_copy(scenario: Scenario) -> Scenario:
    """A scenario with no runs yet (one per worker count)."""
    import dataclasses

    return dataclasses.replace(scenario, runs=[])


def fresh_database(admin_url: str) -> None:
    """Make a new PostgreSQL database for this start and point the shape at it."""
    import psycopg

    name = f"casset_bench_{os.getpid()}_{int(time.time())}"
    with psycopg.connect(admin_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    SHAPE.database = name
    base = admin_url.rsplit("/", 1)[0]
    SHAPE.database_url = f"{base}/{name}"


def drop_database(admin_url: str) -> None:
    if not SHAPE.database:
        return
    import psycopg

    with psycopg.connect(admin_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{SHAPE.database}" WITH (FORCE)')  # type: ignore[arg-type]
    SHAPE.database, SHAPE.database_url = None, ""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run(args: argparse.Namespace, command: str, chosen: list[Scenario],
         servers: dict[str, Server], folder: Path,
         wall: float) -> tuple[bool, dict[str, float]]:
    headers = {s.name: s.headers(servers[s.server]) for s in chosen}
    scripts = {s.name: write_script(s, headers[s.name], folder) for s in chosen}
    checked = {}
    for s in chosen:
        if s.receipts and s.bodies:
            checked[s.name] = check_one_decision(servers[s.server], s, headers[s.name])
            log(f"  before the load, {s.name}: {checked[s.name]}")
    for s in chosen:
        log(f"warming up {s.name} ({args.warmup} s) ...")
        run_wrk(servers[s.server], scripts[s.name], duration=args.warmup,
                connections=args.connections, threads=args.threads)
    for rnd in range(1, args.rounds + 1):
        for s in chosen:
            server = servers[s.server]
            before = settled_receipt_count(server) if s.receipts else 0
            cpu_before = cpu_snapshot(server)
            with DelaySampler(server) if s.receipts else contextlib.nullcontext() as sampler:
                result = run_wrk(server, scripts[s.name], duration=args.duration,
                                 connections=args.connections, threads=args.threads)
            cpu_after = cpu_snapshot(server)
            result["cpu_us"] = {g: (cpu_after[g] - cpu_before[g]) / max(1, result["requests"])
                                * 1e6 for g in CPU_GROUPS}
            result["cpu_us"]["wrk"] = result["wrk_cpu"] / max(1, result["requests"]) * 1e6
            if sampler is not None:
                result["delays"] = sampler.samples
            if s.receipts:
                result["receipts"] = settled_receipt_count(server) - before
            s.runs.append(result)
            extra = (f", receipts {result['receipts']} for {result['ok']} 200s "
                     f"+ {result['sent'] - result['ok'] - result['other']} unanswered at the "
                     f"stop" if s.receipts else "")
            log(f"  round {rnd}/{args.rounds} {s.name}: {result['rps']:,.0f} req/s, "
                f"p50 {result['p50_us'] / 1000:.2f} ms, p99 {result['p99_us'] / 1000:.2f} ms"
                f"{extra}")
    bursts = {}
    for s in chosen:
        if s.receipts and s.bodies and args.burst:
            log(f"exact receipt check: {args.burst} requests over {args.connections} "
                f"connections ...")
            bursts[s.name] = exact_receipt_check(servers[s.server], s, headers[s.name],
                                                 args.burst, args.connections)

    # -- report -----------------------------------------------------------------------------
    by_key = {s.key: s for s in chosen}
    ok = True
    print()
    shape = ("PostgreSQL, Redis, rate limits on" if args.shape == "production"
             else "SQLite, limits in process, rate limits on")
    print(f"## HTTP ({args.shape}: {shape}; {args.worker_count} worker(s)) against a bare "
          "Litestar app")
    print()
    print(f"machine: {machine()}; granian {granian_version()}, {args.worker_count} worker(s) "
          f"for each server; "
          f"wrk {args.threads} thread(s), {args.connections} connections, {args.duration} s "
          f"per run, {args.rounds} runs per scenario, alternating; load average "
          f"{args.load_before} before, {load_average()} after")
    print()
    print("| scenario | req/s (median) | runs (req/s) | p50 ms | p99 ms | non-200 "
          "| socket errors |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
    for s in chosen:
        rates = [r["rps"] for r in s.runs]
        med = statistics.median(rates)
        p50 = statistics.median(r["p50_us"] for r in s.runs) / 1000
        p99 = statistics.median(r["p99_us"] for r in s.runs) / 1000
        non200 = sum(r["other"] for r in s.runs)
        errors = sum(r["connect"] + r["read"] + r["write"] + r["timeout"] for r in s.runs)
        print(f"| {s.name} | {med:,.0f} | {', '.join(f'{x:,.0f}' for x in rates)} | "
              f"{p50:.2f} | {p99:.2f} | {non200} | {errors} |")
        ok &= non200 == 0 and errors == 0
    print("\n(p50 and p99 are the medians over the runs of wrk's per-run percentiles.)")
    ratios: dict[str, float] = {}
    for s in chosen:
        if s.baseline and s.baseline in by_key:
            base = by_key[s.baseline]
            ratio = (statistics.median(r["rps"] for r in s.runs)
                     / statistics.median(r["rps"] for r in base.runs))
            ratios[s.key] = ratio
            meets = s.target_ratio is None or ratio >= s.target_ratio
            ok &= meets
            target = f" (target >= {s.target_ratio:.0%}: {'met' if meets else 'NOT met'})" \
                if s.target_ratio else ""
            print(f"\nratio {s.name} / {base.name}: {ratio:.1%}{target}")
    print("\nCPU per answer by process (µs, median over the runs; PostgreSQL and Redis are "
          "every such process on the machine, wrk the load generator):")
    print()
    print("| scenario | " + " | ".join(CPU_GROUPS) + " | all |")
    print("| --- | " + " | ".join("---:" for _ in CPU_GROUPS) + " | ---: |")
    for s in chosen:
        per = {g: statistics.median(r["cpu_us"][g] for r in s.runs) for g in CPU_GROUPS}
        print(f"| {s.name} | " + " | ".join(f"{per[g]:,.0f}" for g in CPU_GROUPS)
              + f" | {sum(per.values()):,.0f} |")
    for s in chosen:
        if not s.receipts:
            continue
        print(f"\nreceipts, {s.name}:")
        print()
        print("| run | 200 answers | sent, unanswered when wrk stopped | receipts stored | check |")
        print("| --- | ---: | ---: | ---: | --- |")
        for k, r in enumerate(s.runs, start=1):
            inflight = r["sent"] - r["ok"] - r["other"]
            good = r["ok"] <= r["receipts"] <= r["ok"] + inflight
            ok &= good
            print(f"| wrk {k} | {r['ok']:,} | {inflight} | {r['receipts']:,} | "
                  f"{'ok' if good else 'MISMATCH'} |")
        if s.name in bursts:
            b = bursts[s.name]
            good = b["receipts"] == b["ok"] and b["errors"] == 0 and b["other"] == 0
            ok &= good
            print(f"| exact burst ({b['requests']:,} requests) | {b['ok']:,} | 0 | "
                  f"{b['receipts']:,} | {'equal' if good else 'MISMATCH'} |")
        delays = sorted(d for r in s.runs for d in r.get("delays", []))
        if delays:
            p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
            met = p99 <= 1000
            ok &= met
            print(f"\nintegration delay (age of the oldest entry waiting for the sequencer, "
                  f"sampled every 100 ms under load, {len(delays)} samples): median "
                  f"{statistics.median(delays)} ms, p99 {p99} ms, max {delays[-1]} ms "
                  f"(target p99 <= 1000 ms: {'met' if met else 'NOT met'})")
        if s.bodies:
            print(f"\nbefore the load: {checked.get(s.name, '')} (each receipt verified "
                  f"against /.well-known/jwks.json and fetched from /v1/receipts/{{jti}})")
    receipting = next((s for s in chosen if s.receipts), None)
    if receipting is not None:
        left = unlogged_receipts(servers[receipting.server])
        ok &= left == 0
        print(f"\nafter the load every receipt is in the log: "
              f"{'yes' if left == 0 else f'NO, {left} still waiting after 30 s'}")
    print(f"\ntotal run {time.perf_counter() - wall:.0f} s")
    print(f"reproduce: {command.strip()}  (from the repository root, with .venv/bin/python)")
    return ok, ratios


def granian_version() -> str:
    try:
        from importlib.metadata import version

        return version("granian")
    except Exception:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
