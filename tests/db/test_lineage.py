"""The lineage graph on SQLite and PostgreSQL: registering, walking, splitting, deciding.

The maker (an agent) holds the licenses; it proposes each edge and the child's artist
accepts (``declare``), which is how an edge resting on someone else's license is made."""

from __future__ import annotations

from typing import Any

import pytest
from test_licenses_support import FERRYMEN, MARA, agent, paid_license

from casset_rights.errors import Forbidden, Unauthenticated
from casset_rights.lineage import ParentLink, Registration
from casset_rights.lineage.errors import (
    GrantDoesNotCover,
    GrantRequired,
    LineageCycle,
    RevenueShareExceeded,
    UnknownParent,
)
from casset_rights.lineage.models import Relationship
from casset_rights.principal import PUBLIC, Principal
from casset_rights.services import Services

MAKER = agent("maker")
OUTRO = "hook:midnight-tapes/2/outro"
CHORUS = "hook:midnight-tapes/1/chorus"
COMMERCIAL = {"purpose": "commercial"}


def owner_of(services: Services, child: str) -> Principal:
    """The artist principal of the child's owner (its own client)."""
    artist = services.lineage.child_of(child)[1]
    return Principal(kind="artist", client_id=f"{artist}-app", subject=artist)


def declare(services: Services, proposer: Principal, *, child: str,
            parents: list[ParentLink], context: dict[str, Any] | None = None) -> Registration:
    """``proposer`` proposes the edges, the child's artist accepts them."""
    proposal = services.lineage_proposals.propose(proposer, child=child, parents=parents,
                                                  context=context)
    _, registration = services.lineage_proposals.accept(owner_of(services, child),
                                                        proposal.id)
    return registration


def link(resource: str, relationship: Relationship = "remix",
         grant: str | None = None) -> ParentLink:
    return ParentLink(resource=resource, relationship=relationship, grant=grant)


def _chain(services: Services) -> tuple[Any, Any, Any, Any]:
    """salt-and-static (Mara Quell) remixes river-engine (The Ferrymen), which remixes
    the outro of Midnight Tapes (Nightglass); both under paid licenses (10%, 15%)."""
    g1 = paid_license(services, MAKER, resource=OUTRO, route="remix-license", context=COMMERCIAL)
    first = declare(services, MAKER, child="release:river-engine",
                                      parents=[link(OUTRO, grant=g1.id)], context=COMMERCIAL)
    g2 = paid_license(services, MAKER, resource="release:river-engine",
                      route="derivative-license", context=COMMERCIAL)
    second = declare(services, MAKER, child="release:salt-and-static",
                                       parents=[link("release:river-engine", grant=g2.id)],
                                       context=COMMERCIAL)
    return g1, g2, first, second


def test_registering_records_edges_with_the_license_and_its_share(services: Services) -> None:
    g1, _, first, second = _chain(services)
    edge = first.edges[0]
    assert first.created == (True,) and edge.grant_id == g1.id
    assert edge.revenue_share_ppm == 100_000 and edge.parent_artist == "nightglass"
    assert edge.child_artist == "the-ferrymen"
    receipt = services.receipts.get(first.receipt_id)
    assert receipt.kind == "derivative" and receipt.payload["edges"][0]["grant"] == g1.id
    assert second.edges[0].revenue_share_ppm == 150_000


def test_the_same_edge_twice_changes_nothing(services: Services) -> None:
    g1, _, first, _ = _chain(services)
    # The owner declaring an edge in force again changes nothing (no permission asked).
    again = services.lineage.register(FERRYMEN, child="release:river-engine",
                                      parents=[link(OUTRO, grant=g1.id)], context=COMMERCIAL)
    assert again.created == (False,) and again.receipt_id is None
    assert again.edges == first.edges


