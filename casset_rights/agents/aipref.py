"""IETF AI preferences (draft-ietf-aipref-vocab-08, draft-ietf-aipref-attach-04).

``Content-Usage`` is an RFC 9651 Dictionary whose keys are vocabulary labels and whose
values are the tokens ``y`` (allowed) and ``n`` (disallowed). The vocabulary's current
revision (-08, September 2026; its labels table, section 5.1) defines three categories,
and each is stated, from the engine's answer for an agent that states no purpose:

* ``train-ai`` (AI Training: changing a generative model's parameters) from our
  ``ai-train`` scope,
* ``ai-use`` (AI Use: input to a generative model, not provided by the user) from our
  ``ai-input`` scope (grounding answers),
* ``search`` (Search: selecting assets and linking users to them, excerpts only to judge
  relevance) from our ``reference`` scope (being found and cited, with a link back).

A use that needs a license first is ``n`` here: a preference signal has no way to say
"after licensing" (RSL and the deed say how). Our music scopes (sample, remix, sync,
interpret, quote, listen, preview) are not AI uses and have no category (RSL states them).
Earlier revisions' ``bots`` and ``train-genai`` are gone from the vocabulary and not sent.

``robots_txt`` carries the same preferences as ``Content-Usage`` rules (attach draft,
section on robots.txt) for every resource path, and RSL's ``License:`` line.
"""

from __future__ import annotations

from collections.abc import Mapping

from casset_rights.agents.terms import ResourceTerms, deed_path, resource_path

# Vocabulary label -> our scope: every category of the vocabulary, in its table's order.
LABELS: dict[str, str] = {"train-ai": "ai-train", "ai-use": "ai-input", "search": "reference"}


def preferences(terms: ResourceTerms) -> dict[str, bool]:
    """Label -> allowed, for an agent stating no purpose."""
    return {label: terms.value(scope) == "permit" for label, scope in LABELS.items()}


def field_value(decisions: Mapping[str, str]) -> str:
    """The ``Content-Usage`` value from the engine's decisions by our scope (only a
    ``permit`` is ``y``; a scope not given is ``n``)."""
    return ", ".join(f"{label}={'y' if decisions.get(scope) == 'permit' else 'n'}"
                     for label, scope in LABELS.items())


def content_usage(terms: ResourceTerms) -> str:
    """The ``Content-Usage`` field value (an RFC 9651 Dictionary of tokens)."""
    return field_value({scope: terms.value(scope) for scope in LABELS.values()})


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
