"""Constants and helpers shared by the log tests (imported by name, unlike conftest)."""

from __future__ import annotations

ORIGIN = "rights.casset.test/log"
SEED = bytes(range(32))


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_732_464_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