def test_ancestors_attribution_and_the_royalty_split(services: Services) -> None:
    _, g2, _, _ = _chain(services)
    view = services.lineage.lineage("release:salt-and-static", revenue=10_000, currency="usd")
    assert [(n.resource, n.depth) for n in view.nodes] == [
        ("release:salt-and-static", 0), ("release:river-engine", 1), (OUTRO, 2)]
    assert [(e.child, e.parent, e.depth) for e in view.edges] == [
        ("release:salt-and-static", "release:river-engine", 1),
        ("release:river-engine", OUTRO, 2)]
    assert view.attribution[0].startswith(
        "\u201cSalt and Static\u201d (release:salt-and-static) by Mara Quell remixes "
        "\u201cRiver Engine\u201d (release:river-engine) by The Ferrymen")
    assert f"under license {g2.id}" in view.attribution[0]
    assert "by Nightglass" in view.attribution[1]
    shares = {s.artist: s.amount for s in view.royalties.shares}  # type: ignore[union-attr]
    assert shares == {"mara-quell": 8500, "the-ferrymen": 1350, "nightglass": 150}
    assert sum(shares.values()) == 10_000
    odd = services.lineage.lineage("release:salt-and-static", revenue=9_999)
    assert sum(s.amount for s in odd.royalties.shares) == 9_999  # type: ignore[union-attr]
    shallow = services.lineage.lineage("release:salt-and-static", depth=1)
    assert [e.parent for e in shallow.edges] == ["release:river-engine"]


def test_descendants_follow_containment_down(services: Services) -> None:
    _chain(services)
    view = services.lineage.lineage("release:midnight-tapes", direction="descendants")
    assert {(n.resource, n.depth) for n in view.nodes} >= {
        ("release:river-engine", 1), ("release:salt-and-static", 2)}
    track = services.lineage.lineage("track:midnight-tapes/1", direction="descendants")
    assert track.edges == ()
    hook = services.lineage.lineage(OUTRO, direction="descendants")
    assert [e.child for e in hook.edges] == ["release:river-engine", "release:salt-and-static"]
    # A track of a derivative release has the release's ancestors.
    up = services.lineage.lineage("track:salt-and-static/1")
    assert [e.parent for e in up.edges] == ["release:river-engine", OUTRO]


def test_cycles_are_refused(services: Services) -> None:
    _chain(services)
    lineage = services.lineage
    # The Ferrymen's river-engine cannot derive from its own descendant (refused as a
    # cycle before any permission is looked at).
    with pytest.raises(LineageCycle, match="close a cycle"):
        lineage.register(FERRYMEN, child="release:river-engine",
                         parents=[link("release:salt-and-static")])
    with pytest.raises(LineageCycle, match="same release"):
        declare(services, MAKER, child="track:midnight-tapes/2", parents=[link(OUTRO)])


def test_a_cycle_through_containment_is_refused(services: Services) -> None:
    """glass-hours/1/intro remixes the outro of midnight-tapes (free, non-commercial);
    midnight-tapes as a whole contains the outro, so it cannot remix the intro; another
    hook of midnight-tapes can."""
    fun = {"purpose": "non-commercial"}
    declare(services, MAKER, child="hook:glass-hours/1/intro", parents=[link(OUTRO)],
                     context=fun)
    with pytest.raises(LineageCycle, match="close a cycle"):
        declare(services, MAKER, child="release:midnight-tapes",
                         parents=[link("hook:glass-hours/1/intro")], context=fun)
    with pytest.raises(LineageCycle, match="close a cycle"):
        declare(services, MAKER, child=OUTRO, parents=[link("hook:glass-hours/1/intro")],
                         context=fun)
    done = declare(services, MAKER, child=CHORUS, parents=[link("hook:glass-hours/1/intro")],
                            context=fun)
    assert done.created == (True,)


def test_refusals_are_clear(services: Services) -> None:
    lineage = services.lineage
    with pytest.raises(Unauthenticated):
        lineage.register(PUBLIC, child="release:river-engine", parents=[link(OUTRO)])
    with pytest.raises(UnknownParent) as unknown:
        declare(services, MAKER, child="release:river-engine",
                         parents=[link(OUTRO), link("release:no-such-release")])
    assert unknown.value.errors[0].pointer == "/parents/1/resource"
    with pytest.raises(GrantRequired, match="name the license"):
        declare(services, MAKER, child="release:river-engine", parents=[link(OUTRO)],
                         context=COMMERCIAL)
    g1 = paid_license(services, MAKER, resource=OUTRO, route="remix-license", context=COMMERCIAL)
    with pytest.raises(GrantDoesNotCover, match="this use needs sync"):
        declare(services, MAKER, child="release:river-engine",
                         parents=[link(OUTRO, "sync", grant=g1.id)], context=COMMERCIAL)
    with pytest.raises(GrantDoesNotCover, match="you hold no license"):
        declare(services, agent("someone-else"), child="release:river-engine",
                         parents=[link(OUTRO, grant=g1.id)], context=COMMERCIAL)
    with pytest.raises(Forbidden):  # an artist registers only its own works
        lineage.register(MARA, child="release:river-engine", parents=[link(OUTRO)])


