"""Helpers of the fault tests (imported by name, unlike conftest): a real server
(``casset-rights serve``, granian, two workers) on a PostgreSQL and a Redis of the test's
own, started on free loopback ports and stopped, hung, killed or starved under load. Nothing
here touches the machine's shared servers.

Private servers need the PostgreSQL server binaries (``initdb``, ``pg_ctl``) and
``redis-server``; the PostgreSQL cluster runs as the ``postgres`` user (``initdb``
refuses root). Everything is marked slow: CI runs it, a quick local run may deselect it
(``-m "not slow"``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    return cmd if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *cmd]


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster in a folder of the test's, on a free port."""

    folder: Path
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def bin(self) -> Path:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found and shutil.which("initdb") is None:
            pytest.skip("the PostgreSQL server binaries (initdb) are not installed")
        return Path(found[-1]).parent if found else Path(shutil.which("initdb") or "").parent

    def init(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        subprocess.run(_as_postgres([str(self.bin / "initdb"), "-D", str(self.folder / "db"),
                                     "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
                       check=True, capture_output=True)
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 " \
                  "-c fsync=off -c max_connections=200"
        subprocess.run(_as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.folder / "db"),
                                     "-o", options, "-l", str(self.folder / "pg.log"),
                                     "-w", "start"]), check=True, capture_output=True)

    def stop(self) -> None:
        subprocess.run(_as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.folder / "db"),
                                     "-m", "fast", "-w", "stop"]), check=False,
                       capture_output=True)


    @contextlib.contextmanager
    def hung(self) -> Iterator[None]:
        """Every process of the cluster stopped (SIGSTOP) until the block ends (SIGCONT):
        connections are accepted by the kernel and nothing answers, as with a server
        frozen or cut off behind a proxy."""
        postmaster = int((self.folder / "db" / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True,
                                  text=True).stdout.split()
        pids = [postmaster, *(int(p) for p in children)]
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)


@dataclass
class PrivateRedis:
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: _answers(self.port), 20, "redis to start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(predicate, seconds: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@dataclass
class Service:
    """``casset-rights serve --demo`` in a process group of its own."""

    env: dict[str, str]
    folder: Path
    workers: int = 2
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CASSET_")}
        env.update(self.env)
        with (self.folder / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "casset_rights.cli", "serve", "--demo",
                 "--port", str(self.port), "--workers", str(self.workers)],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        wait_until(self.ready, 120, "the service to answer")

    def ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError("the service exited:\n" + self.log()[-3000:])
        try:
            return httpx.get(self.base + "/.well-known/casset-rights", timeout=2).status_code \
                == 200
        except httpx.HTTPError:
            return False

    def workers_pids(self) -> list[int]:
        """The granian worker processes (children of the main process)."""
        assert self.process is not None
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True,
                             text=True)
        return [int(p) for p in out.stdout.split()]

    def log(self) -> str:
        return (self.folder / "server.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


BODIES = [
    {"action": "remix", "resource": "hook:midnight-tapes/1/chorus",
     "context": {"purpose": "non-commercial"}},
    {"action": "ai-train", "resource": "release:midnight-tapes"},
    {"action": "listen", "resource": "track:midnight-tapes/2", "context": {"territory": "GB"}},
]


class Load:
    """Decisions from a few threads until stopped; every answer kept."""

    def __init__(self, base: str, threads: int = 4) -> None:
        self.base = base
        self.answers: list[tuple[int, str | None]] = []  # (status, receipt id of a 200)
        self.errors = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(threads)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop sending, and wait for the answers in flight."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def _run(self, offset: int) -> None:
        with httpx.Client(base_url=self.base, timeout=15) as client:
            n = offset
            while not self._stop.is_set():
                n += 1
                try:
                    answer = client.post("/v1/decisions", json=BODIES[n % len(BODIES)])
                except httpx.HTTPError:
                    with self._lock:
                        self.errors += 1
                    time.sleep(0.05)
                    continue
                receipt = answer.json().get("receipt_id") if answer.status_code == 200 else None
                with self._lock:
                    self.answers.append((answer.status_code, receipt))
                if answer.status_code != 200:
                    time.sleep(0.05)

    def statuses(self) -> dict[int, int]:
        with self._lock:
            counted: dict[int, int] = {}
            for status, _ in self.answers:
                counted[status] = counted.get(status, 0) + 1
            return counted

    def ok_since(self, start: int) -> int:
        with self._lock:
            return sum(1 for status, _ in self.answers[start:] if status == 200)

    def receipts(self) -> set[str]:
        with self._lock:
            return {r for status, r in self.answers if status == 200 and r}
