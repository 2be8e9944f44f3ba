"""The decision service: one decision, or the whole rights grid, each with a receipt.

Resolving the resource and its policy chain is a look-up in the in-memory index; the
policy engine decides; refiners (grants a principal holds, the policies of a
derivative's ancestors) may then change the answer; the answer is signed as a receipt.
Storing the receipt is the caller's step (``ReceiptWriter``), so the request path can
wait for a group commit without holding a thread.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from casset_rights.canonical import content_hash
from casset_rights.decisions.index import Resolved, RightsIndex
from casset_rights.policy import SCOPES, Decision, Request, authorize, build_request
from casset_rights.principal import Principal
from casset_rights.receipts.service import Receipt, ReceiptIssuer

# A refiner sees the request, where it resolved, and the decision so far, and returns
# the decision to answer (licensing adds held grants; lineage adds ancestors' policies).
# One that may read the database also has ``reads_database(request) -> bool``, so
# callers on an event loop know when deciding would block it.
Refiner = Callable[[Request, Resolved, Decision], Decision]


class DecisionOutcome(msgspec.Struct, frozen=True):
    request: Request
    decision: Decision
    policies: tuple[dict[str, str], ...]
    policy_hash: str
    manifest_hash: str
    receipt: Receipt


class GridOutcome(msgspec.Struct, frozen=True):
    resource: str
    context: dict[str, Any]
    decisions: dict[str, Decision]
    policies: tuple[dict[str, str], ...]
    policy_hash: str
    manifest_hash: str
    receipt: Receipt


def chain_hash(policies: Sequence[dict[str, str]]) -> str:
    """``policy_hash`` of a decision: the content hash of the chain's policy hashes,
    from general to specific (artist, release, track, hook)."""
    return _hash_of_hashes(tuple(p["hash"] for p in policies))


@functools.lru_cache(maxsize=65536)
def _hash_of_hashes(hashes: tuple[str, ...]) -> str:
    # Few distinct chains exist and canonicalisation is pure Python: remember them.
    return content_hash(list(hashes))


class DecisionService:
    def __init__(self, *, index: RightsIndex, issuer: ReceiptIssuer,
                 refiners: Sequence[Refiner] = ()) -> None:
        self._index = index
        self._issuer = issuer
        self._refiners: list[Refiner] = list(refiners)

    def add_refiner(self, refiner: Refiner) -> None:
        self._refiners.append(refiner)

    def evaluate(self, request: Request) -> tuple[Decision, Resolved]:
        """Decide without a receipt (used by dry runs and by other services).
        Raises UnknownResource for a resource that does not exist."""
        resolved = self._index.resolve(request.resource)
        release = resolved.release
        request = msgspec.structs.replace(
            request, title=release.titles.get(request.resource.path, release.title),
            artist_name=release.artist_name)
        decision = authorize(resolved.chain, request)
        for refine in self._refiners:
            decision = refine(request, resolved, decision)
        return decision, resolved

    def decide(self, *, principal: Principal, action: str, resource: str,
               context: Mapping[str, Any] | None = None) -> DecisionOutcome:
        """One decision with its signed receipt (not yet stored).

        Raises UnknownScope, InvalidInput (malformed resource id or context) and
        UnknownResource.
        """
        return self.decide_request(
            build_request(action, resource, principal=principal, context=context))

    def reads_database(self, request: Request) -> bool:
        """Whether deciding ``request`` may read the database (a refiner says so); when
        not, it is a few microseconds of work in memory."""
        return any(getattr(refine, "reads_database", _always)(request)
                   for refine in self._refiners)

    def decide_request(self, request: Request, *, signed: bool = True) -> DecisionOutcome:
        """``decide`` for a request already built (``policy.build_request``). With
        ``signed=False`` the receipt is a draft, which the receipt writer signs as it
        stores it (the API's way: it waits for the store anyway)."""
        principal = request.principal
        decision, resolved = self.evaluate(request)
        policies = _chain(resolved)
        policy_hash = chain_hash(policies)
        body = {
            "principal": principal.for_receipt(),
            "request": {"action": request.action, "resource": request.resource.id,
                        "context": msgspec.to_builtins(request.context)},
            **msgspec.to_builtins(decision),
            "policies": list(policies),
            "policy_hash": policy_hash,
            "manifest_hash": resolved.release.manifest_hash,
        }
        receipt = (self._issuer.issue if signed else self._issuer.draft)("decision", body)
        return DecisionOutcome(request=request, decision=decision, policies=policies,
                               policy_hash=policy_hash,
                               manifest_hash=resolved.release.manifest_hash, receipt=receipt)

    def grid(self, *, principal: Principal, resource: str,
             context: Mapping[str, Any] | None = None, signed: bool = True) -> GridOutcome:
        """Every scope's decision for ``principal`` on ``resource``, with one receipt
        (a draft with ``signed=False``, as in ``decide_request``)."""
        decisions: dict[str, Decision] = {}
        resolved: Resolved | None = None
        base = build_request(SCOPES[0], resource, principal=principal, context=context)
        for scope in SCOPES:
            decisions[scope], resolved = self.evaluate(
                msgspec.structs.replace(base, action=scope))
        assert resolved is not None
        policies = _chain(resolved)
        policy_hash = chain_hash(policies)
        context_doc = msgspec.to_builtins(base.context)
        body = {
            "principal": principal.for_receipt(),
            "request": {"action": "grid", "resource": base.resource.id, "context": context_doc},
            "decisions": {s: d.decision for s, d in decisions.items()},
            "policies": list(policies),
            "policy_hash": policy_hash,
            "manifest_hash": resolved.release.manifest_hash,
        }
        receipt = (self._issuer.issue if signed else self._issuer.draft)("rights-grid", body)
        return GridOutcome(resource=base.resource.id, context=context_doc, decisions=decisions,
                           policies=policies, policy_hash=policy_hash,
                           manifest_hash=resolved.release.manifest_hash, receipt=receipt)


def _always(_request: Request) -> bool:
    return True


def _chain(resolved: Resolved) -> tuple[dict[str, str], ...]:
    return tuple({"id": p.id, "hash": p.hash} for p in resolved.chain)
