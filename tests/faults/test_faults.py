"""Faults under load, against a real server with two workers: PostgreSQL stopped and
started, PostgreSQL hung, Redis gone, a worker killed with SIGKILL, the data folder's disk full.

After each: every answered receipt is stored and in the log, no receipt is left out of
the log, no answer was a 500, and the service answers again on its own.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fault_support import BODIES, Load, PrivatePostgres, PrivateRedis, Service, wait_until
from sqlalchemy import text

from casset_rights.db.engine import make_engine
from casset_rights.receipts.service import ReceiptStore

pytestmark = pytest.mark.slow

UNREFUSED = "1000000000/1000000000"


def service_env(tmp_path: Path, *, database_url: str = "",
                redis_url: str | None = None) -> dict[str, str]:
    env = {"CASSET_DATA_DIR": str(tmp_path / "data"), "CASSET_CHAIN": "none",
           "CASSET_RATE_LIMITS_ENABLED": "true"}
    for kind in ("PUBLIC", "AGENT", "PARTNER", "ARTIST"):
        env[f"CASSET_RATE_LIMIT_{kind}"] = UNREFUSED
    if database_url:
        env["CASSET_DATABASE_URL"] = database_url
    if redis_url:
        env["CASSET_REDIS_URL"] = redis_url
    return env


def assert_every_answer_logged(database_url: str, answered: set[str]) -> None:
    """Every receipt answered with a 200 is stored; once the sequencer caught up, every
    stored receipt (answered or not: a request cut off after its commit) is in the log."""
    engine = make_engine(database_url)
    try:
        receipts = ReceiptStore(engine)
        wait_until(lambda: receipts.unlogged_count() == 0, 60,
                   "the sequencer to log every receipt")
        with engine.connect() as conn:
            stored = {row[0] for row in conn.execute(text("SELECT jti FROM receipts"))}
            leaves = {row[0] for row in conn.execute(text(
                "SELECT ref FROM log_leaves WHERE kind = 'receipt'"))}
            waiting = conn.execute(text("SELECT count(*) FROM log_pending")).scalar()
        missing = answered - stored
        assert not missing, f"{len(missing)} answered receipts are not stored"
        assert stored == leaves, "stored receipts and receipt leaves differ"
        assert waiting == 0
    finally:
        engine.dispose()


@contextlib.contextmanager
def loaded(service: Service) -> Iterator[Load]:
    """``service`` started and under load (answers flowing), stopped afterwards; the
    caller stops the load (``Load.stop``) to check the service while it still runs."""
    service.start()
    try:
        with Load(service.base) as load:
            wait_until(lambda: load.ok_since(0) > 50, 60, "answers before the fault")
            yield load
    finally:
        service.stop()


def production(tmp_path: Path, postgres: PrivatePostgres, redis: PrivateRedis) -> Service:
    """Two workers on the private PostgreSQL and Redis."""
    return Service(service_env(tmp_path, database_url=postgres.url, redis_url=redis.url),
                   tmp_path)


def assert_no_server_errors(load: Load) -> None:
    statuses = load.statuses()
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.get(200, 0) > 0


def test_postgresql_stopped_and_started_under_load(private_postgres: PrivatePostgres,
                                                   private_redis: PrivateRedis,
                                                   tmp_path: Path) -> None:
    with loaded(production(tmp_path, private_postgres, private_redis)) as load:
        private_postgres.stop()
        outage = len(load.answers)
        time.sleep(3)
        during = {s for s, _ in load.answers[outage + 20:]}  # after those in flight
        private_postgres.start()
        back = len(load.answers)
        wait_until(lambda: load.ok_since(back) > 50, 90, "answers after PostgreSQL came back")
        load.stop()
        assert_every_answer_logged(private_postgres.url, load.receipts())
    assert during == {503}, during  # refused, said so, and nothing hung
    assert_no_server_errors(load)


def test_postgresql_hung_under_load(private_postgres: PrivatePostgres,
                                    private_redis: PrivateRedis, tmp_path: Path) -> None:
    """Every PostgreSQL process stopped (SIGSTOP) for 12 s: connections hang instead of
    failing. A decision waits at most ``receipt_wait_seconds`` (5 s) for its receipt,
    then is a 503; while the writer stays stuck, decisions are refused at once. What
    needs no database answers throughout, and after SIGCONT decisions come back on
    their own."""
    service = production(tmp_path, private_postgres, private_redis)
    with loaded(service) as load:
        with private_postgres.hung():
            hung = len(load.answers)
            wait_until(lambda: sum(s == 503 for s, _ in load.answers[hung:]) >= 20, 30,
                       "decisions refused while PostgreSQL hangs")
            started = time.monotonic()
            meta = httpx.get(service.base + "/.well-known/casset-rights", timeout=5)
            meta_in = time.monotonic() - started
            started = time.monotonic()
            refused = httpx.post(service.base + "/v1/decisions", json=BODIES[0], timeout=15)
            refused_in = time.monotonic() - started
            time.sleep(max(0.0, 12 - (time.monotonic() - started)))
            during = {s for s, _ in load.answers[hung + 8:]}  # after those in flight
        back = len(load.answers)
        wait_until(lambda: load.ok_since(back) > 50, 90, "answers after PostgreSQL woke")
        load.stop()
        assert_every_answer_logged(private_postgres.url, load.receipts())
    assert meta.status_code == 200 and meta_in < 2
    assert refused.status_code == 503 and refused_in < 6
    # Refused by the wait (``receipt_not_stored``) or, when the writer's new connection
    # gave up first (libpq's connect_timeout, 5 s), by the database error it got.
    assert refused.json()["code"] in {"receipt_not_stored", "database_unavailable"}
    assert refused.headers["retry-after"] == "1"
    assert during == {503}, during  # none answered without its receipt, none a 500
    assert load.errors == 0  # no request hung until the client gave up (15 s)
    assert_no_server_errors(load)


def test_redis_gone_rate_limits_fail_open(private_postgres: PrivatePostgres,
                                          private_redis: PrivateRedis,
                                          tmp_path: Path) -> None:
    """Without Redis the limiter lets requests through (and logs it): decisions go on."""
    service = production(tmp_path, private_postgres, private_redis)
    with loaded(service) as load:
        private_redis.kill()
        gone = len(load.answers)
        wait_until(lambda: load.ok_since(gone) > 100, 60, "answers without Redis")
        private_redis.start()
        back = len(load.answers)
        wait_until(lambda: load.ok_since(back) > 50, 60, "answers with Redis again")
        load.stop()
        assert_every_answer_logged(private_postgres.url, load.receipts())
    assert load.statuses().keys() == {200}
    assert "rate limit" in service.log().lower()  # the failure was logged


def test_a_worker_killed_mid_load(private_postgres: PrivatePostgres,
                                  private_redis: PrivateRedis, tmp_path: Path) -> None:
    """SIGKILL to one of two workers: the other keeps answering, the server starts a new
    worker, and if the dead one held the sequencer's lease another takes it over."""
    service = production(tmp_path, private_postgres, private_redis)
    with loaded(service) as load:
        before = service.workers_pids()
        assert len(before) == 2, before
        subprocess.run(["kill", "-KILL", str(before[0])], check=True)
        killed = len(load.answers)
        wait_until(lambda: load.ok_since(killed) > 100, 60, "answers after the kill")
        wait_until(lambda: len(set(service.workers_pids()) - set(before)) >= 1, 60,
                   "a new worker")
        load.stop()
        assert_every_answer_logged(private_postgres.url, load.receipts())
    assert_no_server_errors(load)


def test_the_data_folders_disk_full(tmp_path: Path) -> None:
    """The embedded shape (SQLite in the data folder) on a small filesystem that fills
    up: writes are refused with 503, nothing half-stored; once room is made, answers come
    back on their own."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(mount)],
                          capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {made.stderr.decode().strip()}")
    try:
        with loaded(Service(service_env(mount), tmp_path, workers=1)) as load:
            filler = mount / "filler"
            with filler.open("wb") as out:  # every free byte
                try:
                    while True:
                        out.write(b"\0" * (1 << 20))
                        out.flush()
                except OSError:
                    pass
            full = len(load.answers)
            wait_until(lambda: any(s == 503 for s, _ in load.answers[full:]), 60,
                       "a write refused for want of room")
            filler.unlink()
            back = len(load.answers)
            wait_until(lambda: load.ok_since(back) > 50, 60, "answers once there is room")
            load.stop()
            assert_every_answer_logged(f"sqlite:///{mount / 'data' / 'casset.db'}",
                                       load.receipts())
        assert_no_server_errors(load)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
