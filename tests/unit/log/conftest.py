"""Fixtures of the log tests: a fixed signing key and a log on each test database."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from log_support import ORIGIN, SEED, Clock
from sqlalchemy import Engine

from casset_rights.log import TransparencyLog


@pytest.fixture
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(SEED)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def log(engine: Engine, signing_key: Ed25519PrivateKey, clock: Clock) -> TransparencyLog:
    return TransparencyLog(engine, origin=ORIGIN, signing_key=signing_key,
                           checkpoint_every_appends=5, checkpoint_every_seconds=10, clock=clock)
