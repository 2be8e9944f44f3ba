"""ODRL 2.2 ``Offer`` policies (JSON-LD) and W3C TDMRep, from the compiled policies.

``policy_offer`` turns one artist policy into an Offer: each permit rule a permission,
each deny rule a prohibition, each route rule a permission whose duties say how to
obtain it (``compensate`` with a ``payAmount`` for a paid route, ``obtainConsent`` for
one granted on request), each after ``music:obtainLicense`` naming the route;
obligations as duties (``attribute``, ``inform`` for report-use, and this profile's
``linkBack`` / ``registerDerivative``), ``when`` conditions as constraints (``purpose``,
``spatial``, ``dateTime`` and the profile's ``excerptSeconds``), the audience as the
assignee (a party collection per principal kind). ``conflict: prohibit`` states the
engine's rule that a deny wins. Actions are this profile's terms, one per scope.

The JSON-LD context is inline (the ODRL terms used, mapped to the ODRL vocabulary IRIs),
so the document expands offline; ``tdm_offer`` follows the TDMRep ODRL profile
(``tdm:mine``) for the mining a license route opens.
"""

from __future__ import annotations

from typing import Any

from casset_rights.agents.terms import ResourceTerms, deed_path, resource_path
from casset_rights.policy import CompiledPolicy, LicenseRoute, Rule
from casset_rights.policy.model import Conditions

ODRL = "http://www.w3.org/ns/odrl/2/"
PROFILE = "https://casset.example/ns/odrl-music/1#"
TDM = "http://www.w3.org/ns/tdmrep#"
MEDIA_TYPE = "application/ld+json"

CONTEXT: dict[str, Any] = {
    "odrl": ODRL, "music": PROFILE, "tdm": TDM,
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "uid": "@id", "type": "@type",
    "Offer": "odrl:Offer", "Party": "odrl:Party", "PartyCollection": "odrl:PartyCollection",
    "Asset": "odrl:Asset", "AssetCollection": "odrl:AssetCollection",
    "profile": {"@type": "@id", "@id": "odrl:profile"},
    "conflict": {"@type": "@vocab", "@id": "odrl:conflict"},
    "prohibit": "odrl:prohibit",
    "assigner": {"@type": "@id", "@id": "odrl:assigner"},
    "assignee": {"@type": "@id", "@id": "odrl:assignee"},
    "target": {"@type": "@id", "@id": "odrl:target"},
    "permission": {"@type": "@id", "@id": "odrl:permission"},
    "prohibition": {"@type": "@id", "@id": "odrl:prohibition"},
    "duty": {"@type": "@id", "@id": "odrl:duty"},
    "action": {"@type": "@vocab", "@id": "odrl:action"},
    "constraint": {"@type": "@id", "@id": "odrl:constraint"},
    "refinement": {"@type": "@id", "@id": "odrl:refinement"},
    "leftOperand": {"@type": "@vocab", "@id": "odrl:leftOperand"},
    "operator": {"@type": "@vocab", "@id": "odrl:operator"},
    "rightOperand": "odrl:rightOperand",
    "unit": {"@type": "@id", "@id": "odrl:unit"},
    "attribute": "odrl:attribute", "compensate": "odrl:compensate", "inform": "odrl:inform",
    "obtainConsent": "odrl:obtainConsent", "purpose": "odrl:purpose", "spatial": "odrl:spatial",
    "dateTime": "odrl:dateTime", "payAmount": "odrl:payAmount",
    "eq": "odrl:eq", "gteq": "odrl:gteq", "lteq": "odrl:lteq", "lt": "odrl:lt",
    "isAnyOf": "odrl:isAnyOf", "isNoneOf": "odrl:isNoneOf",
}
OBTAIN_LICENSE = "music:obtainLicense"
_DUTIES = {"attribute": "attribute", "link-back": "music:linkBack",
           "register-derivative": "music:registerDerivative", "report-use": "inform"}
