"""Client metadata (RFC 7591), checked before any client is stored.

Dynamic registration is open to agents only: they get the ``agent`` kind and the machine
scopes. Standard RFC 7591 metadata alone is enough (``client_name``, as MCP clients send
it). An agent acting for itself uses ``client_credentials`` (the default here); an agent
acting for an artist (an MCP client, say) registers for ``authorization_code`` (with
``refresh_token``), ``response_types: ["code"]`` and its redirect URIs, and may be a
public client (``token_endpoint_auth_method: none``) since PKCE is required anyway. An
agent may also declare who operates it and for what purpose (``operator``, ``purpose``:
recorded as attributes policy rules can match on; a rule that asks for them does not
match an agent that did not say). Partners and
artists are created by an operator (``casset-rights clients create``), through the same
checks. Errors are the RFC 7591 ones: ``invalid_redirect_uri`` and
``invalid_client_metadata``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

import msgspec
from authlib.oauth2.rfc7591.errors import InvalidClientMetadataError, InvalidRedirectURIError
from jwt import PyJWK
from jwt.exceptions import PyJWKError

from casset_rights.auth.scopes import DELEGABLE_SCOPES, KIND_SCOPES, MACHINE_SCOPES, scope_set

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
PUBLIC_METHOD = "none"  # RFC 7591 section 2: a public client, for the code grant only
CODE_GRANTS = ({"authorization_code"}, {"authorization_code", "refresh_token"})
SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post"})
PURPOSE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
MAX_URI = 2000
MAX_KEYS = 10
MAX_LISTED = 10  # redirect URIs, contacts
# Key types a client may sign assertions with, and the one algorithm each may use.
ASSERTION_KEYS = {("RSA", None): ("RS256", "PS256"), ("EC", "P-256"): ("ES256",),
                  ("OKP", "Ed25519"): ("EdDSA",)}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class AgentRegistration(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """What an agent sends to the registration endpoint: RFC 7591 client metadata, and
    optionally our extensions ``operator`` (who runs the agent) and ``purpose`` (a short
    slug such as ``search`` or ``assistant``), which policies can match on."""

    client_name: str
    operator: str | None = None
    purpose: str | None = None
    token_endpoint_auth_method: str = "client_secret_basic"
    grant_types: list[str] = msgspec.field(default_factory=lambda: ["client_credentials"])
    response_types: list[str] = msgspec.field(default_factory=list)
    redirect_uris: list[str] = msgspec.field(default_factory=list)
    scope: str | None = None
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    client_uri: str | None = None
    logo_uri: str | None = None
    policy_uri: str | None = None
    tos_uri: str | None = None
    contacts: list[str] = msgspec.field(default_factory=list)
    software_id: str | None = None
    software_version: str | None = None


def parse_agent_registration(document: Any) -> AgentRegistration:
    """Raises InvalidClientMetadataError (or InvalidRedirectURIError) naming the field."""
    if not isinstance(document, dict):
        raise InvalidClientMetadataError("The registration request must be a JSON object.")
    try:
        reg = msgspec.convert(document, AgentRegistration)
    except msgspec.ValidationError as exc:
        raise InvalidClientMetadataError(_ascii(f"Invalid client metadata: {exc}")) from None
    check_text(reg.client_name, "client_name")
    if reg.operator is not None:
        check_text(reg.operator, "operator")
    if reg.purpose is not None and not PURPOSE.match(reg.purpose):
        raise InvalidClientMetadataError(
            "purpose is a lower-case slug of letters, digits and dashes (e.g. search).")
    if len(reg.redirect_uris) > MAX_LISTED or len(reg.contacts) > MAX_LISTED:
        raise InvalidClientMetadataError(
            f"redirect_uris and contacts may list at most {MAX_LISTED} entries each.")
    check_registered_grants(reg)
    if reg.jwks_uri is not None:
        raise InvalidClientMetadataError(
            "jwks_uri is not supported; send the public keys inline as jwks.")
    if reg.token_endpoint_auth_method == PUBLIC_METHOD:
        if reg.jwks is not None:
            raise InvalidClientMetadataError("jwks is only used with private_key_jwt.")
    else:
        check_auth_method(reg.token_endpoint_auth_method, reg.jwks)
    check_redirect_uris(reg.redirect_uris)
    if reg.scope is not None and not scope_set(reg.scope) <= MACHINE_SCOPES:
        raise InvalidClientMetadataError(
            "scope may list only " + " ".join(sorted(MACHINE_SCOPES)) + ".")
    for name in ("client_uri", "logo_uri", "policy_uri", "tos_uri"):
        value = getattr(reg, name)
        if value is not None:
            check_web_uri(value, name)
    for contact in reg.contacts:
        check_text(contact, "contacts")
    for name in ("software_id", "software_version"):
        value = getattr(reg, name)
        if value is not None:
            check_text(value, name)
    return reg


def check_registered_grants(reg: AgentRegistration) -> None:
    """``client_credentials`` alone, or the code grant (with ``refresh_token``) with
    ``response_types: ["code"]`` and at least one redirect URI; a public client
    (``none``) only for the code grant."""
    grants = set(reg.grant_types)
    if len(grants) != len(reg.grant_types):
        raise InvalidClientMetadataError("grant_types lists a grant twice.")
    if grants == {"client_credentials"}:
        if reg.response_types:
            raise InvalidClientMetadataError(
                "response_types must be empty for client_credentials.")
        if reg.token_endpoint_auth_method == PUBLIC_METHOD:
            raise InvalidClientMetadataError(
                "A client using client_credentials must authenticate; none is refused.")
        return
    if grants not in CODE_GRANTS:
        raise InvalidClientMetadataError(
            "grant_types is client_credentials alone, or authorization_code with "
            "refresh_token optionally; partner platforms are created by the operator.")
    if reg.response_types and set(reg.response_types) != {"code"}:  # absent means code
        raise InvalidClientMetadataError(
            "authorization_code goes with the response type code (RFC 7591 section 2.1).")
    if not reg.redirect_uris:
        raise InvalidRedirectURIError("authorization_code needs at least one redirect URI.")


def check_text(value: str, field: str, *, limit: int = 200) -> None:
    if not value.strip() or len(value) > limit or not value.isprintable():
        raise InvalidClientMetadataError(
            f"{field} must be printable text of 1 to {limit} characters.")


def check_auth_method(method: str, jwks: dict[str, Any] | None) -> None:
    if method not in AUTH_METHODS:
        raise InvalidClientMetadataError(
            "token_endpoint_auth_method must be one of " + ", ".join(AUTH_METHODS) + ".")
    if method == "private_key_jwt":
        if jwks is None:
            raise InvalidClientMetadataError("private_key_jwt needs the public keys in jwks.")
        check_jwks(jwks)
    elif jwks is not None:
        raise InvalidClientMetadataError("jwks is only used with private_key_jwt.")


def check_jwks(jwks: Any) -> None:
    """Public keys only, of the types assertions may be signed with (RSA of 2048 bits
    or more, P-256, Ed25519)."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not 1 <= len(keys) <= MAX_KEYS:
        raise InvalidClientMetadataError(f"jwks must hold 1 to {MAX_KEYS} keys.")
    for jwk in keys:
        if not isinstance(jwk, dict) or _PRIVATE_MEMBERS & set(jwk):
            raise InvalidClientMetadataError("jwks must hold public keys only.")
        if key_algorithms(jwk) == ():
            raise InvalidClientMetadataError(
                "jwks keys must be RSA (2048 bits or more), EC P-256 or OKP Ed25519.")


