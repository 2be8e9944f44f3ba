"""Decisions read memory only, kept fresh across processes (SQLite and PostgreSQL).

Two service containers on one database stand for two API processes: each has its own
engine, rights index, held licenses and lineage graph. What one writes, the other's
decisions see within a second (SQLite: the generation check; PostgreSQL: the change
notifications). A decision, once warm, sends no SQL statement at all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, delete, event
from test_licenses_support import NIGHTGLASS, agent
from test_lineage import declare, owner_of

from casset_rights.config import settings_from_env
from casset_rights.db.engine import make_engine, search_path_of
from casset_rights.decisions.tables import CHANGE_CHANNEL
from casset_rights.licenses.held import HeldGrants, held_grant
from casset_rights.licenses.models import Grant, licensee_key
from casset_rights.licenses.tables import license_grants
from casset_rights.lineage import ParentLink
from casset_rights.lineage.tables import lineage_edges
from casset_rights.policy import build_request
from casset_rights.principal import Principal
from casset_rights.services import Services, open_services

MIDNIGHT = "release:midnight-tapes"
CHORUS = "hook:midnight-tapes/1/chorus"
INTRO = "hook:glass-hours/1/intro"
FUN = {"purpose": "non-commercial"}
MAKER = agent("maker")
WITHIN = 1.0  # seconds: how soon another process must see a write


def _same_database(engine: Engine) -> Engine:
    """A second engine on the fixture's database (another process would open its own)."""
    url = engine.url.render_as_string(hide_password=False)
    return make_engine(url, search_path=search_path_of(engine))


@pytest.fixture
def other(services: Services, tmp_path: Path) -> Iterator[Services]:
    """A second container on the same database, both watching for the other's writes."""
    settings = settings_from_env({}, data_dir=tmp_path / "other", load_examples=False,
                                 issuer="http://rights.test")
    second = open_services(settings, engine=_same_database(services.engine), migrate=False)
    second.index.refresh(force=True)
    for container in (services, second):
        container.index.start()
        assert container.index.listening(10.0)
    yield second
    for container in (services, second):
        container.index.stop()
    second.close()


def _seen_within(check: Callable[[], bool], seconds: float) -> float:
    """How long ``check`` took to become true; fails past ``seconds`` (with slack for
    a busy machine: the reload itself after the second of waiting)."""
    start = time.monotonic()
    while not check():
        elapsed = time.monotonic() - start
        assert elapsed < seconds + 0.5, f"not seen after {elapsed:.2f} s"
        time.sleep(0.01)
    return time.monotonic() - start


def test_a_grant_and_a_revocation_reach_the_other_process_within_a_second(
        services: Services, other: Services) -> None:
    caller = agent("bot-elsewhere")
    asked = build_request("ai-input", MIDNIGHT, principal=caller)

    def there() -> str:
        return other.decisions.decide_request(asked).decision.decision

    assert there() == "license_required"
    quote = services.licenses.quote(caller, resource=MIDNIGHT, route="grounding")
    grant = services.licenses.obtain(caller, quote.id).grant
    assert grant is not None
    _seen_within(lambda: there() == "permit", WITHIN)
    services.license_desk.revoke(NIGHTGLASS, grant.id, reason="ended")
    _seen_within(lambda: there() == "license_required", WITHIN)


def test_an_edge_added_and_one_withdrawn_reach_the_other_process_within_a_second(
        services: Services, other: Services) -> None:
    def there() -> str:
        return other.decisions.decide(principal=agent("someone"), action="sample",
                                      resource=INTRO, context=FUN).decision.decision

    assert there() == "permit"  # glass-hours is no derivative
    declare(services, MAKER, child=INTRO, parents=[
        ParentLink(resource=CHORUS, relationship="remix")], context=FUN)
    _seen_within(lambda: there() == "deny", WITHIN)  # the chorus may not be sampled
    services.lineage.withdraw(owner_of(services, INTRO), child=INTRO, parent=CHORUS,
                              relationship="remix", reason="not a remix after all")
    _seen_within(lambda: there() == "permit", WITHIN)  # a withdrawn edge no longer counts
    # However else an edge goes away (its row deleted), it leaves the ancestors too.
    declare(services, MAKER, child=INTRO, parents=[
        ParentLink(resource=CHORUS, relationship="stem")], context=FUN)
    _seen_within(lambda: there() == "deny", WITHIN)
    with services.engine.begin() as conn:
        conn.execute(delete(lineage_edges).where(lineage_edges.c.child == INTRO))
    _seen_within(lambda: there() == "permit", WITHIN)
    assert other.decisions.evaluate(build_request(
        "sample", INTRO, principal=agent("someone"), context=FUN))[0].reasons[0].rule \
        != f"ancestor:{CHORUS}"


