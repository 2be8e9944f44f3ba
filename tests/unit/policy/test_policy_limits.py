"""Hostile policy files: refused by the input limits, located, and fast."""

from __future__ import annotations

import gc
import time

import pytest

from casset_rights.limits import InputLimits
from casset_rights.policy import validate

HEAD = "policy: p\nartist: a\napplies_to: artist\n"
N = 125_000  # a 250 KB line of brackets: 4.8 s, then a RecursionError, before the limits


def laughs(levels: int = 9) -> str:
    text = HEAD + "x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for i in range(1, levels + 1):
        text += f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n"
    return text + f"rules: *a{levels}\n"


HOSTILE = {
    "flow sequences": (HEAD + "rules: " + "[" * N + "]" * N + "\n", "64 levels deep"),
    "flow mappings": (HEAD + "rules: " + "{a: " * 40_000 + "1" + "}" * 40_000 + "\n",
                      "64 levels deep"),
    "block sequences on one line": (HEAD + "rules:\n" + "- " * 100_000 + "x\n",
                                    "64 levels deep"),
    "indented blocks": (HEAD + "rules:\n" + "".join(" " * i + "- \n" for i in range(700)),
                        "64 levels deep"),
    "complex keys": (HEAD + "rules:\n" + "? " * 20_000 + "x\n", "64 levels deep"),
    "billion laughs": (laughs(), "aliases expanded"),
    "JSON": ('{"policy": "p", "artist": "a", "applies_to": "artist", "rules": '
             + "[" * N + "]" * N + "}", "64 levels deep"),
    "a huge integer": (HEAD + "rules: []\nroutes:\n  r: {type: paid, term_days: 1, price: "
                       "{amount: " + "9" * 4000 + ", currency: usd}}\n", "beyond 64 bits"),
    "a huge JSON integer": (('{"policy": "p", "artist": "a", "applies_to": "artist", '
                             '"rules": [], "x": 99999999999999999999}'), "64 bits"),
    "duplicate JSON keys": (('{"policy": "p", "policy": "q", "artist": "a", '
                             '"applies_to": "artist", "rules": []}'), "duplicate key"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_policy_is_refused_in_well_under_a_second(name: str) -> None:
    """The refusal's own cost: this thread's CPU time, after a collection of what earlier
    tests in this process left (a wall clock also counted the other processes on a busy
    machine's cores, and a full collection of the test process's heap: 0.67 s once in
    CI for a refusal that takes 1 ms)."""
    text, message = HOSTILE[name]
    gc.collect()
    started = time.thread_time()
    report = validate(text, source_name="hostile.json" if text.startswith("{") else
                      "hostile.yaml")
    elapsed = time.thread_time() - started
    assert not report.ok
    assert message in report.errors[0].message, report.errors
    assert elapsed < 0.5, f"{name}: {elapsed:.2f} s"


def test_the_limits_are_the_callers() -> None:
    nested = HEAD + "rules: [{id: r, permit: [listen], to: [public]}]\n"
    assert validate(nested).ok  # 4 levels
    report = validate(nested, limits=InputLimits(max_bytes=10_000, max_depth=3))
    assert "nested more than 3 levels" in report.errors[0].message
    assert (report.errors[0].line, report.errors[0].column) == (4, 25)  # [listen]: the fourth level
    small = validate(nested, limits=InputLimits(max_bytes=40, max_depth=64))
    assert "larger than 40 bytes" in small.errors[0].message


def test_aliases_within_the_limit_are_read() -> None:
    text = HEAD + "rules:\n  - id: r\n    permit: &scopes [listen, preview]\n    to: any\n" \
        "  - id: s\n    permit: *scopes\n    to: [agent]\n"
    assert validate(text).ok, validate(text).errors
