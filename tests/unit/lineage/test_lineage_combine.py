"""How a derivative's decision combines with its ancestors' (``decisions.decide.combine``)."""

from __future__ import annotations

from casset_rights.decisions.decide import combine
from casset_rights.policy import Decision, LicenseRoute, Obligation, Reason

PERMIT = Decision(decision="permit", reasons=(Reason(policy="own", rule="ok", effect="permit"),),
                  obligations=(Obligation(type="attribute", text="Child by C"),
                               Obligation(type="register-derivative")))
ROUTE = LicenseRoute(name="up-license", policy="up", policy_hash="sha256:x", type="paid",
                     scopes=("remix",))
OWN_ROUTE = LicenseRoute(name="own-license", policy="own", policy_hash="sha256:y",
                         type="paid", scopes=("remix",))
UP_PERMIT = Decision(decision="permit", reasons=(Reason(policy="up", rule="fine",
                                                        effect="permit"),),
                     obligations=(Obligation(type="attribute", text="Parent by P"),
                                  Obligation(type="register-derivative")))
UP_ROUTE = Decision(decision="license_required",
                    reasons=(Reason(policy="up", rule="pay", effect="route"),),
                    license_routes=(ROUTE,))
UP_DENY = Decision(decision="deny", reasons=(Reason(policy="up", rule="no", effect="deny"),))


def test_all_permitting_unites_obligations_in_their_order() -> None:
    answer = combine(PERMIT, [("release:up", UP_PERMIT)])
    assert answer.decision == "permit"
    assert [(o.type, o.text) for o in answer.obligations] == [
        ("attribute", "Child by C"), ("attribute", "Parent by P"), ("register-derivative", None)]
    assert [r.rule for r in answer.reasons] == ["ok", "ancestor:release:up", "fine"]


def test_an_ancestor_needing_a_license_makes_the_derivative_need_it() -> None:
    answer = combine(PERMIT, [("release:up", UP_ROUTE)])
    assert answer.decision == "license_required"
    assert answer.license_routes == (ROUTE,) and answer.obligations == ()
    both = combine(Decision(decision="license_required", license_routes=(OWN_ROUTE,)),
                   [("release:up", UP_ROUTE), ("release:far", UP_ROUTE)])
    assert [r.name for r in both.license_routes] == ["own-license", "up-license"]


def test_any_ancestor_denying_denies_and_is_named() -> None:
    answer = combine(PERMIT, [("release:up", UP_ROUTE), ("hook:far/1/h", UP_DENY)])
    assert answer.decision == "deny"
    assert [r.rule for r in answer.reasons] == ["ancestor:hook:far/1/h", "no"]
