#!/usr/bin/env python3
"""Set-up and the two everyday commands, needing nothing but Python 3.11.

    python3.11 tasks.py serve   # the service on embedded defaults at 127.0.0.1:8000
    python3.11 tasks.py test    # the whole test suite (SQLite, and PostgreSQL/Redis when they answer)

Each command makes the virtual environment in ``.venv`` and installs the project into it
when ``pyproject.toml`` changed since the last install, then runs. Extra arguments are
passed on (``tasks.py test -k receipts``, ``tasks.py serve --port 9000``).
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".casset-installed"


def ensure_environment(extras: str) -> None:
    if sys.version_info[:2] != (3, 11) and not PYTHON.exists():
        print(f"note: running on Python {sys.version.split()[0]}; the project targets 3.11")
    if not PYTHON.exists():
        print("creating the virtual environment in .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    print(f"installing casset-rights[{extras}] into .venv (first run takes a minute) ...", flush=True)
    run([str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([str(PYTHON), "-m", "pip", "install", "--quiet", "--progress-bar", "on",
         "-e", f".[{extras}]"])
    STAMP.write_text(wanted + "\n")


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
    ensure_environment("test,bench")
    os.execv(str(BIN / "casset-rights"), [str(BIN / "casset-rights"), "serve", "--demo", *args])


def test(args: list[str]) -> None:
    ensure_environment("test,bench")
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
