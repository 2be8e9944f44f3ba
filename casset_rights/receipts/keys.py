"""Signing keys: Ed25519, named by their RFC 7638 thumbprint, rotated, never forgotten.

The embedded default keeps PEM files in the data folder and generates the first key on
first start. Every key ever used stays published in the JWKS after a rotation, so old
receipts keep verifying; only the active key signs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Protocol

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from casset_rights.errors import NotFound


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = {"crv": "Ed25519", "kty": "OKP", "x": b64url(raw)}
    return {**jwk, "kid": thumbprint(jwk), "alg": "EdDSA", "use": "sig"}


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 thumbprint of an OKP key: SHA-256 over the required members, sorted."""
    required = {k: jwk[k] for k in ("crv", "kty", "x")}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True).encode()
    return b64url(hashlib.sha256(canonical).digest())


def public_key_from_jwk(jwk: dict[str, str]) -> Ed25519PublicKey:
    """Raises ValueError when the JWK is not an Ed25519 OKP key."""
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or "x" not in jwk:
        raise ValueError("not an Ed25519 OKP key")
    return Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))


class SigningKey(msgspec.Struct, frozen=True):
    kid: str
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()


class KeyStore(Protocol):
    """Where signing keys live. The production part is a KMS or mounted key files."""

    def active(self) -> SigningKey: ...

    def signing_key(self, kid: str) -> SigningKey:
        """The key ``kid`` (NotFound when there is none)."""
        ...

    def rotate(self) -> SigningKey: ...

    def jwks(self) -> dict[str, list[dict[str, str]]]: ...

    def public_key(self, kid: str) -> Ed25519PublicKey: ...


class FileKeyStore:
    """Ed25519 keys as PEM files in a folder; ``ACTIVE`` names the signing key.

    The first key is generated when the folder holds none. Files are written with mode
    0600, a new key's file before the ``ACTIVE`` marker that names it. Every process
    follows a rotation made by another (the ``keys rotate`` command): ``active`` looks at
    the marker at most every ``follow_seconds``, ``jwks`` at every call, so a key is
    published by every process before any of them signs with it, and signs everywhere
    within ``follow_seconds``.
    """

    def __init__(self, folder: Path, *, follow_seconds: float = 1.0) -> None:
        self._folder = folder
        self._lock = threading.Lock()
        self._keys: dict[str, SigningKey] = {}
        self._active_kid = ""
        self._follow_seconds = follow_seconds
        self._marker_seen: tuple[int, int] | None = None  # (mtime_ns, size) last loaded
        self._next_look = 0.0
        self._load()

    def _load(self) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        keys: dict[str, SigningKey] = {}
        for pem in sorted(self._folder.glob("ed25519-*.pem")):
            private = serialization.load_pem_private_key(pem.read_bytes(), password=None)
            if not isinstance(private, Ed25519PrivateKey):
                raise ValueError(f"{pem} is not an Ed25519 key")
            kid = public_jwk(private.public_key())["kid"]
            keys[kid] = SigningKey(kid=kid, private_key=private)
        self._keys = keys
        marker = self._folder / "ACTIVE"
        active = marker.read_text().strip() if marker.exists() else ""
        if active not in keys:
            self._active_kid = self._generate().kid
        else:
            self._active_kid = active
        self._marker_seen = self._marker_state()

    def _marker_state(self) -> tuple[int, int] | None:
        try:
            found = (self._folder / "ACTIVE").stat()
        except FileNotFoundError:
            return None
        return (found.st_mtime_ns, found.st_size)

    def _follow(self, *, now: bool = False) -> None:
        """Reload the folder if ``ACTIVE`` changed since it was loaded (another process
        rotated); looked at every ``follow_seconds`` at most, unless ``now``."""
        clock = time.monotonic()
        if not now and clock < self._next_look:
            return
        self._next_look = clock + self._follow_seconds
        if self._marker_state() != self._marker_seen:
            with self._lock:
                if self._marker_state() != self._marker_seen:
                    self._load()

    def _generate(self) -> SigningKey:
        private = Ed25519PrivateKey.generate()
        kid = public_jwk(private.public_key())["kid"]
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path = self._folder / f"ed25519-{kid}.pem"
        path.touch(mode=0o600)
        path.write_bytes(pem)
        (self._folder / "ACTIVE").write_text(kid + "\n")
        key = SigningKey(kid=kid, private_key=private)
        self._keys[kid] = key
        return key

    def active(self) -> SigningKey:
        self._follow()
        return self._keys[self._active_kid]

    def signing_key(self, kid: str) -> SigningKey:
        if kid not in self._keys:
            self._follow(now=True)  # perhaps made by another process a moment ago
        try:
            return self._keys[kid]
        except KeyError:
            raise NotFound(f"no key with kid {kid!r}") from None

    def rotate(self) -> SigningKey:
        """Make a new active key; the old ones stay published for verification."""
        with self._lock:
            key = self._generate()
            self._active_kid = key.kid
            self._marker_seen = self._marker_state()
            return key

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        self._follow(now=True)
        return {"keys": [public_jwk(k.public_key) for k in self._keys.values()]}

    def public_key(self, kid: str) -> Ed25519PublicKey:
        return self.signing_key(kid).public_key
