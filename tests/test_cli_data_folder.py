"""Which data folder the command line uses, that it says so, and what it keeps quiet.

The commands run as a user runs them: the installed ``casset-rights`` in a fresh
process, from a folder outside the checkout, with a home of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import tasks
from casset_rights.config import PROJECT_ROOT, data_dir_choice

CLI = Path(sys.executable).parent / "casset-rights"
POLICIES = PROJECT_ROOT / "policies"


def run(args: list[str], *, cwd: Path, home: Path,
        **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("CASSET_") and k != "XDG_DATA_HOME"}
    return subprocess.run([str(CLI), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**environ, "HOME": str(home), **env})


def test_outside_the_checkout_the_user_data_folder_is_used_and_named(tmp_path: Path) -> None:
    somewhere, home = tmp_path / "somewhere", tmp_path / "home"
    somewhere.mkdir()
    done = run(["db", "upgrade"], cwd=somewhere, home=home)
    assert done.returncode == 0, done.stderr
    folder = home / ".local" / "share" / "casset-rights"
    assert f"data folder: {folder} (the user data folder)" in done.stderr
    assert (folder / "casset.db").is_file() and list(somewhere.iterdir()) == []
    # Alembic says nothing without -v: only our own lines.
    assert "alembic" not in done.stderr.lower() and "Running upgrade" not in done.stderr
    assert done.stdout == "database schema is up to date\n"


def test_casset_data_dir_wins_and_v_shows_the_migrations(tmp_path: Path) -> None:
    chosen = tmp_path / "chosen"
    done = run(["-v", "db", "upgrade"], cwd=tmp_path, home=tmp_path / "home",
               CASSET_DATA_DIR=str(chosen))
    assert done.returncode == 0, done.stderr
    assert f"data folder: {chosen} (CASSET_DATA_DIR)" in done.stderr
    assert "Running upgrade" in done.stderr and (chosen / "casset.db").is_file()
    assert not (tmp_path / "data").exists() and not (tmp_path / "home").exists()


def test_commands_that_keep_no_data_name_no_folder_and_make_none(tmp_path: Path) -> None:
    done = run(["policy", "check", str(POLICIES)], cwd=tmp_path, home=tmp_path / "home")
    assert done.returncode == 0, done.stderr
    assert "data folder" not in done.stderr and list(tmp_path.iterdir()) == []


def test_the_choice_in_order() -> None:
    inside = PROJECT_ROOT / "tests"
    assert data_dir_choice({"CASSET_DATA_DIR": "/srv/casset"}, cwd=inside) == (
        Path("/srv/casset"), "CASSET_DATA_DIR")
    assert data_dir_choice({}, cwd=inside) == (PROJECT_ROOT / "data",
                                               "the project's checkout")
    outside = Path("/")
    assert data_dir_choice({"HOME": "/home/u", "XDG_DATA_HOME": "/xdg"}, cwd=outside)[0] == \
        Path("/xdg/casset-rights")
    assert data_dir_choice({"HOME": "/home/u"}, cwd=outside)[0] == \
        Path("/home/u/.local/share/casset-rights")
    assert data_dir_choice({"HOME": "/Users/u"}, cwd=outside, platform="darwin")[0] == \
        Path("/Users/u/Library/Application Support/casset-rights")
    assert data_dir_choice({"HOME": "/h", "LOCALAPPDATA": "/appdata"}, cwd=outside,
                           platform="win32")[0] == Path("/appdata/casset-rights")


def test_the_first_set_up_shows_a_line_per_package() -> None:
    """What ``tasks.py`` shows of pip's output (recorded from a real first install)."""
    output = [
        "Obtaining file:///work/casset\n",
        "  Installing build dependencies: started\n",
        "Collecting litestar>=2.12 (from casset-rights==0.1.0)\n",
        "  Downloading litestar-2.13.0-py3-none-any.whl (530 kB)\n",
        "Collecting msgspec>=0.18\n",
        "Installing collected packages: msgspec, litestar, casset-rights\n",
        "Successfully installed casset-rights-0.1.0 litestar-2.13.0 msgspec-0.19.0\n",
    ]
    assert list(tasks.pip_progress(output)) == [
        "  collecting litestar>=2.12", "  collecting msgspec>=0.18",
        "  installing 3 package(s) ...", "  installed 3 package(s)"]


def test_a_failing_pip_step_shows_why_and_stops(capsys) -> None:  # type: ignore[no-untyped-def]
    """The real pip of .venv, offline, asked for a package that does not exist."""
    import pytest

    if not tasks.PYTHON.exists():
        pytest.skip("no .venv (the tests run outside tasks.py)")
    with pytest.raises(SystemExit) as stopped:
        tasks.run_pip(["install", "--no-index", "no-such-package-casset-test"])
    assert stopped.value.code != 0
    out = capsys.readouterr().out  # pip's own words, which the filter kept back
    assert "no-such-package-casset-test" in out and "ERROR:" in out


def test_a_long_silent_step_still_says_it_works(capsys) -> None:  # type: ignore[no-untyped-def]
    import time

    with tasks.heartbeat(every=0.05):
        time.sleep(0.18)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 2 and all(line.startswith("  ... still working (") for line in lines)
