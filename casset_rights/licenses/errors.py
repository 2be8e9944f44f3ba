"""Licensing's domain errors; each a subclass of a base the API already maps to a status."""

from __future__ import annotations

from casset_rights.errors import Conflict, Forbidden, InvalidInput, NotFound


class UnknownRoute(InvalidInput):
    """The policy chain of the resource defines no route of that name."""

    code = "unknown_route"


class RouteNotOffered(Forbidden):
    """The route exists but is not what the policy answers this principal, for this scope
    and context (the detail says what the decision is)."""

    code = "route_not_offered"


class QuoteNotFound(NotFound):
    code = "unknown_quote"


class QuoteExpired(InvalidInput):
    code = "quote_expired"


class QuoteUsed(Conflict):
    """The quote already bought a license or a request (a quote is good for one)."""

    code = "quote_used"


class LicenseCapReached(Conflict):
    """The route has given every grant its ``cap`` allows."""

    code = "license_cap_reached"


class LicenseNotFound(NotFound):
    code = "unknown_license"


class RequestNotFound(NotFound):
    code = "unknown_license_request"


class RequestAlreadyDecided(Conflict):
    code = "license_request_decided"


class LicenseAlreadyRevoked(Conflict):
    code = "license_revoked"
