"""The agent-facing exports say what the engine says, for every shipped policy.

Each export is read back with an independent parser (lxml and the RSL grammar, the
``http_sf`` RFC 9651 parser, the ``pyld`` JSON-LD processor) and compared, resource by
resource and scope by scope, with ``authorize`` on the same compiled chain. What an
export cannot state must be named in its ``unexpressed`` notes.
"""

from __future__ import annotations

from importlib import resources as package_files
from typing import Any

import http_sf
import pytest
from lxml import etree
from pyld import jsonld

from casset_rights.agents import aipref, odrl, rsl
from casset_rights.agents.terms import AUDIENCES, PURPOSE_CASES, ResourceTerms, resource_path
from casset_rights.policy import SCOPES, authorize, parse_context
from casset_rights.policy.request import Request
from casset_rights.principal import Principal
from casset_rights.resources import ResourceRef, parse_resource

BASE = "http://rights.test"
R = f"{{{rsl.RSL_NS}}}"
M = f"{{{rsl.MUSIC_NS}}}"
# RSL usage token -> our scope (inverse of rsl.RSL_TOKENS).
TOKEN_SCOPE = {"ai-train": "ai-train", "ai-input": "ai-input", "ai-index": "ai-input",
               "search": "reference"}


@pytest.fixture(scope="module")
def grammar() -> etree.RelaxNG:
    text = package_files.files("casset_rights.agents").joinpath("rsl.rng").read_bytes()
    return etree.RelaxNG(etree.fromstring(text))


def _all_terms(services: Any) -> list[ResourceTerms]:
    terms = services.agents.all_terms()
    assert len(terms) > 20  # every release, track and hook of the example catalog
    return terms


def _scopes_of(license_: etree._Element) -> set[str]:
    out: set[str] = set()
    for permits in license_.findall(f"{R}permits[@type='usage']"):
        out.update(TOKEN_SCOPE[t] for t in rsl.expand_tokens(permits.text))
    for permits in license_.findall(f"{M}permits[@type='usage']"):
        out.update(permits.text.split(","))
    return out


