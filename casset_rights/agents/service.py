"""``AgentTerms``: the agent-facing exports of the rights index, cached per generation.

Every answer is computed from the rights index (``terms.resource_terms``) and kept until
the index's generation moves (a new policy or manifest version), so serving
``robots.txt`` or a header costs a dictionary look-up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from casset_rights.agents import aipref, odrl, rsl
from casset_rights.agents.deed import Deed, release_deed, waveform_of, with_waveforms
from casset_rights.agents.terms import (
    ResourceTerms,
    deed_path,
    release_resources,
    resource_terms,
)
from casset_rights.decisions.index import RightsIndex
from casset_rights.errors import NotFound
from casset_rights.manifests import CatalogService
from casset_rights.resources import ResourceRef, is_segment, parse_resource

T = TypeVar("T")


# The result of the finished analysis of an audio blob (by its content hash), or None.
AnalysisResults = Callable[[str], "dict[str, Any] | None"]


class AgentTerms:
    def __init__(self, *, index: RightsIndex, catalog: CatalogService, base: str,
                 analyses: AnalysisResults | None = None) -> None:
        self._index = index
        self._catalog = catalog
        self._analyses = analyses
        self.base = base
        self._lock = threading.Lock()
        self._generation: tuple[int, int] | None = None
        self._cache: dict[Any, Any] = {}

    @property
    def rsl_url(self) -> str:
        return f"{self.base}/rsl.xml"

    @property
    def license_server(self) -> str:
        """RSL's license server: the Open License Protocol endpoints live under it."""
        return f"{self.base}/olp"

    def _cached(self, key: Any, make: Callable[[], T]) -> T:
        generation = self._index.generation
        with self._lock:
            if generation != self._generation:
                self._cache.clear()
                self._generation = generation
            if key in self._cache:
                return self._cache[key]  # type: ignore[no-any-return]
        value = make()
        with self._lock:
            self._cache[key] = value
        return value

    # -- the engine's answers ----------------------------------------------------------

    def terms(self, resource: str | ResourceRef) -> ResourceTerms:
        """Raises InvalidInput (malformed id) or UnknownResource."""
        ref = resource if isinstance(resource, ResourceRef) else parse_resource(resource)
        return self._cached(("terms", ref.id), lambda: resource_terms(self._index, ref))

    def release_terms(self, release_id: str) -> list[ResourceTerms]:
        """The release, its tracks and hooks. Raises UnknownResource."""
        release = self._index.release(release_id)
        return [self.terms(ref) for ref in release_resources(release)]

    def artist_terms(self, artist_id: str) -> list[ResourceTerms]:
        """Raises NotFound for an artist with no release in the catalog."""
        releases = [r for r in self._index.all_releases() if r.artist_id == artist_id]
        if not is_segment(artist_id) or not releases:
            raise NotFound(f"no releases of artist {artist_id!r}")
        return [t for r in releases for t in self.release_terms(r.release_id)]

    def all_terms(self) -> list[ResourceTerms]:
        return [t for r in self._index.all_releases() for t in self.release_terms(r.release_id)]

    # -- exports ---------------------------------------------------------------------

    def rsl(self, *, artist: str | None = None, release: str | None = None) -> rsl.RslDocument:
        """The RSL document of the service, an artist or a release."""
        def make() -> rsl.RslDocument:
            resources = (self.release_terms(release) if release is not None
                         else self.artist_terms(artist) if artist is not None
                         else self.all_terms())
            return rsl.rsl_document(resources, base=self.base,
                                    license_server=self.license_server)
        return self._cached(("rsl", artist, release), make)

    def deed(self, release_id: str) -> Deed:
        """The deed of a release (reads its head manifest), with the waveforms of the
        tracks whose audio has been analysed (looked up each time: an analysis finishing
        does not move the index's generation). Raises UnknownResource."""
        def make() -> tuple[Deed, tuple[str, ...]]:
            terms = self.release_terms(release_id)
            manifest = self._catalog.head(release_id).manifest
            return (release_deed(terms, manifest, base=self.base),
                    tuple(t.audio.content_hash for t in manifest.tracks))
        deed, audio_hashes = self._cached(("deed", release_id), make)
        if self._analyses is None:
            return deed
        return with_waveforms(deed, [waveform_of(self._analyses(h)) for h in audio_hashes])

    def protected_resource(self, path: str, *, issuer: str,
                           scopes: list[str]) -> dict[str, Any]:
        """RFC 9728 metadata: of the API (``path`` empty or ``v1``) or of the MCP
        endpoint (``mcp``). Raises NotFound for any other resource."""
        if path not in ("", "v1", "mcp"):
            raise NotFound(f"no protected resource {path!r}")
        resource = f"{self.base}/mcp" if path == "mcp" else f"{self.base}/v1"
        return {"resource": resource, "authorization_servers": [issuer],
                "scopes_supported": scopes, "bearer_methods_supported": ["header"],
                "resource_name": "Casset Rights" + (" (MCP)" if path == "mcp" else ""),
                "resource_documentation": f"{self.base}/schema"}

    def robots_txt(self) -> str:
        return self._cached("robots", lambda: aipref.robots_txt(
            self.all_terms(), base=self.base, rsl_url=self.rsl_url))

    def tdmrep(self) -> list[dict[str, Any]]:
        return self._cached("tdmrep", lambda: odrl.tdmrep(self.all_terms(), base=self.base))

    def policy_offer(self, policy_id: str) -> dict[str, Any]:
        """The ODRL Offer of a stored policy. Raises NotFound."""
        for policy in self._index.all_policies():
            if policy.id == policy_id:
                return odrl.policy_offer(policy, base=self.base)
        raise NotFound(f"no policy {policy_id!r}")

    def tdm_offer(self, resource: str) -> dict[str, Any]:
        """The TDMRep policy of a resource. Raises NotFound when no route opens mining."""
        offer = odrl.tdm_offer(self.terms(resource), base=self.base)
        if offer is None:
            raise NotFound(f"{resource}: no license route opens text and data mining")
        return offer

    def headers(self, ref: ResourceRef) -> list[tuple[bytes, bytes]]:
        """The header fields of a response that serves ``ref`` (or its release's deed),
        encoded for ASGI: ``Content-Usage``, ``Link`` (rel=license to the deed and the
        RSL document) and the TDMRep pair. Raises UnknownResource."""
        def make() -> list[tuple[bytes, bytes]]:
            terms = self.terms(ref)
            deed = self.base + deed_path(ref.release_id)
            out = {"content-usage": aipref.content_usage(terms),
                   "link": f'<{deed}>; rel="license", <{self.base}/r/{ref.release_id}/rsl.xml>'
                           f'; rel="license"; type="{rsl.MEDIA_TYPE}"',
                   "tdm-reservation": str(int(odrl.tdm_reserved(terms)))}
            if odrl.tdm_reserved(terms) and odrl.tdm_offer(terms, base=self.base):
                out["tdm-policy"] = f"{self.base}/odrl/tdm/{ref.id}"
            return [(k.encode(), v.encode()) for k, v in out.items()]
        return self._cached(("headers", ref.id), make)
