"""Random ids from the block-read pool: unique, the right length, and a forked child
never hands out its parent's bytes."""

from __future__ import annotations

import os
import sys

import pytest

from casset_rights.ids import random_bytes, random_hex


def test_ids_are_unique_and_sized() -> None:
    ids = [random_hex(10) for _ in range(5000)]  # more than one block
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 20 and int(i, 16) >= 0 for i in ids)
    assert len(random_bytes(5000)) == 5000  # more than a block at once


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_a_forked_child_does_not_repeat_its_parents_bytes() -> None:
    random_hex(1)  # the parent has a block buffered
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next id and leave at once
        os.write(write, random_hex(16).encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 32 and child != random_hex(16)
