"""Key rotation reaches every process sharing the key folder."""

from __future__ import annotations

import time
from pathlib import Path

from casset_rights.receipts.keys import FileKeyStore


def test_a_rotation_by_another_process_is_followed(tmp_path: Path) -> None:
    """Two stores on one folder stand for two server workers and the ``keys rotate``
    command: the rotation is published by the other at once and signs there within its
    follow period; the old key stays published."""
    worker = FileKeyStore(tmp_path / "keys", follow_seconds=0.2)
    old = worker.active()
    rotated = FileKeyStore(tmp_path / "keys").rotate()
    assert rotated.kid != old.kid
    published = {k["kid"] for k in worker.jwks()["keys"]}
    assert published == {old.kid, rotated.kid}  # published before it signs anywhere
    assert worker.signing_key(rotated.kid).kid == rotated.kid
    deadline = time.monotonic() + 5
    while worker.active().kid != rotated.kid:
        assert time.monotonic() < deadline, "the rotation never reached the worker"
        time.sleep(0.05)


def test_without_a_rotation_nothing_is_reloaded(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys", follow_seconds=0.0)
    first = store.active()
    keys = store._keys
    for _ in range(3):
        assert store.active() is first
    assert store._keys is keys  # the folder was looked at, not read again