def key_algorithms(jwk: dict[str, Any]) -> tuple[str, ...]:
    """The algorithms an assertion signed with this key may use; () when unusable."""
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if not isinstance(kty, str) or not (crv is None or isinstance(crv, str)):
        return ()
    algorithms = ASSERTION_KEYS.get((kty, crv))
    if algorithms is None:
        return ()
    try:
        key = PyJWK(jwk, algorithm=algorithms[0])
    except (PyJWKError, ValueError, TypeError, KeyError):
        return ()
    if kty == "RSA" and key.key.key_size < 2048:
        return ()
    if "alg" in jwk and jwk["alg"] not in algorithms:
        return ()
    return (jwk["alg"],) if "alg" in jwk else algorithms


def check_redirect_uris(uris: list[str]) -> None:
    for uri in uris:
        problem = redirect_uri_problem(uri)
        if problem:
            raise InvalidRedirectURIError(_ascii(problem))


def redirect_uri_problem(uri: str) -> str | None:
    """Why ``uri`` may not be a redirect URI, or None.

    An https URL with a host; or http to a loopback address (RFC 8252 native apps).
    No fragment (RFC 6749 section 3.1.2), no user information, no wildcards, ASCII only
    (international names in their punycode form). These are compared exactly as
    registered, character for character, at the authorization and token endpoints.
    """
    if not uri or len(uri) > MAX_URI or not uri.isascii() or not uri.isprintable() \
            or any(c in uri for c in ' "<>\\^`{|}*'):
        return "A redirect URI must be ASCII without spaces, quotes or wildcards."
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return "A redirect URI must be an absolute URL."
    if parts.fragment or "#" in uri:
        return "A redirect URI must not have a fragment."
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "A redirect URI must not carry user information."
    host = parts.hostname or ""
    if not host:
        return "A redirect URI must be an absolute URL with a host."
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and _loopback(host):
        return None
    return "A redirect URI must use https (or http to a loopback address)."


def check_web_uri(uri: str, field: str) -> None:
    if redirect_uri_problem(uri) is not None or not uri.startswith("https://"):
        raise InvalidClientMetadataError(f"{field} must be an https URL.")


def check_operator_client(*, kind: str, grant_types: list[str], scope: str,
                          redirect_uris: list[str], auth_method: str,
                          jwks: dict[str, Any] | None) -> None:
    """The checks for a client an operator creates (partners, artists, vetted agents)."""
    if kind not in KIND_SCOPES:
        raise InvalidClientMetadataError("kind is agent, partner or artist.")
    allowed_grants = {"agent": {"client_credentials"}, "artist": {"client_credentials"},
                      "partner": {"client_credentials", "authorization_code",
                                  "refresh_token"}}[kind]
    if not grant_types or not set(grant_types) <= allowed_grants:
        raise InvalidClientMetadataError(
            f"a {kind} client may use " + ", ".join(sorted(allowed_grants)) + ".")
    if "authorization_code" in grant_types and not redirect_uris:
        raise InvalidClientMetadataError("authorization_code needs at least one redirect URI.")
    check_auth_method(auth_method, jwks)
    check_redirect_uris(redirect_uris)
    allowed = DELEGABLE_SCOPES if kind == "partner" else KIND_SCOPES[kind]
    if not scope_set(scope) or not scope_set(scope) <= allowed:
        raise InvalidClientMetadataError(
            f"scope of a {kind} client may list only " + " ".join(sorted(allowed)) + ".")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ascii(text: str) -> str:
    """OAuth error descriptions allow printable ASCII except quote and backslash."""
    return "".join(c if 0x20 <= ord(c) <= 0x7E and c not in '"\\' else "?" for c in text)
