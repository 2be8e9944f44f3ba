"""Helpers for the policy tests: building policies from rule lists, principals, requests."""

from __future__ import annotations

from typing import Any

from casset_rights.policy import (
    CompiledPolicy,
    Decision,
    authorize,
    build_request,
    compile_policy,
    parse,
)
from casset_rights.principal import PUBLIC, Principal

AGENT = Principal(kind="agent", client_id="bot-1")
PARTNER = Principal(kind="partner", client_id="tidewater-radio",
                    attributes={"verified": True, "tier": "gold"})
OWNER = Principal(kind="artist", subject="nightglass")
STRANGER_ARTIST = Principal(kind="artist", subject="mara-quell")
PRINCIPALS = {"public": PUBLIC, "agent": AGENT, "partner": PARTNER, "artist": OWNER}

TARGETS = {0: "artist", 1: "release:midnight-tapes", 2: "track:midnight-tapes/1",
           3: "hook:midnight-tapes/1/chorus"}
HOOK = "hook:midnight-tapes/1/chorus"
TRACK = "track:midnight-tapes/1"
RELEASE = "release:midnight-tapes"


def document(rules: list[dict[str, Any]], *, level: int = 0, routes: dict | None = None,
             **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"policy": f"p{level}", "artist": "nightglass",
                           "applies_to": TARGETS[level], "rules": rules}
    if routes:
        doc["routes"] = routes
    doc.update(extra)
    return doc


def compiled(rules: list[dict[str, Any]], *, level: int = 0, routes: dict | None = None,
             **extra: Any) -> CompiledPolicy:
    return compile_policy(parse(document(rules, level=level, routes=routes, **extra)))


def decide(chain: list[CompiledPolicy | None], action: str, resource: str = HOOK, *,
           who: Principal | str = "agent", **context: Any) -> Decision:
    principal = PRINCIPALS[who] if isinstance(who, str) else who
    return authorize(chain, build_request(action, resource, principal=principal,
                                          context=context))
