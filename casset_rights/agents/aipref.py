"""IETF AI preferences (draft-ietf-aipref-vocab-05, draft-ietf-aipref-attach-04).

``Content-Usage`` is an RFC 9651 Dictionary whose keys are vocabulary labels and whose
values are the tokens ``y`` (allowed) and ``n`` (disallowed). This service states two of
the vocabulary's categories, each from the engine's answer for an agent that states no
purpose:

* ``train-ai`` from our ``ai-train`` scope,
* ``search`` from our ``reference`` scope (being found and cited, with a link back).

A use that needs a license first is ``n`` here: a preference signal has no way to say
"after licensing" (RSL and the deed say how). Our ``ai-input`` (grounding answers) has no
category in the vocabulary's current revision and is not stated.

``robots_txt`` carries the same preferences as ``Content-Usage`` rules (attach draft,
section on robots.txt) for every resource path, and RSL's ``License:`` line.
"""

from __future__ import annotations

from casset_rights.agents.terms import ResourceTerms, deed_path, resource_path

# Vocabulary label -> our scope.
LABELS: dict[str, str] = {"train-ai": "ai-train", "search": "reference"}
UNSTATED = ("ai-input: the AI-preference vocabulary has no category for grounding answers",)


def preferences(terms: ResourceTerms) -> dict[str, bool]:
    """Label -> allowed, for an agent stating no purpose."""
    return {label: terms.value(scope) == "permit" for label, scope in LABELS.items()}


def content_usage(terms: ResourceTerms) -> str:
    """The ``Content-Usage`` field value (an RFC 9651 Dictionary of tokens)."""
    return ", ".join(f"{label}={'y' if allowed else 'n'}"
                     for label, allowed in preferences(terms).items())


def robots_txt(resources: list[ResourceTerms], *, base: str, rsl_url: str) -> str:
    """robots.txt: every agent may fetch; per resource path, the usage preferences; the
    RSL license document. Paths end in ``$`` so ``/v1/tracks/r/1`` says nothing of
    ``/v1/tracks/r/10``."""
    lines = ["# Generated from the artists' compiled policies. Terms: each release's deed",
             f"# ({base}/r/<release>); licenses: {rsl_url}.",
             "User-Agent: *", "Allow: /"]
    for terms in resources:
        usage = content_usage(terms)
        lines.append(f"Content-Usage: {resource_path(terms.ref)}$ {usage}")
        if terms.ref.kind == "release":
            lines.append(f"Content-Usage: {resource_path(terms.ref)}/ {usage}")
            lines.append(f"Content-Usage: {deed_path(terms.ref.release_id)}$ {usage}")
    lines.append("")
    lines.append(f"License: {rsl_url}")
    return "\n".join(lines) + "\n"
