"""OAuth scopes: what a token lets its holder do with the API (not the music scopes of
the policy language, which say what may be done with a work).

Every route declares the one it needs (``casset_rights.api.security.needs``).
Which scopes a client can hold depends on its kind; the ``write`` scopes belong to
artists, directly or through a partner an artist authorised.
"""

from __future__ import annotations

from collections.abc import Iterable

RIGHTS_READ = "rights:read"
LICENSES_REQUEST = "licenses:request"
LICENSES_MANAGE = "licenses:manage"
CATALOG_WRITE = "catalog:write"
POLICIES_WRITE = "policies:write"
AUDIO_WRITE = "audio:write"

OAUTH_SCOPES: dict[str, str] = {
    RIGHTS_READ: "read releases, decisions, the rights grid and receipts",
    LICENSES_REQUEST: "ask for quotes and licenses",
    LICENSES_MANAGE: "see and manage the licenses you hold",
    CATALOG_WRITE: "publish new versions of the artist's releases",
    POLICIES_WRITE: "change and dry-run the artist's policies",
    AUDIO_WRITE: "upload the audio of the artist's tracks and queue its analysis",
}

MACHINE_SCOPES = frozenset({RIGHTS_READ, LICENSES_REQUEST, LICENSES_MANAGE})
ARTIST_SCOPES = frozenset(OAUTH_SCOPES)

# What a client of each kind may hold in its own name (client_credentials). A partner may
# ask an artist for more through the authorization code grant.
KIND_SCOPES: dict[str, frozenset[str]] = {
    "agent": MACHINE_SCOPES,
    "partner": MACHINE_SCOPES,
    "artist": ARTIST_SCOPES,
}
# What a partner may ask an artist for (and so what its registration may list).
DELEGABLE_SCOPES = ARTIST_SCOPES


def scope_set(scope: str | None) -> frozenset[str]:
    """The scopes of a space-separated ``scope`` parameter (RFC 6749 section 3.3)."""
    return frozenset(scope.split()) if scope else frozenset()


def scope_text(scopes: Iterable[str]) -> str:
    """Scopes as the parameter value, sorted so equal sets read alike."""
    return " ".join(sorted(set(scopes)))
