#!/usr/bin/env python3
"""Set-up and the two everyday commands, needing nothing but Python 3.11.

    python3.11 tasks.py serve   # the service on embedded defaults at 127.0.0.1:8000
    python3.11 tasks.py test    # the whole test suite (SQLite, and PostgreSQL/Redis if they answer)

Each command makes the virtual environment in ``.venv`` and installs the project into it
when ``pyproject.toml`` changed since the last install, then runs. Extra arguments are
passed on (``tasks.py test -k receipts``, ``tasks.py serve --port 9000``). The set-up
says what it does as it goes: one line per step, and one per package pip collects.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
import venv
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".casset-installed"


def ensure_environment(extras: str) -> None:
    if sys.version_info[:2] != (3, 11) and not PYTHON.exists():
        print(f"note: running on Python {sys.version.split()[0]}; the project targets 3.11")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    started = time.monotonic()
    if not PYTHON.exists():
        print("[1/3] creating the virtual environment in .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("[2/3] upgrading pip ...", flush=True)
    run_pip(["install", "--upgrade", "pip"])
    print(f"[3/3] installing casset-rights[{extras}] and its dependencies into .venv "
          "(the first time takes a minute or two) ...", flush=True)
    run_pip(["install", "-e", f".[{extras}]"])
    STAMP.write_text(wanted + "\n")
    print(f"set-up done in {time.monotonic() - started:.0f} s", flush=True)


def pip_progress(lines: Iterable[str]) -> Iterable[str]:
    """The lines of pip's output worth showing while it works: each package collected
    and the final install, shortened; the rest is kept for a failure report."""
    for line in lines:
        text = line.strip()
        if text.startswith("Collecting "):
            yield "  collecting " + text.split()[1]
        elif text.startswith("Installing collected packages"):
            count = len(text.partition(":")[2].split(","))
            yield f"  installing {count} package(s) ..."
        elif text.startswith("Successfully installed"):
            yield f"  installed {len(text.split()) - 2} package(s)"


@contextlib.contextmanager
def heartbeat(every: float = 15.0) -> Iterator[None]:
    """While open, a line every ``every`` seconds saying the step still runs (pip installs
    a hundred packages for about a minute without a word)."""
    stop = threading.Event()
    started = time.monotonic()

    def beat() -> None:
        while not stop.wait(every):
            print(f"  ... still working ({time.monotonic() - started:.0f} s)", flush=True)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run_pip(arguments: list[str]) -> None:
    """Run pip in .venv, showing its progress one line per package; on failure, print
    the end of its output and stop with its exit status."""
    seen: list[str] = []
    with subprocess.Popen([str(PYTHON), "-m", "pip", *arguments,
                           "--disable-pip-version-check", "--progress-bar", "off"],
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, bufsize=1) as process:
        assert process.stdout is not None
        output = process.stdout

        def kept() -> Iterable[str]:
            for line in output:
                seen.append(line)
                yield line

        with heartbeat():
            for shown in pip_progress(kept()):
                print(shown, flush=True)
            code = process.wait()
    if code != 0:
        sys.stdout.write("".join(seen[-40:]))
        sys.exit(code)


def run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    result = subprocess.run(cmd, cwd=ROOT, env=env)
    if result.returncode != 0:
        sys.exit(result.returncode)


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def serve(args: list[str]) -> None:
    ensure_environment("test,bench,audio")
    # librosa's numba code, compiled once into a folder that outlives the process.
    os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
    os.execv(str(BIN / "casset-rights"), [str(BIN / "casset-rights"), "serve", "--demo", *args])


def test(args: list[str]) -> None:
    ensure_environment("test,bench,audio")
    env = dict(os.environ)
    if "CASSET_TEST_DATABASE_URL" not in env and answers("127.0.0.1", 5432):
        env["CASSET_TEST_DATABASE_URL"] = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    if "CASSET_TEST_REDIS_URL" not in env and answers("127.0.0.1", 6379):
        env["CASSET_TEST_REDIS_URL"] = "redis://127.0.0.1:6379/15"
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
    print("databases: SQLite" + (" and PostgreSQL" if env.get("CASSET_TEST_DATABASE_URL") else
                                 " only (no PostgreSQL at 127.0.0.1:5432)"), flush=True)
    print("redis: " + (env["CASSET_TEST_REDIS_URL"] if env.get("CASSET_TEST_REDIS_URL") else
                       "not reachable; Redis tests skip"), flush=True)
    workers = ["-n", "2"] if not any(a.startswith("-n") for a in args) else []
    run([str(PYTHON), "-m", "pytest", *workers, *args], env=env)


COMMANDS = {"serve": serve, "test": test}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        sys.exit(2)
    COMMANDS[sys.argv[1]](sys.argv[2:])
