"""Random ids from the operating system's CSPRNG, read in blocks.

``os.urandom`` is a system call that lets go of the GIL: on a busy event loop each call
hands the interpreter to another thread (the receipt writer) and waits to get it back.
Reading 4 KiB at a time makes that one call per few hundred ids; the bytes are the same
kernel CSPRNG's, each handed out once.
"""

from __future__ import annotations

import os
import threading

_BLOCK = 4096


class _Pool:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._at = 0

    def forget(self) -> None:
        """Drop what is buffered (a forked child must not repeat its parent's bytes)."""
        self._lock = threading.Lock()
        self._buffer, self._at = b"", 0

    def take(self, n: int) -> bytes:
        with self._lock:
            if self._at + n > len(self._buffer):
                self._buffer, self._at = os.urandom(max(_BLOCK, n)), 0
            out = self._buffer[self._at:self._at + n]
            self._at += n
            return out


_pool = _Pool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_pool.forget)


def random_bytes(n: int) -> bytes:
    """``n`` bytes from the kernel's CSPRNG (see the module)."""
    return _pool.take(n)


def random_hex(n: int) -> str:
    """``n`` random bytes as ``2n`` hex digits."""
    return _pool.take(n).hex()
