"""RecentlyEmpty: absences trusted for a while, forgotten on demand, bounded."""

from __future__ import annotations

from casset_rights.decisions.recent import RecentlyEmpty


def test_an_absence_is_trusted_while_fresh_and_forgotten_on_demand() -> None:
    now = [100.0]
    memory = RecentlyEmpty(fresh_seconds=1.0, clock=lambda: now[0], limit=3)
    assert "a" not in memory
    memory.remember("a")
    assert "a" in memory
    now[0] += 0.999
    assert "a" in memory
    now[0] += 0.001
    assert "a" not in memory  # aged out: ask again
    memory.remember("a")
    memory.forget("a")
    assert "a" not in memory
    for key in ("a", "b", "c"):
        memory.remember(key)
    memory.remember("d")  # full: everything older is dropped, never a wrong answer
    assert "d" in memory and "a" not in memory and "b" not in memory