def _obtain(services: Services, caller: Principal) -> Grant:
    """A grant, made in a millisecond of its own: grants are ordered by when they were
    made, to the millisecond, and a fast machine makes two in one."""
    quote = services.licenses.quote(caller, resource=MIDNIGHT, route="grounding")
    grant = services.licenses.obtain(caller, quote.id).grant
    assert grant is not None
    while time.time_ns() // 1_000_000 <= grant.granted_at_ms:
        time.sleep(0.0002)
    return grant


def test_a_changed_grant_is_read_alone(services: Services) -> None:
    """A change that names a grant (``"<licensee> <grant id>"``) reads that one row,
    however many grants the licensee holds, and keeps the licensee's grants of a
    resource in the order they were made; one whose row is gone is held no more."""
    caller = agent("bot-many")
    licensee = licensee_key(caller)
    made = [_obtain(services, caller) for _ in range(4)]
    held = HeldGrants(services.engine)  # another process's, started before the next
    held.reload()
    newest = _obtain(services, caller)
    with Statements(services.engine) as sent:
        held.reload_key("license_grants", f"{licensee} {newest.id}")
    reads = [s for s in sent if s.startswith("SELECT")]  # SQLite also sends BEGIN
    assert len(reads) == 1 and reads[0].split("WHERE ")[1].startswith("license_grants.id =")
    assert [g.id for g in held.held_by(caller)[MIDNIGHT]] == [g.id for g in [*made, newest]]
    services.license_desk.revoke(NIGHTGLASS, made[1].id, reason="ended")
    held.reload_key("license_grants", f"{licensee} {made[1].id}")
    after = held.held_by(caller)[MIDNIGHT]
    assert [g.id for g in after] == [g.id for g in [*made, newest]]
    assert [g.revoked_at_ms is not None for g in after] == [False, True, False, False, False]
    # A licensee alone still reads all of its grants.
    fresh = HeldGrants(services.engine)
    fresh.reload_key("license_grants", str(licensee))
    assert fresh.held_by(caller) == held.held_by(caller)
    with services.engine.begin() as conn:
        conn.execute(delete(license_grants).where(license_grants.c.id == made[0].id))
    held.reload_key("license_grants", f"{licensee} {made[0].id}")
    assert [g.id for g in held.held_by(caller)[MIDNIGHT]] == [g.id for g in [*made[1:], newest]]


def test_a_grant_notification_carries_the_grant(services: Services) -> None:
    """On PostgreSQL a grant's notification carries its state and the columns a decision
    needs: a process holds the grant from it with no read, and one already holding it in
    that state (the process that wrote it) does nothing."""
    if services.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no notifications (the processes compare generations)")
    caller = agent("bot-notified")
    url = services.engine.url.set(drivername="postgresql").render_as_string(
        hide_password=False)
    held = HeldGrants(services.engine)
    held.reload()
    with psycopg.connect(url, autocommit=True) as listening:
        listening.execute(f"LISTEN {CHANGE_CHANNEL}")
        grant = _obtain(services, caller)
        services.license_desk.revoke(NIGHTGLASS, grant.id, reason="ended")
        # The channel is the database's: other schemas' writes (other tests) are heard
        # too, and skipped.
        ours = f"{search_path_of(services.engine)} license_grants "
        heard: list[str] = []
        deadline = time.monotonic() + 10
        while len(heard) < 2 and time.monotonic() < deadline:
            heard += [n.payload for n in listening.notifies(timeout=1)
                      if n.payload.startswith(ours)]
    assert len(heard) == 2, heard
    _, table, key = heard[0].split(" ", 2)
    assert key.startswith(f"{licensee_key(caller)} {grant.id}  ")  # not revoked, no expiry
    with Statements(services.engine) as sent:
        held.reload_key(table, key)
        made = held.held_by(caller)[MIDNIGHT]
        held.reload_key(table, heard[1].split(" ", 2)[2])
        revoked = held.held_by(caller)[MIDNIGHT]
        held.reload_key(table, heard[1].split(" ", 2)[2])  # a repeat
    assert sent == []
    stored = HeldGrants(services.engine)
    stored.reload()
    assert revoked == stored.held_by(caller)[MIDNIGHT]
    assert [(g.id, g.revoked_at_ms) for g in made] == [(grant.id, None)]
    assert revoked[0].revoked_at_ms is not None
    assert made[0].scopes == revoked[0].scopes and made[0].policy == revoked[0].policy


