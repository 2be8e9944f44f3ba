"""The plain, server-rendered pages of the authorization endpoint: the consent form an
artist answers, and the page shown when a request cannot be sent back to its client.

Every value is HTML-escaped; the pages load nothing, cannot be framed, and are never
cached (they carry the request's state and PKCE challenge).
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlsplit

from casset_rights.auth.consent import AuthorizationRefused, ConsentPrompt

PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

_STYLE = """body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem}
li{margin:.3rem 0}label{display:block;margin:.6rem 0}input{width:100%;padding:.4rem}
button{margin:1rem .5rem 0 0;padding:.5rem 1.2rem}.error{color:#a00}code{font-size:.9em}"""


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body><main>{body}</main></body></html>")


def consent_page(prompt: ConsentPrompt, *, action: str) -> str:
    name = escape(prompt.client_name)
    badge = "verified partner" if prompt.verified else "partner"
    host = escape(urlsplit(prompt.redirect_uri).netloc)
    scopes = "".join(f"<li><strong>{escape(s)}</strong>: {escape(text)}</li>"
                     for s, text in prompt.scopes)
    hidden = "".join(f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
                     for k, v in prompt.params)
    error = f'<p class="error" role="alert">{escape(prompt.error)}</p>' if prompt.error else ""
    body = (
        f"<h1>{name} asks to act for you</h1>"
        f"<p>{name} ({badge}, client <code>{escape(prompt.client_id)}</code>) will be sent "
        f"back to <code>{host}</code> and may then:</p><ul>{scopes}</ul>"
        f"<p>Sign in with your artist client to answer. You can revoke this later.</p>"
        f"{error}"
        f'<form method="post" action="{escape(action)}">{hidden}'
        f'<label>Artist client id <input name="artist_client_id" autocomplete="username">'
        f"</label>"
        f'<label>Artist secret <input type="password" name="artist_secret" '
        f'autocomplete="current-password"></label>'
        f'<button type="submit" name="decision" value="approve">Allow</button>'
        f'<button type="submit" name="decision" value="deny">Deny</button>'
        f"</form>")
    return _page(f"Authorize {prompt.client_name}", body)


def refused_page(refused: AuthorizationRefused) -> str:
    body = (f"<h1>This authorization request cannot be answered</h1>"
            f"<p>Error <code>{escape(refused.error)}</code>: {escape(refused.description)}</p>"
            f"<p>The application that sent you here is not told; return to it and try "
            f"again, or contact its developers.</p>")
    return _page("Authorization request refused", body)