def test_rsl_documents_are_valid_against_the_grammar(client, grammar) -> None:
    for path in ("/rsl.xml", "/artists/nightglass/rsl.xml", "/r/midnight-tapes/rsl.xml",
                 "/artists/mara-quell/rsl.xml"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/rsl+xml"
        document = etree.fromstring(response.content)
        assert grammar.validate(document), (path, grammar.error_log)


def test_the_grammar_refuses_what_rsl_does_not_allow(grammar) -> None:
    bad = [
        b'<rsl xmlns="https://rslstandard.org/rsl"/>',  # no content
        b'<rsl xmlns="https://rslstandard.org/rsl"><content url="/"><license>'
        b'<permits type="usage">remix</permits></license></content></rsl>',  # not a token
        b'<rsl xmlns="https://rslstandard.org/rsl"><content url="/"><license>'
        b'<payment type="purchase"><amount currency="usd">1</amount></payment>'
        b'</license></content></rsl>',  # currency code
        b'<rsl xmlns="https://rslstandard.org/rsl"><content><license/></content></rsl>',
    ]
    for text in bad:
        assert not grammar.validate(etree.fromstring(text)), text


def test_rsl_says_what_the_engine_says_for_agents(services) -> None:
    terms_by_url = {BASE + resource_path(t.ref): t for t in _all_terms(services)}
    document = services.agents.rsl()
    root = etree.fromstring(document.xml)
    contents = root.findall(f"{R}content")
    assert {c.get("url") for c in contents} == set(terms_by_url)
    for content in contents:
        terms = terms_by_url[content.get("url")]
        assert content.get("server") == f"{BASE}/olp"
        assert content.findtext(f"{R}terms") == f"{BASE}/r/{terms.release.release_id}"
        licenses = content.findall(f"{R}license")
        open_license, *others = licenses
        free = _scopes_of(open_license)
        assert free == {s for s in SCOPES if terms.value(s) == "permit"}, terms.ref
        for token in rsl.expand_tokens(open_license.findtext(f"{R}prohibits[@type='usage']")
                                       or ""):
            assert terms.value(TOKEN_SCOPE[token]) != "permit"
        offered: set[tuple[str, str, str | None]] = set()
        for license_ in others:
            user = license_.findtext(f"{R}permits[@type='user']")
            route = license_.get(f"{M}route")
            payment = license_.find(f"{R}payment")
            for scope in _scopes_of(license_):
                decision = terms.decision(scope, purpose=user)
                if route is None:
                    assert decision.decision == "permit" and scope not in free
                    continue
                assert decision.decision == "license_required", (terms.ref, scope, user)
                found = {r.name: r for r in decision.license_routes}
                assert route in found
                offered.add((scope, route, user))
                price = found[route].price
                if price is not None:
                    assert payment.get("type") == "purchase"
                    amount = payment.find(f"{R}amount")
                    assert amount.get("currency") == price.currency.upper()
                    assert round(float(amount.text) * 100) == price.amount
        # Every route the engine offers an agent is in the document.
        for scope in SCOPES:
            for purpose in PURPOSE_CASES:
                decision = terms.decision(scope, purpose=purpose)
                if decision.decision != "license_required":
                    continue
                for route in decision.license_routes:
                    assert ((scope, route.name, purpose) in offered
                            or (scope, route.name, None) in offered), (terms.ref, scope, route)


def test_rsl_names_what_it_cannot_state(services) -> None:
    document = services.agents.rsl()
    notes = "\n".join(document.unexpressed)
    for terms in _all_terms(services):
        for scope in SCOPES:
            for audience in AUDIENCES:
                for purpose in PURPOSE_CASES:
                    if terms.value(scope, audience, purpose) != terms.value(scope, "agent",
                                                                            purpose):
                        assert f"{terms.ref.id}: {scope} for {audience}" in notes
        for note in terms.conditions_beyond():
            assert f"{terms.ref.id}: {note}" in notes
    # The shipped policies do have such terms: the export is not silently complete.
    assert "depends on the excerpt length" in notes
    assert "RSL states the terms of automated clients only" in notes


def test_every_category_of_the_vocabulary_is_stated() -> None:
    # draft-ietf-aipref-vocab-08, section 5.1 (labels): AI Training, AI Use, Search.
    assert list(aipref.LABELS) == ["train-ai", "ai-use", "search"]
    assert set(aipref.LABELS.values()) <= set(SCOPES)


def test_content_usage_headers_parse_and_match_the_engine(client, services) -> None:
    for terms in _all_terms(services):
        path = resource_path(terms.ref)
        response = client.get(path)
        assert response.status_code == 200, path
        parsed = http_sf.parse(response.headers["content-usage"].encode(), tltype="dictionary")
        assert set(parsed) == set(aipref.LABELS)
        for label, scope in aipref.LABELS.items():
            value, params = parsed[label]
            assert params == {}
            assert str(value) == ("y" if terms.value(scope) == "permit" else "n"), (path, label)
        assert f'<{BASE}/r/{terms.ref.release_id}>; rel="license"' in response.headers["link"]
        assert response.headers["tdm-reservation"] == str(int(odrl.tdm_reserved(terms)))


def test_robots_txt_carries_the_same_preferences_and_the_rsl_license(client, services) -> None:
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    rules: dict[str, str] = {}
    license_lines = []
    for line in response.text.splitlines():
        if line.startswith("Content-Usage:"):
            path, _, value = line.removeprefix("Content-Usage:").strip().partition(" ")
            rules[path] = value
        elif line.startswith("License:"):
            license_lines.append(line.removeprefix("License:").strip())
    assert license_lines == [f"{BASE}/rsl.xml"]
    for terms in _all_terms(services):
        value = rules[resource_path(terms.ref) + "$"]
        parsed = http_sf.parse(value.encode(), tltype="dictionary")
        assert {k: str(v[0]) for k, v in parsed.items()} == {
            label: "y" if allowed else "n"
            for label, allowed in aipref.preferences(terms).items()}


def test_a_missing_resource_gets_a_problem_and_no_terms_headers(client) -> None:
    response = client.get("/v1/hooks/midnight-tapes/1/nope")
    assert response.status_code == 404
    assert "content-usage" not in response.headers
    assert client.get("/r/nope/rsl.xml").status_code == 404
    assert client.get("/artists/nobody/rsl.xml").status_code == 404
    problem = client.get("/odrl/policies/nope")
    assert problem.status_code == 404
    assert problem.headers["content-type"] == "application/problem+json"


def test_tdmrep_rules_and_policies(client, services) -> None:
    rules = {r["location"]: r for r in client.get("/.well-known/tdmrep.json").json()}
    for terms in _all_terms(services):
        rule = rules[resource_path(terms.ref)]
        assert rule["tdm-reservation"] == int(odrl.tdm_reserved(terms))
        if "tdm-policy" not in rule:
            continue
        policy = client.get(rule["tdm-policy"].removeprefix(BASE))
        assert policy.status_code == 200
        assert policy.headers["content-type"] == "application/ld+json"
        expanded = jsonld.expand(policy.json())
        (offer,) = expanded
        assert offer["@type"] == [odrl.ODRL + "Offer"]
        assert offer[odrl.ODRL + "profile"] == [{"@id": "http://www.w3.org/ns/tdmrep"}]
        for permission in offer[odrl.ODRL + "permission"]:
            assert permission[odrl.ODRL + "action"] == [{"@id": odrl.TDM + "mine"}]
            (constraint,) = permission[odrl.ODRL + "constraint"]
            scope = constraint[odrl.ODRL + "rightOperand"][0]["@id"].removeprefix(odrl.PROFILE)
            assert terms.value(scope) == "license_required"


def _principal(assignees: list[dict[str, Any]]) -> Principal:
    if not assignees:
        return Principal(kind="agent")
    uid = assignees[0]["@id"].removeprefix(odrl.PROFILE)
    if uid.startswith("client-"):
        return Principal(kind="partner", client_id=uid.removeprefix("client-"))
    kind = uid.removeprefix("party-")
    attributes = {}
    for refinement in assignees[0].get(odrl.ODRL + "refinement", []):
        name = refinement[odrl.ODRL + "leftOperand"][0]["@id"].removeprefix(
            odrl.PROFILE + "attribute-")
        attributes[name] = refinement[odrl.ODRL + "rightOperand"][0]["@value"]
    return Principal(kind="agent" if kind == "any" else kind,  # type: ignore[arg-type]
                     subject=None, attributes=attributes)


def _request_for(rule: dict[str, Any], *, resource: ResourceRef, release: Any) -> Request:
    """A request that satisfies the rule's constraints (what the ODRL says it covers)."""
    context: dict[str, Any] = {}
    kind = None
    for constraint in rule.get(odrl.ODRL + "constraint", []):
        operand = constraint[odrl.ODRL + "leftOperand"][0]["@id"]
        operator = constraint[odrl.ODRL + "operator"][0]["@id"].removeprefix(odrl.ODRL)
        values = constraint[odrl.ODRL + "rightOperand"]
        first = values[0].get("@value", values[0].get("@id"))
        if operand == odrl.ODRL + "purpose":
            context["purpose"] = first.removeprefix(odrl.PROFILE + "purpose-")
        elif operand == odrl.ODRL + "spatial":
            context["territory"] = first if operator == "isAnyOf" else "AQ"
        elif operand == odrl.PROFILE + "excerptSeconds":
            context["excerpt_seconds"] = first
        elif operand == odrl.ODRL + "dateTime":
            context["at"] = first
        elif operand == odrl.PROFILE + "resourceKind":
            kind = first
    if kind == "hook" and resource.kind != "hook":
        resource = parse_resource(f"hook:{min(release.hooks)}")
    elif kind == "track" and resource.kind == "release":
        resource = parse_resource(f"track:{min(release.tracks)}")
    elif kind == "release":
        resource = ResourceRef("release", resource.release_id)
    return Request(action="", resource=resource, principal=_principal(
        rule.get(odrl.ODRL + "assignee", [])), context=parse_context(context))


def test_every_policy_exports_as_an_odrl_offer_that_agrees_with_the_engine(client,
                                                                         services) -> None:
    import msgspec

    policies = services.index.all_policies()
    assert {p.id for p in policies} >= {"nightglass-default", "nightglass-midnight-tapes",
                                        "mara-quell-default"}
    for policy in policies:
        response = client.get(f"/odrl/policies/{policy.id}")
        assert response.status_code == 200
        (offer,) = jsonld.expand(response.json())
        assert offer["@type"] == [odrl.ODRL + "Offer"]
        assert offer[odrl.ODRL + "conflict"] == [{"@id": odrl.ODRL + "prohibit"}]
        permissions = offer.get(odrl.ODRL + "permission", [])
        prohibitions = offer.get(odrl.ODRL + "prohibition", [])
        assert len(permissions) == sum(len(r.scopes) for r in policy.policy.rules
                                       if r.effect != "deny")
        assert len(prohibitions) == sum(len(r.scopes) for r in policy.policy.rules
                                        if r.effect == "deny")
        release = next(r for r in services.index.all_releases()
                       if r.artist_id == policy.artist and (
                           policy.target is None or r.release_id == policy.target.release_id))
        resource = policy.target or ResourceRef("release", release.release_id)
        denied = {p[odrl.ODRL + "action"][0]["@id"] for p in prohibitions}
        permitted = {p[odrl.ODRL + "action"][0]["@id"] for p in permissions
                     if not _route_permission(p)}
        for rules, expected in ((permissions, None), (prohibitions, "deny")):
            for rule in rules:
                action = rule[odrl.ODRL + "action"][0]["@id"]
                request = msgspec.structs.replace(
                    _request_for(rule, resource=resource, release=release),
                    action=action.removeprefix(odrl.PROFILE))
                got = authorize((policy,), request).decision
                want = expected or ("license_required" if _route_permission(rule)
                                    else "permit")
                allowed = {want}
                if action in denied:
                    allowed.add("deny")  # conflict: prohibit (a deny wins)
                if want == "license_required" and action in permitted:
                    allowed.add("permit")  # a permit of the same level comes first
                assert got in allowed, (policy.id, rule["@id"], got, want)


def _route_permission(rule: dict[str, Any]) -> bool:
    return any(duty[odrl.ODRL + "action"] == [{"@id": odrl.PROFILE + "obtainLicense"}]
               for duty in rule.get(odrl.ODRL + "duty", []))


def test_the_purpose_cases_cover_every_purpose_a_policy_can_name() -> None:
    from casset_rights.policy import PURPOSES
    assert set(PURPOSE_CASES) == {None, *PURPOSES}
    assert Principal(kind="agent").kind in AUDIENCES
