"""C2PA inside every preview: signing the manifest in, reading and verifying it out.

``sign_preview`` embeds a C2PA manifest (c2pa-python, over c2pa-rs) with two assertions:
``com.casset.rights`` (which release, track and hook, the manifest and policy hashes,
the receipt of the permit that allowed the preview, itself a JWS, and the URL of the
terms) and ``cawg.training-mining`` (the CAWG training and data mining assertion, whose
entries follow the policy's ``ai-train`` and ``ai-input`` decisions).

``verify_preview`` checks, step by step, the manifest's integrity (the hard binding to
the audio bytes), its signer against the trust anchor, the rights assertion, the
receipt's signature against the JWKS, and that receipt and assertion say the same; it
returns the steps or raises ProvenanceInvalid naming the first failing step.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from casset_rights.audio.certificates import SigningIdentity
from casset_rights.audio.errors import ProvenanceInvalid
from casset_rights.errors import ReceiptInvalid

RIGHTS_LABEL = "com.casset.rights"
TRAINING_LABEL = "cawg.training-mining"
CAWG_ENTRIES = ("cawg.ai_training", "cawg.ai_generative_training", "cawg.ai_inference",
                "cawg.data_mining")
# Which policy scope decides each CAWG entry.
CAWG_SCOPE = {"cawg.ai_training": "ai-train", "cawg.ai_generative_training": "ai-train",
              "cawg.ai_inference": "ai-input", "cawg.data_mining": "ai-train"}
# A decision as a CAWG ``use``: a license route means "constrained" (with its terms).
CAWG_USE = {"permit": "allowed", "deny": "notAllowed", "license_required": "constrained"}
GENERATOR = {"name": "casset-rights", "version": "0.1.0"}
# c2pa.created needs a source type. The preview is cut from the artist's recording; the
# service cannot know more of how that was made, so it says what a recording is.
DIGITAL_CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"


def training_mining_entries(decisions: Mapping[str, str], *, terms_url: str) \
        -> dict[str, dict[str, str]]:
    """The ``entries`` of ``cawg.training-mining`` from the decisions on ``ai-train`` and
    ``ai-input`` (``permit``, ``deny`` or ``license_required``)."""
    entries: dict[str, dict[str, str]] = {}
    for entry in CAWG_ENTRIES:
        use = CAWG_USE[decisions[CAWG_SCOPE[entry]]]
        entries[entry] = {"use": use}
        if use == "constrained":
            entries[entry]["constraint_info"] = terms_url
    return entries


def prepare() -> None:
    """Load c2pa-rs (its library is large) before the first preview needs it."""
    import c2pa  # noqa: F401


def sign_preview(audio: bytes, *, mime: str, identity: SigningIdentity, title: str,
                 rights: Mapping[str, Any], training: Mapping[str, Any]) -> bytes:
    """``audio`` with a signed C2PA manifest embedded (``mime``: audio/mp4 or
    audio/mpeg). Raises whatever c2pa-rs raises when the identity is not acceptable."""
    import c2pa

    manifest = {
        "claim_generator_info": [GENERATOR],
        "title": title,
        "format": mime,
        "assertions": [
            {"label": "c2pa.actions",
             "data": {"actions": [{"action": "c2pa.created",
                                   "digitalSourceType": DIGITAL_CAPTURE,
                                   "softwareAgent": GENERATOR,
                                   "description": "a preview rendered from the hook window"}]}},
            {"label": RIGHTS_LABEL, "data": dict(rights)},
            {"label": TRAINING_LABEL, "data": {"entries": dict(training)}},
        ],
    }
    info = c2pa.C2paSignerInfo(identity.algorithm.encode(), identity.chain_pem,
                               identity.key_pem, None)
    signer = c2pa.Signer.from_info(info)
    builder = c2pa.Builder(json.dumps(manifest))
    source, target = io.BytesIO(audio), io.BytesIO()
    try:
        builder.sign(signer, mime, source, target)
    finally:
        builder.close()
        signer.close()
    return target.getvalue()


@dataclass
class Step:
    name: str
    ok: bool
    detail: str


@dataclass
class PreviewReport:
    """What ``verify_preview`` found: the steps passed, the assertions and the receipt."""

    steps: list[Step] = field(default_factory=list)
    rights: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    receipt: dict[str, Any] = field(default_factory=dict)


def read_manifest(data: bytes, *, mime: str, anchor_pem: bytes | None) -> dict[str, Any]:
    """The manifest store as c2pa-rs reports it (with ``validation_state``), checking
    trust against ``anchor_pem`` when given. Raises ProvenanceInvalid (step
    ``c2pa-manifest``) when there is none."""
    import c2pa

    settings: dict[str, Any] = {"verify": {"verify_trust": anchor_pem is not None}}
    if anchor_pem is not None:
        settings["trust"] = {"trust_anchors": anchor_pem.decode()}
    try:
        # A context of its own: trust settings of one read never leak into another.
        context = c2pa.Context.from_dict(settings)
        try:
            with c2pa.Reader(mime, io.BytesIO(data), context=context) as reader:
                return json.loads(reader.json())  # type: ignore[no-any-return]
        finally:
            context.close()
    except Exception as exc:  # c2pa.C2paError and its kinds
        raise ProvenanceInvalid(f"no readable C2PA manifest ({_first_line(exc)})",
                                step="c2pa-manifest") from None


def verify_preview(data: bytes, *, mime: str, anchor_pem: bytes, jwks: dict[str, Any],
                   verify_receipt: Callable[[str, dict[str, Any]], dict[str, Any]],
                   on_step: Callable[[Step], None] | None = None) -> PreviewReport:
    """Verify a preview file. Returns the report, every step passed; raises
    ProvenanceInvalid naming the first step that failed (``c2pa-manifest``,
    ``c2pa-integrity``, ``c2pa-trust``, ``rights-assertion``, ``receipt-signature``,
    ``receipt-binding``, ``training-mining``)."""
    report = PreviewReport()

    def passed(name: str, detail: str) -> None:
        step = Step(name, True, detail)
        report.steps.append(step)
        if on_step:
            on_step(step)

    def failed(name: str, detail: str) -> ProvenanceInvalid:
        if on_step:
            on_step(Step(name, False, detail))
        return ProvenanceInvalid(detail, step=name)

    try:
        store = read_manifest(data, mime=mime, anchor_pem=anchor_pem)
    except ProvenanceInvalid as exc:
        raise failed("c2pa-manifest", exc.detail.split(": ", 1)[-1]) from None
    active = store.get("manifests", {}).get(store.get("active_manifest", ""))
    if not active:
        raise failed("c2pa-manifest", "the manifest store names no active manifest")
    passed("c2pa-manifest", f"active manifest {store['active_manifest']}")
    statuses = store.get("validation_results", {}).get("activeManifest", {})
    failures = [s for s in statuses.get("failure", [])
                if not s.get("code", "").startswith("signingCredential.untrusted")]
    if failures:
        codes = ", ".join(f"{s.get('code')} ({s.get('explanation', '')})" for s in failures)
        raise failed("c2pa-integrity", f"the manifest does not match the file: {codes}")
    passed("c2pa-integrity", "the audio bytes and the claim match their hashes")
    state = store.get("validation_state")
    if state != "Trusted":
        raise failed("c2pa-trust", f"the signer does not chain to the trust anchor "
                                   f"(validation state {state})")
    issuer = active.get("signature_info", {}).get("issuer", "?")
    passed("c2pa-trust", f"signed by a certificate of {issuer}, trusted")
    assertions = {a.get("label"): a.get("data") for a in active.get("assertions", [])}
    rights = assertions.get(RIGHTS_LABEL)
    if not isinstance(rights, dict) or not isinstance(rights.get("receipt"), str):
        raise failed("rights-assertion", f"no {RIGHTS_LABEL} assertion with a receipt")
    report.rights = rights
    passed("rights-assertion", f"{rights.get('resource')} under policy "
                               f"{rights.get('policy_hash')}")
    try:
        payload = verify_receipt(rights["receipt"], jwks)
    except ReceiptInvalid as exc:
        raise failed("receipt-signature", exc.detail) from None
    report.receipt = payload
    passed("receipt-signature", f"receipt {payload.get('jti')} signed by a key in the JWKS")
    mismatch = _binding_mismatch(rights, payload)
    if mismatch:
        raise failed("receipt-binding", mismatch)
    passed("receipt-binding", "the receipt permits preview of this hook, under the same "
                              "policy and manifest")
    training = assertions.get(TRAINING_LABEL)
    entries = training.get("entries") if isinstance(training, dict) else None
    if not isinstance(entries, dict) or set(entries) != set(CAWG_ENTRIES):
        raise failed("training-mining", f"no {TRAINING_LABEL} assertion with the four "
                                        "CAWG entries")
    report.training = entries
    passed("training-mining", ", ".join(f"{k.split('.', 1)[1]}={v.get('use')}"
                                         for k, v in sorted(entries.items())))
    return report


def _binding_mismatch(rights: Mapping[str, Any], payload: Mapping[str, Any]) -> str | None:
    request = payload.get("request", {})
    checks = (
        ("decision", payload.get("decision"), "permit"),
        ("action", request.get("action"), "preview"),
        ("resource", request.get("resource"), rights.get("resource")),
        ("policy_hash", payload.get("policy_hash"), rights.get("policy_hash")),
        ("manifest_hash", payload.get("manifest_hash"), rights.get("manifest_hash")),
        ("receipt id", payload.get("jti"), rights.get("receipt_id")),
    )
    for name, got, want in checks:
        if got != want:
            return f"the receipt's {name} is {got!r}, the assertion's {want!r}"
    return None


def mime_of(path: Path, head: bytes) -> str:
    """The media type c2pa-rs reads a preview file as (sniffed, not from the name)."""
    from casset_rights.audio.sniff import MEDIA_TYPES, sniff

    kind = sniff(head)
    return MEDIA_TYPES[kind] if kind != "m4a" else "audio/mp4"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip() or type(exc).__name__).splitlines()[0][:200]
