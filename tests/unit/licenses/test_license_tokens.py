"""License tokens, grant status over time, licensees, and the payments default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from casset_rights.errors import PaymentsNotConfigured, ReceiptInvalid
from casset_rights.licenses import (
    LICENSE_TYP,
    Grant,
    NoPayments,
    licensee_key,
    rfc3339,
    verify_license_token,
)
from casset_rights.licenses.payments import format_money
from casset_rights.licenses.tokens import sign_license
from casset_rights.policy import LicenseRoute, Money
from casset_rights.principal import PUBLIC, Principal
from casset_rights.receipts.keys import FileKeyStore, b64url, b64url_decode
from casset_rights.receipts.service import ReceiptIssuer
from casset_rights.receipts.verify import verify_receipt

ROUTE = LicenseRoute(name="grounding", policy="nightglass-midnight-tapes",
                     policy_hash="sha256:" + "0" * 64, type="free", scopes=("ai-input",),
                     term_days=30, obligations=("attribute",))


def grant(**changes: object) -> Grant:
    values: dict[str, object] = dict(
        id="lic_1", quote_id="q1", request_id=None, licensee="client:bot",
        principal={"kind": "agent", "client_id": "bot"}, artist_id="nightglass",
        resource="release:midnight-tapes", scopes=("ai-input",), route=ROUTE,
        manifest_hash="sha256:" + "1" * 64, payment_id=None, status="active",
        granted_at_ms=1_000, expires_at_ms=5_000, revoked_at_ms=None, revocation_reason=None,
        token="", receipt_id="r1")
    values.update(changes)
    return Grant(**values)  # type: ignore[arg-type]


def test_a_grant_is_in_force_from_its_grant_until_expiry_or_revocation() -> None:
    g = grant()
    assert g.status_at(999) == (False, "not_yet_valid")
    assert g.status_at(1_000) == (True, "active")
    assert g.status_at(4_999) == (True, "active")
    assert g.status_at(5_000) == (False, "expired")
    revoked = grant(status="revoked", revoked_at_ms=3_000)
    assert revoked.status_at(2_999) == (True, "active")
    assert revoked.status_at(3_000) == (False, "revoked")
    assert revoked.current_status(2_000) == "revoked"
    assert grant(expires_at_ms=None).status_at(10**15) == (True, "active")


def test_licenses_are_held_by_clients_and_artists_not_the_public() -> None:
    assert licensee_key(PUBLIC) is None
    assert licensee_key(Principal(kind="agent", client_id="bot")) == "client:bot"
    assert licensee_key(Principal(kind="partner", client_id="fm")) == "client:fm"
    # An artist holds licenses itself, whichever client acts for it.
    assert licensee_key(Principal(kind="artist", client_id="partner-app",
                                  subject="nightglass")) == "artist:nightglass"
    assert rfc3339(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"


def test_a_license_token_verifies_as_a_license_only(tmp_path: Path) -> None:
    keys = FileKeyStore(tmp_path / "keys")
    token = sign_license(grant(), keys.active(), issuer="http://rights.test")
    claims = verify_license_token(token, keys.jwks())
    assert (claims["jti"], claims["sub"], claims["exp"]) == ("lic_1", "client:bot", 5)
    assert claims["terms"]["name"] == "grounding"
    with pytest.raises(ReceiptInvalid, match="wrong type"):
        verify_receipt(token, keys.jwks())
    receipt = ReceiptIssuer(keys, issuer="http://rights.test").issue(
        "license-quote", {"principal": {"kind": "agent"}})
    with pytest.raises(ReceiptInvalid, match=re.escape(f"expected '{LICENSE_TYP}'")):
        verify_license_token(receipt.token, keys.jwks())
    # Old licenses keep verifying after a key rotation; a changed claim never does.
    keys.rotate()
    assert verify_license_token(token, keys.jwks())["jti"] == "lic_1"
    head, payload, signature = token.split(".")
    widened = b64url(b64url_decode(payload).replace(b'"ai-input"', b'"ai-train"'))
    with pytest.raises(ReceiptInvalid, match="bad signature"):
        verify_license_token(f"{head}.{widened}.{signature}", keys.jwks())


def test_without_a_payment_provider_paid_routes_are_not_configured() -> None:
    payments = NoPayments()
    assert payments.configured is False
    with pytest.raises(PaymentsNotConfigured, match=r"49\.00 USD"):
        payments.collect(quote_id="q", amount=Money(4900, "usd"), payer=PUBLIC,
                         description="remix-license")
    assert format_money(Money(150000, "usd")) == "1500.00 USD"
