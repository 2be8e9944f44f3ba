"""The log's identity: its own Ed25519 checkpoint key, apart from the receipt keys.

A log is known by its origin and its key: verifiers and witnesses pin the verifier key,
so the key is never rotated with the receipt keys (``casset-rights keys rotate`` touches
only those). The embedded default keeps it in ``<data>/log/log-key.pem`` (mode 0600),
made on first start.

A data folder from before the log had its own key signed checkpoints with the receipt
key active at the time; ``open_log_key`` then adopts the key that signed the newest
checkpoint (``adopt``), so the log keeps the identity its verifiers pinned.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from casset_rights.errors import CassetError
from casset_rights.log.checkpoint import verify_note
from casset_rights.log.tables import log_checkpoints

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from casset_rights.receipts.keys import KeyStore

LOG_KEY_FILE = "log-key.pem"


def open_log_key(folder: Path, *, adopt: Ed25519PrivateKey | None = None) -> Ed25519PrivateKey:
    """The log's key in ``folder``; on first use ``adopt`` (see the module) or a new key.
    Raises ValueError when the file holds something other than an Ed25519 key."""
    path = folder / LOG_KEY_FILE
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 key")
        return key
    folder.mkdir(parents=True, exist_ok=True)
    key = adopt or Ed25519PrivateKey.generate()
    path.touch(mode=0o600)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return key


def signer_among(note: str | None, name: str,
                 candidates: Iterable[Ed25519PrivateKey]) -> Ed25519PrivateKey | None:
    """The candidate key whose signature under ``name`` the note carries, or None."""
    if note is None:
        return None
    for key in candidates:
        try:
            verify_note(note, name=name, public_key=key.public_key())
        except CassetError:
            continue
        return key
    return None


def open_log_identity(folder: Path, *, engine: Engine, keys: KeyStore,
                      origin: str) -> Ed25519PrivateKey:
    """The log's key (``open_log_key``); on first use in a data folder whose log already
    has checkpoints, the receipt key that signed the newest one is adopted."""
    adopt = None
    if not (folder / LOG_KEY_FILE).exists():
        with engine.connect() as conn:
            note = conn.exec_driver_sql(f"SELECT note FROM {log_checkpoints.name} "
                                        "ORDER BY id DESC LIMIT 1").scalar()
        kids = [jwk["kid"] for jwk in keys.jwks()["keys"]]
        adopt = signer_among(note, origin, (keys.signing_key(k).private_key for k in kids))
    return open_log_key(folder, adopt=adopt)
