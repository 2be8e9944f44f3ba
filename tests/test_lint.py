"""ruff on the whole project and mypy (strict) on the domain packages: any finding fails
the test run.

ruff checks the package, the tests, the benchmarks and ``tasks.py`` with the settings in
pyproject.toml. mypy checks its ``files`` in pyproject.toml, so a bare ``mypy`` at the project root
checks the same code.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TYPED = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]
LINTED = ["casset_rights", "tests", "benchmarks", "tasks.py"]
# The domain packages: none of them may leave the strict check.
DOMAIN = ["casset_rights/decisions", "casset_rights/licenses", "casset_rights/lineage",
          "casset_rights/log", "casset_rights/ratelimit", "casset_rights/commerce",
          "casset_rights/policy", "casset_rights/receipts", "casset_rights/manifests",
          "casset_rights/idempotency", "casset_rights/config.py", "casset_rights/limits.py",
          "casset_rights/audio", "casset_rights/agents"]

pytestmark = pytest.mark.slow  # mypy on the checked paths takes 20 s and more from cold


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=900, check=False)


def test_typed_paths_hold_the_domain_packages() -> None:
    assert set(DOMAIN) <= set(TYPED), sorted(set(DOMAIN) - set(TYPED))
    assert all((ROOT / path).exists() for path in TYPED + LINTED)


def test_ruff_finds_nothing() -> None:
    result = _run("ruff", "check", "--no-cache", *LINTED)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_nothing() -> None:
    result = _run("mypy", "--no-incremental", *TYPED)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