_TARGET_KINDS = {"hooks": "hook", "tracks": "track", "releases": "release"}


def action_of(scope: str) -> str:
    """The profile action of a scope (``music:remix``)."""
    return f"music:{scope}"


def party_of(kind: str) -> str:
    return f"{PROFILE}party-{kind}"


def policy_offer(policy: CompiledPolicy, *, base: str) -> dict[str, Any]:
    """The ODRL Offer of one compiled policy."""
    model = policy.policy
    offer: dict[str, Any] = {
        "@context": CONTEXT, "type": "Offer", "uid": f"{base}/odrl/policies/{policy.id}",
        "profile": PROFILE.rstrip("#"), "conflict": "prohibit",
        "assigner": {"type": "Party", "uid": f"{base}/artists/{policy.artist}"},
        "target": _target(policy, base),
    }
    permissions: list[dict[str, Any]] = []
    prohibitions: list[dict[str, Any]] = []
    for rule in model.rules:
        for scope in rule.scopes:
            entry = _rule(rule, scope)
            if rule.effect == "deny":
                prohibitions.append(entry)
            else:
                if rule.effect == "route":
                    entry["duty"] = (entry.get("duty", [])
                                     + _route_duties(policy.routes[rule.route or ""]))
                permissions.append(entry)
    if permissions:
        offer["permission"] = permissions
    if prohibitions:
        offer["prohibition"] = prohibitions
    return offer


def _target(policy: CompiledPolicy, base: str) -> dict[str, Any]:
    if policy.target is None:
        return {"type": "AssetCollection", "uid": f"{base}/artists/{policy.artist}/works"}
    return {"type": "Asset" if policy.target.kind == "hook" else "AssetCollection",
            "uid": base + resource_path(policy.target)}


def _rule(rule: Rule, scope: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"uid": f"{PROFILE}rule-{rule.id}-{scope}",
                             "action": action_of(scope)}
    constraints = _constraints(rule.when)
    if rule.on is not None:
        constraints.append({"leftOperand": "music:resourceKind", "operator": "eq",
                            "rightOperand": _TARGET_KINDS[rule.on]})
    if constraints:
        entry["constraint"] = constraints
    if rule.to != "any":
        entry["assignee"] = [_assignee(item) for item in rule.to]
    duties = [{"action": _DUTIES[o]} for o in rule.obligations]
    if duties:
        entry["duty"] = duties
    return entry


def _assignee(item: object) -> dict[str, Any]:
    if isinstance(item, str):
        if item.startswith("client:"):
            return {"type": "Party", "uid": f"{PROFILE}client-{item[7:]}"}
        return {"type": "PartyCollection", "uid": party_of(item)}
    kind = getattr(item, "kind", None) or "any"
    refinement = [{"leftOperand": f"music:attribute-{k}", "operator": "eq",
                   "rightOperand": v} for k, v in getattr(item, "attributes", {}).items()]
    out: dict[str, Any] = {"type": "PartyCollection", "uid": party_of(kind)}
    if refinement:
        out["refinement"] = refinement
    return out


def _constraints(when: Conditions | None) -> list[dict[str, Any]]:
    if when is None:
        return []
    out: list[dict[str, Any]] = []
    if when.purpose is not None:
        purposes = [when.purpose] if isinstance(when.purpose, str) else list(when.purpose)
        out.append({"leftOperand": "purpose", "operator": "isAnyOf",
                    "rightOperand": [{"@id": f"{PROFILE}purpose-{p}"} for p in purposes]})
    if when.territory is not None:
        inside = when.territory.in_ is not None
        codes = list((when.territory.in_ or ()) if inside else (when.territory.not_in or ()))
        out.append({"leftOperand": "spatial", "operator": "isAnyOf" if inside else "isNoneOf",
                    "rightOperand": codes})
    if when.excerpt_seconds is not None:
        if when.excerpt_seconds.min is not None:
            out.append({"leftOperand": "music:excerptSeconds", "operator": "gteq",
                        "rightOperand": when.excerpt_seconds.min})
        if when.excerpt_seconds.max is not None:
            out.append({"leftOperand": "music:excerptSeconds", "operator": "lteq",
                        "rightOperand": when.excerpt_seconds.max})
    if when.between is not None:
        if when.between.from_ is not None:
            out.append({"leftOperand": "dateTime", "operator": "gteq",
                        "rightOperand": {"@value": when.between.from_.isoformat(),
                                         "@type": "xsd:dateTime"}})
        if when.between.until is not None:
            out.append({"leftOperand": "dateTime", "operator": "lt",
                        "rightOperand": {"@value": when.between.until.isoformat(),
                                         "@type": "xsd:dateTime"}})
    return out


