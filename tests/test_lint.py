"""ruff and mypy (strict) on the checked paths: any finding fails the test run.

The paths are mypy's ``files`` in pyproject.toml, so the two tools and a bare ``mypy`` at
the project root check the same code. Packages not listed there are not yet covered.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]

pytestmark = pytest.mark.slow  # mypy on the checked paths takes 20 s and more from cold


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=900, check=False)


def test_checked_paths_are_the_domain_packages() -> None:
    assert "casset_rights/receipts" in CHECKED and "casset_rights/cli.py" in CHECKED
    assert all((ROOT / path).exists() for path in CHECKED), CHECKED


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", "--no-cache", *CHECKED)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_nothing() -> None:
    result = _run("mypy", "--no-incremental", *CHECKED)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
