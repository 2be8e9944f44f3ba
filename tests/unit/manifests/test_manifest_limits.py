"""Hostile manifest files: refused by the input limits before anything is stored."""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

import pytest

from casset_rights.errors import ManifestInvalid
from casset_rights.limits import InputLimits
from casset_rights.manifests import load_catalog_directory

N = 200_000


@pytest.mark.parametrize(("text", "message"), [
    ("[" * N + "]" * N, "nested more than 64 levels deep (the limit)"),
    ('{"id": "x", "x": ' + "[" * 70 + "]" * 70 + "}", "nested more than 64 levels"),
    ('{"id": "x", "version": 99999999999999999999}', "64 bits"),
    ('{"id": "x", "id": "y"}', "appears twice"),
    ('{"id": "x", "n": 1e999}', "64-bit float"),
    ('{"id": ' + '"' + "x" * 600_000 + '"}', "larger than 524288 bytes"),
])
def test_a_hostile_manifest_file_is_refused(services: Any, tmp_path: Path, text: str,
                                            message: str) -> None:
    (tmp_path / "hostile.json").write_text(text)
    # The refusal's own cost, as for hostile policies (tests/unit/policy/
    # test_policy_limits.py): this thread's CPU time after a collection, not a wall clock.
    gc.collect()
    started = time.thread_time()
    with pytest.raises(ManifestInvalid) as refused:
        load_catalog_directory(services.catalog, tmp_path)
    assert time.thread_time() - started < 0.5
    assert "hostile.json" in refused.value.detail
    assert message in refused.value.errors[0].message, refused.value.errors


def test_a_syntax_error_is_located(services: Any, tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{\n  "id": "x",\n  "version": }\n')
    with pytest.raises(ManifestInvalid) as refused:
        load_catalog_directory(services.catalog, tmp_path)
    error = refused.value.errors[0]
    assert (error.line, error.column) == (3, 14)


def test_the_limits_are_the_callers(services: Any, tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text('{"a": [[1]]}')
    with pytest.raises(ManifestInvalid) as refused:
        load_catalog_directory(services.catalog, tmp_path,
                               limits=InputLimits(max_bytes=1000, max_depth=2))
    assert "nested more than 2 levels" in refused.value.errors[0].message