def _route_duties(route: LicenseRoute) -> list[dict[str, Any]]:
    """Obtaining the license comes first (``music:obtainLicense``, naming the route),
    then paying for it or asking for it, then the route's obligations."""
    duties: list[dict[str, Any]] = [
        {"uid": f"{PROFILE}route-{route.policy}-{route.name}", "action": OBTAIN_LICENSE}]
    duties += [{"action": _DUTIES[o]} for o in route.obligations]
    if route.type == "paid" and route.price is not None:
        duties.insert(1, {"action": [{"rdf:value": {"@id": "odrl:compensate"},
                                      "refinement": [{
                                          "leftOperand": "payAmount", "operator": "eq",
                                          "rightOperand": {"@value": _major(route),
                                                           "@type": "xsd:decimal"},
                                          "unit": f"urn:iso:std:iso:4217:"
                                                  f"{route.price.currency.upper()}"}]}]})
    elif route.type in ("request", "partner"):
        duties.insert(1, {"action": "obtainConsent"})
    return duties


def _major(route: LicenseRoute) -> str:
    assert route.price is not None
    amount = route.price.amount
    return f"{amount // 100}.{amount % 100:02d}"


def tdm_reserved(terms: ResourceTerms) -> bool:
    """TDM rights are reserved unless an agent may both train on and ground answers on
    the resource without asking."""
    return not (terms.value("ai-train") == "permit" and terms.value("ai-input") == "permit")


def tdm_offer(terms: ResourceTerms, *, base: str) -> dict[str, Any] | None:
    """The TDMRep policy (an ODRL Offer, profile tdmrep) for the mining the engine offers
    an agent through a license route, or None when no route opens it."""
    permissions = []
    for scope in ("ai-train", "ai-input"):
        for route in terms.decision(scope).license_routes:
            permissions.append({"target": base + resource_path(terms.ref),
                                "action": "tdm:mine",
                                "constraint": [{"leftOperand": "purpose", "operator": "eq",
                                                "rightOperand": {"@id": PROFILE + scope}}],
                                "duty": _route_duties(route)})
    if not permissions:
        return None
    return {"@context": CONTEXT, "type": "Offer", "profile": TDM.rstrip("#"),
            "uid": f"{base}/odrl/tdm/{terms.ref.id}",
            "assigner": {"type": "Party", "uid": f"{base}/artists/{terms.release.artist_id}"},
            "permission": permissions}


def tdmrep(resources: list[ResourceTerms], *, base: str) -> list[dict[str, Any]]:
    """``/.well-known/tdmrep.json``: a rule per resource path (and release deed)."""
    out: list[dict[str, Any]] = []
    for terms in resources:
        rule: dict[str, Any] = {"location": resource_path(terms.ref),
                                "tdm-reservation": int(tdm_reserved(terms))}
        if rule["tdm-reservation"] and tdm_offer(terms, base=base) is not None:
            rule["tdm-policy"] = f"{base}/odrl/tdm/{terms.ref.id}"
        out.append(rule)
        if terms.ref.kind == "release":
            out.append({**rule, "location": deed_path(terms.ref.release_id)})
    return out
