"""A client generated from the OpenAPI document (openapi-python-client) drives the
licensing flow against the running service: a token from its OAuth server, a decision
that says a license is required, a quote, the license, and its introspection.

The generator must write the client without one warning. Its one setting: media types
it does not know are bytes to it, as its documentation says to tell it: a policy file sent
as YAML or plain text, and the answers that are not JSON nor text (a preview's audio, an
RSL document, a PEM certificate).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow

GENERATOR_CONFIG = """\
content_type_overrides:
  application/yaml: application/octet-stream
  application/x-yaml: application/octet-stream
  text/yaml: application/octet-stream
  text/x-yaml: application/octet-stream
  text/plain: application/octet-stream
  audio/mp4: application/octet-stream
  audio/mpeg: application/octet-stream
  application/rsl+xml: application/octet-stream
  application/x-pem-file: application/octet-stream
"""
PACKAGE = "casset_rights_client"
MIDNIGHT = "release:midnight-tapes"


@pytest.fixture(scope="module")
def generated(live_server: Any, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[ModuleType, str]]:
    """The generated package, imported, and what the generator printed."""
    folder = tmp_path_factory.mktemp("client")
    document = folder / "openapi.json"
    document.write_bytes(httpx.get(f"{live_server.url}/schema/openapi.json").content)
    config = folder / "config.yaml"
    config.write_text(GENERATOR_CONFIG)
    bin_dir = Path(sys.executable).parent
    done = subprocess.run(
        [str(bin_dir / "openapi-python-client"), "generate", "--path", str(document),
         "--meta", "none", "--output-path", str(folder / PACKAGE), "--config", str(config)],
        capture_output=True, text=True, timeout=300, cwd=folder, check=False,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin"})  # its ruff pass needs ruff on PATH
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE), done.stdout + done.stderr
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def test_the_generator_writes_the_client_without_a_warning(
        generated: tuple[ModuleType, str]) -> None:
    _, output = generated
    assert "warning" not in output.lower(), output
    assert "error" not in output.lower(), output


def test_the_generated_client_obtains_and_introspects_a_license(
        live_server: Any, generated: tuple[ModuleType, str]) -> None:
    package, _ = generated
    models = importlib.import_module(f"{PACKAGE}.models")
    oauth = importlib.import_module(f"{PACKAGE}.api.oauth.oauth_token")
    decide = importlib.import_module(f"{PACKAGE}.api.decisions.decisions_decide")
    quote = importlib.import_module(f"{PACKAGE}.api.licenses.licenses_quote")
    obtain = importlib.import_module(f"{PACKAGE}.api.licenses.licenses_obtain")
    introspect = importlib.import_module(f"{PACKAGE}.api.licenses.licenses_introspect")

    agent = live_server.clients["agent"]
    with package.Client(base_url=live_server.url, raise_on_unexpected_status=True,
                        httpx_args={"auth": (agent.client.client_id, agent.secret)}) as anonymous:
        token = oauth.sync(client=anonymous, body=models.OauthTokenBody(
            grant_type=models.OauthTokenBodyGrantType.CLIENT_CREDENTIALS))
    assert isinstance(token, models.TokenAnswer), token
    assert "licenses:request" in token.scope.split()

    with package.AuthenticatedClient(base_url=live_server.url, token=token.access_token,
                                     raise_on_unexpected_status=True) as client:
        decision = decide.sync(client=client, body=models.DecisionRequestBody(
            action=models.DecisionRequestBodyAction.AI_INPUT, resource=MIDNIGHT))
        assert isinstance(decision, models.DecisionAnswer), decision
        assert decision.decision == models.DecisionAnswerDecision.LICENSE_REQUIRED
        route = decision.license_routes[0]
        assert route.type_ == models.LicenseRouteType.FREE

        offer = quote.sync(client=client, body=models.QuoteBody(resource=MIDNIGHT,
                                                                route=route.name))
        assert isinstance(offer, models.QuoteOut), offer
        assert offer.used is False and offer.resource == MIDNIGHT

        granted = obtain.sync(client=client, body=models.ObtainBody(quote_id=offer.id))
        assert isinstance(granted, models.Granted), granted
        license_ = granted.license_
        assert license_.status == models.LicenseOutStatus.ACTIVE
        assert license_.scopes == ["ai-input"] and isinstance(license_.token, str)

        answer = introspect.sync(client=client, body=models.IntrospectBody(
            token=license_.token, resource="hook:midnight-tapes/1/chorus",
            scope=models.IntrospectBodyScope.AI_INPUT))
        assert isinstance(answer, models.IntrospectionOut), answer
        assert answer.active is True and answer.license_id == license_.id

    # A quote is spent once: the second try is a typed problem, not an exception.
    with package.AuthenticatedClient(base_url=live_server.url,
                                     token=token.access_token) as client:
        spent = obtain.sync_detailed(client=client, body=models.ObtainBody(quote_id=offer.id))
    assert spent.status_code == 409
    assert isinstance(spent.parsed, models.Problem) and spent.parsed.code == "quote_used"