def test_the_writer_holds_its_grant_without_a_read(services: Services) -> None:
    caller = agent("bot-writer")
    _obtain(services, caller)  # the licensee known
    quote = services.licenses.quote(caller, resource=MIDNIGHT, route="grounding")
    with Statements(services.engine) as sent:
        grant = services.licenses.obtain(caller, quote.id).grant
    assert grant is not None
    assert not [s for s in sent if s.startswith("SELECT license_grants")]
    asked = build_request("ai-input", MIDNIGHT, principal=caller)
    answer = services.decisions.decide_request(asked).decision
    assert answer.decision == "permit"


def test_a_grant_held_already_is_not_read_again_and_a_change_is(services: Services) -> None:
    """The writer's hold after its own notification came first costs nothing; a change to
    a held grant (a revocation) is read back from the database, not taken from the
    writer's copy."""
    caller = agent("bot-raced")
    grant = _obtain(services, caller)
    held = HeldGrants(services.engine)
    held.reload()  # as if the notification had come first
    with Statements(services.engine) as sent:
        held.hold(str(licensee_key(caller)), held_grant(grant))
    assert sent == []
    revoked = services.license_desk.revoke(NIGHTGLASS, grant.id, reason="ended")
    with Statements(services.engine) as sent:
        held.hold(str(licensee_key(caller)), held_grant(revoked))
    assert [s for s in sent if s.startswith("SELECT license_grants")]
    assert held.held_by(caller)[MIDNIGHT][0].revoked_at_ms == revoked.revoked_at_ms


class Statements:
    """The SQL statements this thread sends on ``engine`` while counting (background
    threads, such as a watch thread, are not this thread)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sent: list[str] = []
        self._thread = threading.get_ident()

    def _count(self, _conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if threading.get_ident() == self._thread:
            self.sent.append(statement)

    def __enter__(self) -> list[str]:
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self.sent

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)


def test_catalog_reads_come_from_memory_once_read(services: Services) -> None:
    view = services.catalog_view
    reads = [lambda: view.head("midnight-tapes"), lambda: view.version("midnight-tapes", 1),
             lambda: view.history("midnight-tapes"), lambda: view.track("midnight-tapes", "1"),
             lambda: view.hook("midnight-tapes", "1", "chorus")]
    first = [read() for read in reads]
    with Statements(services.engine) as sent:
        again = [read() for read in reads]
    assert sent == [] and again == first
    with Statements(services.engine) as sent:
        services.catalog.head("midnight-tapes")
    assert sent  # the counter counts


def test_a_warm_decision_sends_no_sql(services: Services) -> None:
    """A licensee holding a grant, and a derivative with ancestors: after the first
    decisions (warm-up), deciding sends no statement to the database."""
    bot = agent("bot-warm")
    quote = services.licenses.quote(bot, resource=MIDNIGHT, route="grounding")
    grant = services.licenses.obtain(bot, quote.id).grant
    assert grant is not None
    declare(services, MAKER, child=INTRO, parents=[
        ParentLink(resource=CHORUS, relationship="remix")], context=FUN)
    asks = [build_request("ai-input", CHORUS, principal=bot),
            build_request("sample", INTRO, principal=agent("someone"), context=FUN),
            build_request("sample", INTRO, principal=bot, context=FUN)]
    for asked in asks:  # warm-up
        services.decisions.decide_request(asked)
    with Statements(services.engine) as statements:
        answers = [services.decisions.decide_request(asked).decision
                   for asked in asks]
        grid = services.decisions.grid(principal=bot, resource=INTRO, context=FUN)
    assert statements == []
    assert answers[0].decision == "permit" and answers[0].reasons[0].rule == f"grant:{grant.id}"
    assert answers[1].decision == "deny"
    assert answers[1].reasons[0].rule == f"ancestor:{CHORUS}"
    assert grid.decisions["sample"].decision == "deny"
