"""Secrets, redirect URIs and client keys: the checks made before anything is stored."""

from __future__ import annotations

import pytest
from authlib.oauth2.rfc7591.errors import InvalidClientMetadataError, InvalidRedirectURIError
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from casset_rights.auth.credentials import check_secret, hash_secret, lookup_hash, new_secret
from casset_rights.auth.registration import (
    check_jwks,
    check_operator_client,
    key_algorithms,
    parse_agent_registration,
    redirect_uri_problem,
)


def test_secrets_hash_with_a_salt_and_check() -> None:
    secret = new_secret()
    assert len(secret) >= 43
    first, second = hash_secret(secret), hash_secret(secret)
    assert first != second and secret not in first
    assert check_secret(secret, first) and check_secret(secret, second)
    assert not check_secret(secret + "x", first)
    assert not check_secret(secret, None)
    assert not check_secret(secret, "md5$00$00")
    assert not check_secret(secret, "garbage")
    assert lookup_hash(secret) == lookup_hash(secret) != lookup_hash(secret + "x")


@pytest.mark.parametrize("uri", [
    "https://partner.example/cb", "https://partner.example:8443/oauth/cb?x=1",
    "http://127.0.0.1:9000/cb", "http://localhost/cb", "http://[::1]:8080/cb",
    "https://xn--vil-bma.example/cb",
])
def test_good_redirect_uris(uri: str) -> None:
    assert redirect_uri_problem(uri) is None


@pytest.mark.parametrize("uri", [
    "", "javascript:alert(1)", "data:text/html,x", "http://partner.example/cb",
    "https://partner.example/cb#f", "https://partner.example/cb#", "https://u@partner.example/",
    "https://*.example/cb", "https://partner.example/\u00e9", "ftp://partner.example/",
    "https://partner.example:0x1/", "https:partner.example", "http://10.0.0.1/cb",
    "https://partner.example/a b", "https://" + "a" * 2000 + ".example/",
])
def test_bad_redirect_uris(uri: str) -> None:
    assert redirect_uri_problem(uri) is not None


def _jwk(key: object, alg: type) -> dict[str, object]:
    return alg.to_jwk(key, as_dict=True)  # type: ignore[attr-defined, no-any-return]


def test_client_keys() -> None:
    p256 = _jwk(ec.generate_private_key(ec.SECP256R1()).public_key(), ECAlgorithm)
    p384 = _jwk(ec.generate_private_key(ec.SECP384R1()).public_key(), ECAlgorithm)
    ed = _jwk(ed25519.Ed25519PrivateKey.generate().public_key(), OKPAlgorithm)
    rsa_ok = _jwk(rsa.generate_private_key(65537, 2048).public_key(), RSAAlgorithm)
    rsa_small = _jwk(rsa.generate_private_key(65537, 1024).public_key(), RSAAlgorithm)
    assert key_algorithms(p256) == ("ES256",)
    assert key_algorithms(ed) == ("EdDSA",)
    assert key_algorithms(rsa_ok) == ("RS256", "PS256")
    assert key_algorithms({**rsa_ok, "alg": "PS256"}) == ("PS256",)
    assert key_algorithms({**rsa_ok, "alg": "HS256"}) == ()
    assert key_algorithms(p384) == () and key_algorithms(rsa_small) == ()
    assert key_algorithms({"kty": "oct", "k": "c2VjcmV0"}) == ()
    check_jwks({"keys": [p256, ed, rsa_ok]})
    private = _jwk(ec.generate_private_key(ec.SECP256R1()), ECAlgorithm)
    for bad in ({"keys": [private]}, {"keys": []}, {"keys": [p384]}, {"keys": "x"}, [],
                {"keys": [p256] * 11}):
        with pytest.raises(InvalidClientMetadataError):
            check_jwks(bad)


def test_agent_registration() -> None:
    reg = parse_agent_registration({"client_name": "A", "operator": "Op", "purpose": "rag",
                                    "unknown_field": 1})
    assert reg.grant_types == ["client_credentials"]
    with pytest.raises(InvalidRedirectURIError):
        parse_agent_registration({"client_name": "A", "operator": "Op", "purpose": "rag",
                                  "redirect_uris": ["http://evil.example/"]})
    for bad in ({"client_name": "", "operator": "Op", "purpose": "rag"},
                {"client_name": "A", "operator": "Op\x00", "purpose": "rag"},
                {"client_name": "A", "operator": "Op", "purpose": "rag",
                 "client_uri": "javascript:x"},
                {"client_name": "A", "operator": "Op", "purpose": "rag",
                 "token_endpoint_auth_method": "private_key_jwt"},
                {"client_name": "A", "operator": "Op", "purpose": "rag",
                 "response_types": ["code"]},
                {"client_name": 5, "operator": "Op", "purpose": "rag"}):
        with pytest.raises(InvalidClientMetadataError):
            parse_agent_registration(bad)


def test_operator_clients() -> None:
    check_operator_client(kind="partner", grant_types=["client_credentials",
                                                       "authorization_code"],
                          scope="rights:read catalog:write",
                          redirect_uris=["https://p.example/cb"],
                          auth_method="client_secret_basic", jwks=None)
    for kwargs in (
        {"kind": "agent", "grant_types": ["authorization_code"], "scope": "rights:read"},
        {"kind": "agent", "grant_types": ["client_credentials"], "scope": "catalog:write"},
        {"kind": "partner", "grant_types": ["authorization_code"], "scope": "rights:read"},
        {"kind": "admin", "grant_types": ["client_credentials"], "scope": "rights:read"},
        {"kind": "artist", "grant_types": ["client_credentials"], "scope": ""},
    ):
        with pytest.raises(InvalidClientMetadataError):
            check_operator_client(redirect_uris=[], auth_method="client_secret_basic",
                                  jwks=None, **kwargs)  # type: ignore[arg-type]
