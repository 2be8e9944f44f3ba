"""OAuth 2.0 for machine clients and artists: the authorization server (authlib, on our
stores) and the resource-side check of access tokens.

* ``service.open_auth(settings, engine=..., keys=...)`` builds ``AuthService``: the token,
  authorization, introspection, revocation and registration endpoints as framework-free
  calls, and ``authenticate(bearer_token) -> Principal`` for the request path.
* ``scopes`` names the OAuth scopes routes declare.
* Clients (``clients``), codes (``codes``) and token records (``tokens``) live in the
  database (``tables``); the replay cache of client assertions (``replay``) in Redis or
  in process.

This package does not import the web framework; ``casset_rights.api.oauth`` and
``casset_rights.api.security`` are its HTTP side. See docs/oauth.md.
"""