def test_a_held_license_is_found_without_being_named(services: Services) -> None:
    g1 = paid_license(services, MAKER, resource=OUTRO, route="remix-license", context=COMMERCIAL)
    done = declare(services, MAKER, child="release:river-engine",
                                     parents=[link(OUTRO)], context=COMMERCIAL)
    assert done.edges[0].grant_id == g1.id and done.edges[0].revenue_share_ppm == 100_000


def test_parents_cannot_take_more_than_all_the_revenue(services: Services) -> None:
    from casset_rights.lineage import graph
    from casset_rights.lineage.royalties import ppm_of_percent

    assert ppm_of_percent(12.5) == 125_000
    g1 = paid_license(services, MAKER, resource=OUTRO, route="remix-license", context=COMMERCIAL)
    declare(services, MAKER, child="release:river-engine",
                              parents=[link(OUTRO, grant=g1.id)], context=COMMERCIAL)
    with services.engine.begin() as conn:  # an edge taking 95% is already stored
        conn.execute(graph.lineage_edges.update().values(revenue_share_ppm=950_000))
    g2 = paid_license(services, MAKER, resource="hook:glass-hours/2/drop",
                      route="remix-license", context=COMMERCIAL)
    with pytest.raises(RevenueShareExceeded, match="105%"):
        declare(services, MAKER, child="track:river-engine/1",
                                  parents=[link("hook:glass-hours/2/drop", grant=g2.id)],
                                  context=COMMERCIAL)


def test_decisions_on_a_derivative_ask_every_ancestor(services: Services) -> None:
    fun = {"purpose": "non-commercial"}
    declare(services, MAKER, child="hook:glass-hours/1/intro",
                              parents=[link(CHORUS)], context=fun)
    someone = agent("someone")
    # The intro's own policy permits a fun sample; the chorus upstream denies sampling.
    sample = services.decisions.decide(principal=someone, action="sample",
                                       resource="hook:glass-hours/1/intro", context=fun).decision
    assert sample.decision == "deny"
    assert [r.rule for r in sample.reasons] == [f"ancestor:{CHORUS}", "guest-vocal-not-sampled"]
    # A remix for fun is free on both: permit, with both attributions.
    remix = services.decisions.decide(principal=someone, action="remix",
                                      resource="hook:glass-hours/1/intro", context=fun).decision
    assert remix.decision == "permit"
    texts = [o.text for o in remix.obligations if o.type == "attribute"]
    assert len(texts) == 2 and any("Midnight Tapes" in (t or "") for t in texts)
    assert f"ancestor:{CHORUS}" in [r.rule for r in remix.reasons]
    # Scopes that do not travel are the resource's own business.
    preview = services.decisions.decide(principal=someone, action="preview",
                                        resource="hook:glass-hours/1/intro").decision
    assert [r.rule for r in preview.reasons] == ["reference-and-preview"]


def test_an_ancestor_needing_a_license_adds_its_routes(services: Services) -> None:
    g1 = paid_license(services, MAKER, resource=OUTRO, route="remix-license", context=COMMERCIAL)
    declare(services, MAKER, child="release:river-engine",
                              parents=[link(OUTRO, grant=g1.id)], context=COMMERCIAL)
    station = agent("station")
    answer = services.decisions.decide(principal=station, action="remix",
                                       resource="track:river-engine/1",
                                       context=COMMERCIAL).decision
    assert answer.decision == "license_required"
    assert {r.name for r in answer.license_routes} == {"derivative-license", "remix-license"}
    assert f"ancestor:{OUTRO}" in [r.rule for r in answer.reasons]
    # The maker holds the upstream license: only its own route is left to obtain.
    mine = services.decisions.decide(principal=MAKER, action="remix",
                                     resource="track:river-engine/1", context=COMMERCIAL).decision
    assert [r.name for r in mine.license_routes] == ["derivative-license"]


def test_a_new_derivative_counts_here_at_once(services: Services) -> None:
    fun = {"purpose": "non-commercial"}
    someone = agent("someone")
    intro = "hook:glass-hours/1/intro"

    def sample() -> str:
        return services.decisions.decide(principal=someone, action="sample", resource=intro,
                                         context=fun).decision.decision

    assert sample() == "permit"  # glass-hours has no edges
    declare(services, MAKER, child=intro, parents=[link(CHORUS)], context=fun)
    assert sample() == "deny"  # the chorus may not be sampled by an agent
