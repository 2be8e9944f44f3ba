"""Client secrets and other bearer credentials: generated here, stored only as hashes,
compared in constant time.

The secrets are 256 bits from ``secrets``, never chosen by people, so a salted SHA-256
cannot be searched backwards; a slow password hash would only add latency to every
token request. Codes and refresh tokens are looked up by an unsalted SHA-256, which is
as strong for random values and lets the database index them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SECRET_SCHEME = "sha256"
_NO_SECRET = (SECRET_SCHEME, "00" * 16, "0" * 64)


def new_secret() -> str:
    """A fresh client secret, refresh token or authorization code (43 characters)."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """``sha256$<salt>$<digest>``, hex; what the clients table stores."""
    salt = secrets.token_bytes(16)
    digest = hashlib.sha256(salt + secret.encode("utf-8")).hexdigest()
    return f"{SECRET_SCHEME}${salt.hex()}${digest}"


def check_secret(secret: str, stored: str | None) -> bool:
    """Whether ``secret`` matches ``stored``, in time that does not depend on where they
    differ. A client without a stored secret (private_key_jwt) never matches, after the
    same work."""
    try:
        scheme, salt_hex, digest = stored.split("$", 2) if stored else _NO_SECRET
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    if scheme != SECRET_SCHEME:
        return False
    candidate = hashlib.sha256(salt + secret.encode("utf-8")).hexdigest()
    # compare_digest takes time independent of the contents; the lengths are public.
    return hmac.compare_digest(candidate, digest) and stored is not None


def lookup_hash(value: str) -> str:
    """The index key of a code or refresh token: SHA-256 hex of the value."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()
