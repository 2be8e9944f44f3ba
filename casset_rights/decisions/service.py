"""The decision service: one decision, or the whole rights grid, each with a receipt.

A decision reads memory only: the resource and its policy chain from the rights index,
the licenses the asker holds (``GrantSource``), the resource's ancestors and their
chains (``AncestorSource``, then the index); ``decide`` is then one pure call with all of
them passed in. The answer is signed as a receipt; storing it is the
caller's step (``ReceiptWriter``), so the request path can wait for a group commit
without holding a thread.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from casset_rights.canonical import content_hash
from casset_rights.decisions.decide import (
    NO_HOLDINGS,
    TRAVELLING,
    Ancestor,
    AncestorSource,
    GrantSource,
    at_ms_of,
    decide,
)
from casset_rights.decisions.index import Resolved, RightsIndex
from casset_rights.errors import UnknownResource
from casset_rights.policy import SCOPES, Decision, Request, build_request
from casset_rights.principal import Principal
from casset_rights.receipts.service import Receipt, ReceiptIssuer


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
                 grants: GrantSource | None = None, lineage: AncestorSource | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """``grants`` and ``lineage`` answer from memory (``HeldGrants``,
        ``LineageIndex``); without them no license and no ancestor counts."""
        self._index = index
        self._issuer = issuer
        self._grants = grants
        self._lineage = lineage
        self._clock = clock

    def evaluate(self, request: Request) -> tuple[Decision, Resolved]:
        """Decide without a receipt (used by dry runs and by other services), from
        memory. Raises UnknownResource for a resource that does not exist."""
        index = self._index
        resolved = index.resolve(request.resource)
        release = resolved.release
        request = msgspec.structs.replace(request, title=resolved.title,
                                          artist_name=release.artist_name)
        grants = NO_HOLDINGS if self._grants is None else self._grants.held_by(
            request.principal)
        ancestors: tuple[Ancestor, ...] = ()
        if self._lineage is not None and request.action in TRAVELLING:
            ancestors = tuple(Ancestor(ref, depth, _resolved_or_none(index, ref))
                              for ref, depth in self._lineage.ancestors(request.resource))
        at_ms = at_ms_of(request.context.at, int(self._clock() * 1000)) \
            if grants else 0
        return decide(resolved, request, grants=grants, ancestors=ancestors,
                      at_ms=at_ms), resolved

    def decide(self, *, principal: Principal, action: str, resource: str,
               context: Mapping[str, Any] | None = None) -> DecisionOutcome:
        """One decision with its signed receipt (not yet stored).

        Raises UnknownScope, InvalidInput (malformed resource id or context) and
        UnknownResource.
        """
        return self.decide_request(
            build_request(action, resource, principal=principal, context=context))

    def decide_request(self, request: Request) -> DecisionOutcome:
        """``decide`` for a request already built (``policy.build_request``)."""
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
        receipt = self._issuer.issue("decision", body)
        return DecisionOutcome(request=request, decision=decision, policies=policies,
                               policy_hash=policy_hash,
                               manifest_hash=resolved.release.manifest_hash, receipt=receipt)

    def grid(self, *, principal: Principal, resource: str,
             context: Mapping[str, Any] | None = None) -> GridOutcome:
        """Every scope's decision for ``principal`` on ``resource``, with one signed
        receipt (not yet stored)."""
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
        receipt = self._issuer.issue("rights-grid", body)
        return GridOutcome(resource=base.resource.id, context=context_doc, decisions=decisions,
                           policies=policies, policy_hash=policy_hash,
                           manifest_hash=resolved.release.manifest_hash, receipt=receipt)


def _resolved_or_none(index: RightsIndex, ref: Any) -> Resolved | None:
    try:
        return index.resolve(ref)
    except UnknownResource:
        return None


def _chain(resolved: Resolved) -> tuple[dict[str, str], ...]:
    return tuple({"id": p.id, "hash": p.hash} for p in resolved.chain)
