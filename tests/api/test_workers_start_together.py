"""Server workers that start at once on a new database and a new data folder.

granian starts its workers together and each builds the app: each migrates, makes what a
first start makes (keys, the log's identity) and, when asked, loads the examples. Two
workers on a new PostgreSQL database once both created Alembic's version table, and the
one that lost died at start, leaving the service one worker short.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from casset_rights.db.engine import make_engine
from casset_rights.receipts.verify import verify_receipt

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2
LAUNCHER = """
import sys
from granian import Granian
from granian.constants import Interfaces
Granian(target="casset_rights.app:app_from_environment", factory=True, address="127.0.0.1",
        port=int(sys.argv[1]), interface=Interfaces.ASGI, workers=int(sys.argv[2]),
        log_access=False).serve()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of a database no process has touched: a SQLite file, or a new PostgreSQL
    database dropped after."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'new.db'}"
        return
    url = os.environ.get("CASSET_TEST_DATABASE_URL")
    if not url:
        pytest.skip("CASSET_TEST_DATABASE_URL is not set")
    name = f"casset_start_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _processes(session: int) -> dict[int, tuple[int, float]]:
    """The processes of ``session``: pid -> (parent, CPU ticks so far)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) == session:
                found[int(entry)] = (int(fields[1]), float(fields[11]) + float(fields[12]))
    return found


def _started(session: int, log: Path) -> None:
    """Wait until the server's processes have finished starting: a second in which
    they used almost no CPU."""
    deadline = time.monotonic() + 120
    before = sum(cpu for _, cpu in _processes(session).values())
    while True:
        time.sleep(1)
        now = sum(cpu for _, cpu in _processes(session).values())
        if now - before < 0.1 * os.sysconf("SC_CLK_TCK"):
            return
        assert time.monotonic() < deadline, log.read_text()
        before = now


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="counts worker processes in /proc")
def test_workers_starting_together_all_serve_with_one_key(
        database_url: str, tmp_path: Path) -> None:
    port = _free_port()
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASSET_")}
    env.update(CASSET_DATA_DIR=str(data), CASSET_DATABASE_URL=database_url,
               CASSET_LOAD_EXAMPLES="1", PYTHONPATH=str(ROOT),
               # librosa's compiled code, shared with the suite's other servers: each
               # worker's audio warm-up then loads it instead of compiling it again.
               CASSET_NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR",
                                                     str(ROOT / ".cache" / "numba")))
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(port), str(WORKERS)],
                                  cwd=str(ROOT), env=env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            deadline = time.monotonic() + 120
            while True:
                assert server.poll() is None, log.read_text()
                try:
                    if http.get("/.well-known/jwks.json").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            # Every worker finished its start; none died on the way.
            _started(server.pid, log)
            told = log.read_text()
            assert "Traceback" not in told, told
            workers = [pid for pid, (parent, _) in _processes(server.pid).items()
                       if parent == server.pid]
            assert len(workers) == WORKERS, told
            # One receipt key, made once, signs every worker's receipts.
            assert len(list((data / "keys").glob("ed25519-*.pem"))) == 1
            jwks = http.get("/.well-known/jwks.json").json()
            assert len(jwks["keys"]) == 1
            for _ in range(4 * WORKERS):
                answer = http.post("/v1/decisions", json={
                    "action": "ai-train", "resource": "release:midnight-tapes"})
                assert answer.status_code == 200, answer.text
                assert verify_receipt(answer.json()["receipt"], jwks)["decision"] == "deny"
            # The examples were loaded once: an example release has one version for
            # each of its files, not one for each worker.
            versions = http.get("/v1/releases/midnight-tapes/versions")
            assert versions.status_code == 200, versions.text
            files = list((ROOT / "examples" / "catalog" / "midnight-tapes").iterdir())
            assert [v["version"] for v in versions.json()["versions"]] == list(
                range(1, len(files) + 1)), versions.text
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
