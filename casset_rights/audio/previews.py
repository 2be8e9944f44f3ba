"""Previews: a permit for the ``preview`` scope turned into a short, signed, provable
excerpt behind an expiring URL.

``PreviewService.request`` asks the decision engine for ``preview`` on a hook as the
caller, stores the decision's receipt, and on ``permit`` renders the hook window (cached
by audio hash, window, render settings and policy hash), embeds a C2PA manifest naming
the release, track, hook, hashes and that receipt, and answers a URL signed for the
caller and that window. ``deny`` raises PreviewDenied (403) and ``license_required``
PreviewLicenseRequired (402, with the license routes); neither renders anything.

The signed file is kept per (render, manifest, policy, principal binding, AI-use
entries): a second permit for the same caller under the same policy is served the same
file, whose receipt is the first permit's; the answer carries the new receipt.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from casset_rights.agents import aipref
from casset_rights.audio.blobs import BlobStore
from casset_rights.audio.certificates import SigningIdentity
from casset_rights.audio.errors import (
    AudioMissing,
    PreviewDenied,
    PreviewLicenseRequired,
    WindowInvalid,
)
from casset_rights.audio.links import LinkClaims, PreviewLinks, binding_of
from casset_rights.audio.provenance import sign_preview, training_mining_entries
from casset_rights.audio.records import AudioRecords, RenderRecord
from casset_rights.audio.render import RenderSettings, check_window, render_preview
from casset_rights.audio.uploads import AUDIO
from casset_rights.decisions.service import DecisionOutcome, DecisionService
from casset_rights.manifests.catalog import CatalogService
from casset_rights.policy import build_request
from casset_rights.principal import Principal
from casset_rights.receipts.service import Receipt

RENDERS = "renders"
PREVIEW_MEMORY_BYTES = 64 * 1024 * 1024  # signed previews kept in memory for streaming
PREVIEWS = "previews"
PREVIEW_FILES_KNOWN = 10_000  # signed previews' local files remembered (for pathsend)
ANALYST = Principal(kind="agent")  # whose ai-* decisions the CAWG assertion states


class PreviewAnswer(msgspec.Struct, kw_only=True):
    """The answer of ``POST /v1/previews`` on a permit."""

    decision: str
    resource: str
    start_ms: int
    end_ms: int
    media_type: str
    loop: bool  # a seamless loop (its end crossfades into its start), else faded
    preview_url: str
    expires_at: int
    obligations: list[dict[str, Any]]
    policy_hash: str
    manifest_hash: str
    receipt: str
    receipt_id: str
    terms_url: str
    content_usage: str


@dataclass(frozen=True)
class PreviewLimits:
    max_seconds: float
    url_ttl_seconds: int
    issuer: str


StoreReceipt = Callable[[Receipt], Awaitable[Receipt]]


class PreviewService:
    def __init__(self, *, decisions: DecisionService, catalog: CatalogService,
                 records: AudioRecords, blobs: BlobStore, links: PreviewLinks,
                 identity: Callable[[], SigningIdentity], render: RenderSettings,
                 limits: PreviewLimits, scratch: Path) -> None:
        self._decisions = decisions
        self._catalog = catalog
        self._records = records
        self._blobs = blobs
        self._links = links
        self._identity = identity
        self.render_settings = render
        self._limits = limits
        self._scratch = scratch
        self._memory = BytesCache(PREVIEW_MEMORY_BYTES)
        self._files: dict[str, tuple[str, int]] = {}
        self._files_lock = threading.Lock()

    def decide(self, principal: Principal, resource: str) -> DecisionOutcome:
        """The ``preview`` decision on a hook, with its signed receipt. Raises InvalidInput
        for a resource that is not a hook, UnknownResource for one that does not exist."""
        asked = build_request("preview", resource, principal=principal)
        if asked.resource.kind != "hook":
            raise WindowInvalid("previews are of hooks (hook:R/T/H); the full track needs "
                                "a listen permit or a license")
        hook = self._catalog.hook(asked.resource.path)
        seconds = (hook.end_ms - hook.start_ms) / 1000
        asked = build_request("preview", asked.resource, principal=principal,
                              context={"excerpt_seconds": seconds})
        return self._decisions.decide_request(asked)

    async def request(self, principal: Principal, resource: str, *, store: StoreReceipt,
                      run: Callable[..., Awaitable[Any]],
                      loop: bool | None = None) -> PreviewAnswer:
        """Decide, store the receipt (``store``), and on a permit render and sign
        (``run`` runs blocking work off the event loop); ``loop`` asks for a seamless
        loop (True) or fades (False), None for the settings' choice. Raises
        PreviewDenied, PreviewLicenseRequired, WindowInvalid, AudioMissing,
        UnknownResource."""
        outcome = await run(self.decide, principal, resource)
        receipt = await store(outcome.receipt)
        decision = outcome.decision
        explained = {
            "decision": decision.decision, "resource": outcome.request.resource.id,
            "reasons": msgspec.to_builtins(decision.reasons),
            "license_routes": msgspec.to_builtins(decision.license_routes),
            "policy_hash": outcome.policy_hash, "manifest_hash": outcome.manifest_hash,
            "receipt": receipt.token, "receipt_id": receipt.jti,
        }
        if decision.decision == "deny":
            raise PreviewDenied(f"the policy denies you a preview of "
                                f"{outcome.request.resource.id}", extensions=explained)
        if decision.decision == "license_required":
            raise PreviewLicenseRequired(
                f"a preview of {outcome.request.resource.id} needs a license: see "
                "license_routes", extensions=explained)
        answer: PreviewAnswer = await run(self.grant, outcome, receipt, principal,
                                          self.render_settings.looped(loop))
        return answer

    def grant(self, outcome: DecisionOutcome, receipt: Receipt, principal: Principal,
              render: RenderSettings | None = None) -> PreviewAnswer:
        """Render (or find) and sign (or find) the preview of a permitted hook with
        ``render`` (the service's settings when None); answer its signed URL."""
        render = render or self.render_settings
        ref = outcome.request.resource
        hook = self._catalog.hook(ref.path)
        track = self._catalog.track(hook.track_id)
        audio = self._records.audio(track.audio_hash)
        if audio is None:
            raise AudioMissing(f"no audio has been uploaded for track {track.id!r} "
                               f"({track.audio_hash})")
        check_window(hook.start_ms, hook.end_ms, duration_ms=audio.duration_ms,
                     max_seconds=self._limits.max_seconds)
        render_key = _key("render", audio.content_hash, hook.start_ms, hook.end_ms,
                          render.key(), outcome.policy_hash)
        rendered, fresh = self._rendered(render_key, audio.content_hash, audio.format,
                                         hook.start_ms, hook.end_ms, render)
        terms = f"{self._limits.issuer}/r/{ref.release_id}"
        ai = {scope: self._decisions.evaluate(build_request(scope, ref, principal=ANALYST))[0]
              .decision for scope in ("ai-train", "ai-input")}
        training = training_mining_entries(ai, terms_url=terms)
        binding = binding_of(principal)
        signed_key = _key("signed", render_key, outcome.manifest_hash, binding,
                          json.dumps(training, sort_keys=True))
        signed = self._records.render(signed_key)
        if signed is None or not self._blobs.exists(PREVIEWS, signed.blob_key):
            rights = {
                "resource": ref.id, "release": ref.release_id, "track": track.id,
                "hook": hook.id, "start_ms": hook.start_ms, "end_ms": hook.end_ms,
                "audio_hash": audio.content_hash, "manifest_hash": outcome.manifest_hash,
                "policy_hash": outcome.policy_hash, "receipt_id": receipt.jti,
                "receipt": receipt.token, "terms_url": terms,
                "issuer": self._limits.issuer,
            }
            data = fresh if fresh is not None else self._read(RENDERS, rendered.blob_key)
            signed_bytes = sign_preview(data, mime=rendered.media_type,
                                        identity=self._identity(),
                                        title=f"{hook.caption[:80]} (preview)",
                                        rights=rights, training=training)
            signed = self._put(PREVIEWS, signed_key, signed_bytes, rendered)
            self._memory.put(signed.blob_key, signed_bytes)  # its first GET reads memory
        usage = content_usage({**ai, "reference": self._decisions.evaluate(
            build_request("reference", ref, principal=ANALYST))[0].decision})
        expires = int(time.time()) + self._limits.url_ttl_seconds
        token = self._links.issue(LinkClaims(
            blob=signed.blob_key, media_type=signed.media_type, resource=ref.id,
            start_ms=hook.start_ms, end_ms=hook.end_ms, binding=binding, expires=expires,
            terms=terms, content_usage=usage))
        return PreviewAnswer(
            decision="permit", resource=ref.id, start_ms=hook.start_ms, end_ms=hook.end_ms,
            media_type=signed.media_type, loop=render.loop_crossfade_ms > 0,
            preview_url=f"{self._limits.issuer}/v1/previews/{token}", expires_at=expires,
            obligations=msgspec.to_builtins(outcome.decision.obligations),
            policy_hash=outcome.policy_hash, manifest_hash=outcome.manifest_hash,
            receipt=receipt.token, receipt_id=receipt.jti, terms_url=terms,
            content_usage=usage)

    def _rendered(self, render_key: str, audio_hash: str, fmt: str, start_ms: int,
                  end_ms: int, render: RenderSettings) -> tuple[RenderRecord, bytes | None]:
        """The render's record, and its bytes when rendered now (not read back)."""
        known = self._records.render(render_key)
        if known is not None and self._blobs.exists(RENDERS, known.blob_key):
            return known, None
        source = self._blobs.local_path(AUDIO, audio_hash.removeprefix("sha256:"),
                                        self._scratch)
        out = render_preview(source, fmt, start_ms=start_ms, end_ms=end_ms,  # type: ignore[arg-type]
                             settings=render)
        return self._put(RENDERS, render_key, out.data, RenderRecord(
            render_key=render_key, blob_key="", media_type=out.media_type,
            duration_ms=out.duration_ms, loudness_lufs=out.loudness_lufs,
            gain_db=out.gain_db)), out.data

    def _put(self, kind: str, key: str, data: bytes, like: RenderRecord) -> RenderRecord:
        blob_key = hashlib.sha256(data).hexdigest()
        self._scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self._scratch, suffix=".part") as temporary:
            temporary.write(data)
            temporary.flush()
            self._blobs.put_file(kind, blob_key, Path(temporary.name))
        record = msgspec.structs.replace(like, render_key=key, blob_key=blob_key)
        self._records.add_render(record)
        return record

    def _read(self, kind: str, key: str) -> bytes:
        return b"".join(self._blobs.open_range(kind, key))

    def open_link(self, token: str, principal: Principal) -> LinkClaims:
        """The claims of a preview URL the caller may use. Raises PreviewLinkInvalid
        (expired, tampered, another principal's)."""
        return self._links.open(token, principal=principal, now=time.time())

    def cached_preview(self, blob: str) -> bytes | None:
        """The signed preview's bytes if this process holds them (no I/O)."""
        return self._memory.get(blob)

    def preview_file(self, blob: str) -> tuple[str, int] | None:
        """A local file holding the signed preview, and its size, if this process has
        found it before (no I/O)."""
        return self._files.get(blob)

    def load_preview_file(self, blob: str) -> tuple[str, int]:
        """The local file of the signed preview (the folder store's own, or a copy of a
        remote one in the scratch folder) and its size, remembered for the next
        request. Raises AudioMissing."""
        path = self._blobs.local_path(PREVIEWS, blob, self._scratch / PREVIEWS)
        found = (str(path), path.stat().st_size)
        with self._files_lock:
            if len(self._files) >= PREVIEW_FILES_KNOWN:
                self._files.pop(next(iter(self._files)))
            self._files[blob] = found
        return found

    def load_preview(self, blob: str) -> bytes:
        """The signed preview's bytes from the blob store, kept in memory for the next
        request (a bounded cache: previews are about half a megabyte). Raises
        AudioMissing."""
        data = b"".join(self._blobs.open_range(PREVIEWS, blob))
        self._memory.put(blob, data)
        return data


class BytesCache:
    """A least-recently-used cache of byte strings, bounded by their total size."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: str, data: bytes) -> None:
        if len(data) > self._limit:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = data
            self._size += len(data)
            while self._size > self._limit:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)


def content_usage(decisions: dict[str, str]) -> str:
    """The IETF aipref ``Content-Usage`` value from the decisions by scope of the
    vocabulary's categories (casset_rights/agents/aipref.py): only a permit is a ``y``."""
    return aipref.field_value(decisions)


def _key(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
