"""RSL 1.0 (Really Simple Licensing, RSL-SPEC-1.0) documents from the engine's answers.

One ``<content>`` element per resource (the release, each track, each hook), named by the
API URL that serves it, with alternative ``<license>`` elements, each stating what an
automated client (our ``agent`` audience) gets under it:

* the open license: the uses permitted without asking (``payment type="free"``, or
  ``"attribution"`` when credit is owed), with every standard usage token it does not
  grant under ``<prohibits>``;
* a license per purpose (RSL user types ``commercial`` / ``non-commercial``) for the uses
  permitted only for that purpose;
* a license per license route the engine offers (``m:route`` names it): ``purchase``
  with its ``<amount>`` for a paid route, ``free``/``attribution`` for a free one, a
  ``<custom>`` link to the deed for one granted on request.

Usage tokens (RSL §3.4.1): ``ai-train`` from our ``ai-train``; ``ai-input`` and
``ai-index`` from ``ai-input`` (grounding answers needs the index); ``search`` from
``reference``; ``ai-all`` and ``all`` when every token they stand for is in one list.
Our other scopes, which RSL has no token for, are extension tokens in ``MUSIC_NS``
(``<m:permits type="usage">sample,remix</m:permits>``). What RSL cannot state (terms for
the public or for partners that differ from an agent's, territory, excerpt length, time
windows, obligations other than credit) is returned in ``RslDocument.unexpressed``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal

from casset_rights.agents.terms import (
    AUDIENCES,
    PURPOSE_CASES,
    ResourceTerms,
    deed_path,
    resource_path,
)
from casset_rights.policy import SCOPES, Decision, LicenseRoute

RSL_NS = "https://rslstandard.org/rsl"
MUSIC_NS = "https://casset.example/ns/rsl-music/1"
MEDIA_TYPE = "application/rsl+xml"
ET.register_namespace("", RSL_NS)
ET.register_namespace("m", MUSIC_NS)

# Our scope -> the RSL usage tokens it grants (RSL §3.4.1 usage vocabulary).
RSL_TOKENS: dict[str, tuple[str, ...]] = {
    "ai-train": ("ai-train",), "ai-input": ("ai-input", "ai-index"), "reference": ("search",)}
STANDARD_TOKENS: tuple[str, ...] = ("ai-train", "ai-input", "ai-index", "search")
AI_TOKENS: tuple[str, ...] = ("ai-train", "ai-input", "ai-index")
MUSIC_TOKENS: tuple[str, ...] = tuple(s for s in SCOPES if s not in RSL_TOKENS)
# Three-letter ISO 4217 codes with two minor-unit digits are all the policy schema takes.
_MINOR_DIGITS = 2


@dataclass(frozen=True)
class RslDocument:
    xml: bytes
    unexpressed: tuple[str, ...]


def _q(name: str, ns: str = RSL_NS) -> str:
    return f"{{{ns}}}{name}"


def rsl_document(resources: list[ResourceTerms], *, base: str,
                 license_server: str | None = None) -> RslDocument:
    """The RSL document for ``resources`` (each a ``<content>``), URLs under ``base``.
    ``license_server`` becomes each content's ``server`` attribute (RSL's license server)."""
    root = ET.Element(_q("rsl"))
    unexpressed: list[str] = []
    for terms in resources:
        content = ET.SubElement(root, _q("content"), {"url": base + resource_path(terms.ref)})
        if license_server:
            content.set("server", license_server)
        for license_ in _licenses(terms, base=base):
            content.append(license_)
        copyright_ = ET.SubElement(content, _q("copyright"), {"type": "person"})
        copyright_.text = terms.release.artist_name
        ET.SubElement(content, _q("terms")).text = base + deed_path(terms.release.release_id)
        unexpressed.extend(f"{terms.ref.id}: {note}" for note in _unexpressed(terms))
    ET.indent(root)
    xml = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return RslDocument(xml=xml, unexpressed=tuple(unexpressed))


def _licenses(terms: ResourceTerms, *, base: str) -> list[ET.Element]:
    out: list[ET.Element] = []
    free = [s for s in SCOPES if terms.value(s) == "permit"]
    out.append(_license(free, user=None, payment=_open_payment(terms, free, None),
                        prohibit_rest=True))
    for purpose in PURPOSE_CASES[1:]:
        only = [s for s in SCOPES if terms.value(s, purpose=purpose) == "permit"
                and s not in free]
        if only:
            out.append(_license(only, user=purpose,
                                payment=_open_payment(terms, only, purpose)))
    for route, purpose, scopes in _route_offers(terms):
        element = _license(scopes, user=purpose, payment=_route_payment(route, base, terms))
        element.set(_q("route", MUSIC_NS), route.name)
        if route.obligations:
            element.set(_q("duties", MUSIC_NS), " ".join(route.obligations))
        out.append(element)
    return out


def _route_offers(terms: ResourceTerms) -> list[tuple[LicenseRoute, str | None, list[str]]]:
    """(route, purpose it is offered for or None for any, scopes) for an agent."""
    offers: dict[tuple[str, str | None], tuple[LicenseRoute, list[str]]] = {}
    for scope in SCOPES:
        anywhere = {r.name for r in _routes(terms.decision(scope))}
        for purpose in PURPOSE_CASES:
            for route in _routes(terms.decision(scope, purpose=purpose)):
                if purpose is not None and route.name in anywhere:
                    continue
                key = (route.name, purpose)
                offers.setdefault(key, (route, []))[1].append(scope)
    return [(route, purpose, scopes) for (name, purpose), (route, scopes)
            in sorted(offers.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))]


def _routes(decision: Decision) -> tuple[LicenseRoute, ...]:
    return decision.license_routes if decision.decision == "license_required" else ()


def _license(scopes: list[str], *, user: str | None, payment: ET.Element,
             prohibit_rest: bool = False) -> ET.Element:
    element = ET.Element(_q("license"))
    granted = [t for s in scopes for t in RSL_TOKENS.get(s, ())]
    if granted:
        ET.SubElement(element, _q("permits"), {"type": "usage"}).text = ",".join(
            aggregate_tokens(granted))
    music = [s for s in scopes if s in MUSIC_TOKENS]
    if music:
        ET.SubElement(element, _q("permits", MUSIC_NS), {"type": "usage"}).text = ",".join(music)
    if user is not None:
        ET.SubElement(element, _q("permits"), {"type": "user"}).text = user
    withheld = [t for t in STANDARD_TOKENS if t not in granted]
    if withheld and (prohibit_rest or not granted):
        ET.SubElement(element, _q("prohibits"), {"type": "usage"}).text = ",".join(
            aggregate_tokens(withheld))
    element.append(payment)
    return element


def aggregate_tokens(tokens: list[str]) -> list[str]:
    """``tokens`` with ``ai-all`` standing for the three AI tokens and ``all`` for every
    standard token, when all they stand for are present (RSL §3.4.1)."""
    present = [t for t in STANDARD_TOKENS if t in tokens]
    if len(present) == len(STANDARD_TOKENS):
        return ["all"]
    if all(t in present for t in AI_TOKENS):
        return ["ai-all"] + [t for t in present if t not in AI_TOKENS]
    return present


def expand_tokens(text: str) -> set[str]:
    """The standard usage tokens a ``permits``/``prohibits`` list names (inverse of
    ``aggregate_tokens``)."""
    out: set[str] = set()
    for token in (t.strip() for t in text.split(",")):
        out.update(STANDARD_TOKENS if token == "all"
                   else AI_TOKENS if token == "ai-all" else (token,))
    return out


def _open_payment(terms: ResourceTerms, scopes: list[str], purpose: str | None) -> ET.Element:
    credited = any(o.type == "attribute" for s in scopes
                   for o in terms.decision(s, purpose=purpose).obligations)
    return ET.Element(_q("payment"), {"type": "attribution" if credited else "free"})


def _route_payment(route: LicenseRoute, base: str, terms: ResourceTerms) -> ET.Element:
    if route.type == "paid" and route.price is not None:
        payment = ET.Element(_q("payment"), {"type": "purchase"})
        amount = ET.SubElement(payment, _q("amount"), {"currency": route.price.currency.upper()})
        amount.text = str(Decimal(route.price.amount).scaleb(-_MINOR_DIGITS))
        return payment
    if route.type == "free":
        kind = "attribution" if "attribute" in route.obligations else "free"
        return ET.Element(_q("payment"), {"type": kind})
    payment = ET.Element(_q("payment"), {"type": "purchase"})
    ET.SubElement(payment, _q("custom")).text = (
        f"{base}{deed_path(terms.release.release_id)}#route-{route.name}")
    return payment


def _unexpressed(terms: ResourceTerms) -> list[str]:
    notes = list(terms.conditions_beyond())
    for scope in SCOPES:
        for audience in AUDIENCES:
            if audience == "agent":
                continue
            for purpose in PURPOSE_CASES:
                mine = terms.value(scope, audience, purpose)
                if mine != terms.value(scope, "agent", purpose):
                    notes.append(f"{scope} for {audience}"
                                 f"{'' if purpose is None else ' (' + purpose + ')'} is {mine}: "
                                 "RSL states the terms of automated clients only")
    for route in terms.routes():
        extra = [o for o in route.obligations if o != "attribute"]
        if extra:
            notes.append(f"route {route.name}: obligations {', '.join(extra)} are stated "
                         "only as the m:duties extension")
        for name in ("term_days", "cap", "revenue_share_percent", "territory"):
            if getattr(route, name) is not None:
                notes.append(f"route {route.name}: {name} has no RSL element (see the deed)")
    return sorted(set(notes))
