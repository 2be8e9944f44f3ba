"""Signed preview URLs: expiring, bound to one principal and one window.

A link's token is ``base64url(claims) "." base64url(HMAC-SHA256(secret, claims))``. The
claims name the signed preview blob, the window, the resource and the principal it was
issued to (``binding``); ``open`` refuses a token that is malformed, whose MAC does not
match (tampered), that has expired, or that another principal presents.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import secrets
from pathlib import Path

import msgspec

from casset_rights.audio.errors import PreviewLinkInvalid
from casset_rights.principal import Principal


class LinkClaims(msgspec.Struct, frozen=True, kw_only=True):
    blob: str  # the signed preview's blob key
    media_type: str
    resource: str
    start_ms: int
    end_ms: int
    binding: str
    expires: int  # Unix seconds
    terms: str
    content_usage: str


def binding_of(principal: Principal) -> str:
    """Who may use a link: the OAuth client for authenticated callers (an artist's or a
    partner's client included), everyone public for public ones."""
    if principal.kind == "public" or not principal.client_id:
        return "public"
    return f"{principal.kind}:{principal.client_id}"


def load_secret(configured: str, keys_dir: Path) -> bytes:
    """The configured secret, or the one kept in ``keys_dir`` (made on first use)."""
    if configured:
        return configured.encode()
    path = keys_dir / "preview-links.secret"
    if not path.exists():
        keys_dir.mkdir(parents=True, exist_ok=True)
        part = path.with_suffix(".part")
        part.write_text(secrets.token_urlsafe(32))
        part.chmod(0o600)
        with contextlib.suppress(FileNotFoundError):
            part.rename(path) if not path.exists() else part.unlink()
    return path.read_text().strip().encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_decoder = msgspec.json.Decoder(LinkClaims)


class PreviewLinks:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, body: bytes) -> bytes:
        return hmac.digest(self._secret, body, "sha256")  # OpenSSL's one-shot HMAC

    def issue(self, claims: LinkClaims) -> str:
        body = msgspec.json.encode(claims)
        return f"{_b64(body)}.{_b64(self._mac(body))}"

    def open(self, token: str, *, principal: Principal, now: float) -> LinkClaims:
        """The claims of a valid token presented by the principal it was issued to.
        Raises PreviewLinkInvalid saying why not."""
        try:
            body_text, mac_text = token.split(".")
            body, mac = _unb64(body_text), _unb64(mac_text)
        except ValueError:
            raise PreviewLinkInvalid("the preview link is malformed") from None
        if not hmac.compare_digest(mac, self._mac(body)):
            raise PreviewLinkInvalid("the preview link's signature does not match: it was "
                                     "altered, or issued by another service")
        try:
            claims = _decoder.decode(body)
        except msgspec.DecodeError:
            raise PreviewLinkInvalid("the preview link is malformed") from None
        if now >= claims.expires:
            raise PreviewLinkInvalid("the preview link has expired; ask POST /v1/previews "
                                     "for a new one")
        if claims.binding != binding_of(principal):
            raise PreviewLinkInvalid("the preview link was issued to another principal")
        return claims
