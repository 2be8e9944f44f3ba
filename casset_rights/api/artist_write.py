"""The artist's write side: new release versions, policies, and the policy dry run.

Every route needs an artist principal (an artist client, or a partner the artist
authorised) and the route's scope; every write is limited to the artist's own catalog.
A release or policy of another artist is answered 404, exactly as one that does not
exist, so ids do not leak.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import msgspec
from anyio import to_thread
from litestar import Controller, Request, Response, get, post, put
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, Parameter

from casset_rights.api.body import POLICY_MEDIA, reads
from casset_rights.api.catalog import version_body
from casset_rights.api.deps import PrincipalDep, ServicesDep
from casset_rights.api.openapi import BODY, PARAMS, SCOPED, document_body, read_by_hand, requirement
from casset_rights.api.problems import problems
from casset_rights.api.schemas import PolicyOut, ValidationReport, VersionOut
from casset_rights.api.security import needs
from casset_rights.auth.scopes import CATALOG_WRITE, POLICIES_WRITE
from casset_rights.decisions.dry_run import dry_run, target_key
from casset_rights.decisions.policy_store import StoredPolicy
from casset_rights.errors import (
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
    PolicyInvalid,
    UnknownResource,
)
from casset_rights.policy import Policy, compile_policy, validate
from casset_rights.principal import Principal
from casset_rights.resources import parse_resource
from casset_rights.services import Services

WRITE_CATALOG = needs(CATALOG_WRITE, anonymous=False)
WRITE_POLICIES = needs(POLICIES_WRITE, anonymous=False)
POLICY_BODY = {**WRITE_POLICIES, **reads("policy")}
VALIDATE_SUFFIX = ":validate"
TAGS = ["artist"]
ValidatePath = Annotated[str, Parameter(
    description="the policy's id, then :validate", schema_extra={"pattern": ":validate$"})]
POLICY_DOCUMENT = read_by_hand(document_body(
    "the policy file: YAML or JSON (schemas/policy.schema.json)", POLICY_MEDIA))


def created_or_same(answer: type, what: str) -> dict[int, ResponseSpec]:
    """201 for a new version, 200 when the same content was the head already."""
    return {201: ResponseSpec(answer, description=f"A new {what}", generate_examples=False),
            200: ResponseSpec(answer, description=f"The same {what} was the head already",
                              generate_examples=False)}


def artist_of(principal: Principal) -> str:
    """Raises Forbidden unless an artist (directly or through a partner) is asking."""
    if principal.kind != "artist" or not principal.subject:
        raise Forbidden("only an artist, or a partner acting for one, writes the catalog")
    return principal.subject


def owned_release(services: Services, release_id: str, artist: str) -> None:
    """Raises UnknownResource for a release that is missing or another artist's."""
    if services.index.release(release_id).artist_id != artist:
        raise UnknownResource(f"no release {release_id!r}")


def check_target(services: Services, policy: Policy, artist: str) -> None:
    """A policy may govern only the artist's own releases, tracks and hooks.
    Raises NotFound (another artist's policy) or UnknownResource (target)."""
    if policy.artist != artist:
        raise NotFound(f"no policy {policy.policy!r} for artist {artist!r}")
    if policy.applies_to == "artist":
        return
    ref = parse_resource(policy.applies_to)
    owned_release(services, ref.release_id, artist)
    services.index.resolve(ref)  # the track or hook must exist too


def stored_policy_body(stored: StoredPolicy, *, source: bool = False) -> PolicyOut:
    body = PolicyOut(id=stored.id, artist=stored.artist_id, applies_to=stored.applies_to,
                     version=stored.version, hash=stored.hash, created_at=stored.created_at,
                     changed=stored.changed)
    if source:
        body.source = stored.source_text
        body.document = stored.document
    return body


async def policy_text(request: Request[Any, Any, Any]) -> str:
    """The policy text of the body (its media type and size checked by ``read_body``).
    Raises InvalidInput for text that is not UTF-8."""
    try:
        return (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the policy must be UTF-8 text") from None


def same_id(policy: Policy, policy_id: str) -> None:
    if policy.policy != policy_id:
        raise PolicyInvalid(f"the policy names itself {policy.policy!r}, not {policy_id!r}",
                            errors=[FieldError(pointer="/policy",
                                               message=f"must be {policy_id!r}")])


# Plain handlers, not a Controller: ``/v1/releases`` and ``/v1/releases/{id}/versions``
# are also read routes (CatalogController), and Litestar merges handlers of one path only
# when the later ones come bare (a second router would bring a second OPTIONS handler).
# Register these after the read routes.


@post("/v1/releases", summary="Publish a new release (its version 1)", tags=TAGS,
      opt=WRITE_CATALOG, sync_to_thread=True, status_code=201,
      security=requirement(WRITE_CATALOG),
      responses={**created_or_same(VersionOut, "release"),
                 **problems(*SCOPED, *BODY, 409, 503)})
def create_release(data: JSONBody[dict[str, Any]], services: ServicesDep,
                   principal: PrincipalDep) -> Response[VersionOut]:
    artist = artist_of(principal)
    if data.get("artist") != artist:
        raise Forbidden(f"releases are published as their artist, {artist!r}")
    release_id = data.get("id")
    if isinstance(release_id, str):
        with contextlib.suppress(UnknownResource):  # a new release: what this route is for
            owned_release(services, release_id, artist)
    return store_version(services, data)


@post("/v1/releases/{release_id:str}/versions", summary="Publish the next version",
      tags=TAGS, opt=WRITE_CATALOG, sync_to_thread=True, status_code=201,
      security=requirement(WRITE_CATALOG),
      responses={**created_or_same(VersionOut, "version"),
                 **problems(*SCOPED, *BODY, 404, 409, 503)})
def new_version(release_id: FromPath[str], data: JSONBody[dict[str, Any]],
                services: ServicesDep, principal: PrincipalDep) -> Response[VersionOut]:
    artist = artist_of(principal)
    owned_release(services, release_id, artist)
    if data.get("id") != release_id:
        raise InvalidInput("the manifest is of another release", errors=[
            FieldError(pointer="/id", message=f"must be {release_id!r}")])
    if data.get("artist") != artist:
        raise InvalidInput("a release keeps its artist", errors=[
            FieldError(pointer="/artist", message=f"must be {artist!r}")])
    return store_version(services, data)


def store_version(services: Services, data: dict[str, Any]) -> Response[VersionOut]:
    stored = services.catalog.put_version(data)
    services.index.refresh()
    return Response(msgspec.json.decode(msgspec.json.encode(version_body(stored))),
                    status_code=201 if stored.created else 200)


class PolicyWriteController(Controller):
    tags = TAGS

    @put("/v1/policies/{policy_id:str}", summary="Store a new version of a policy",
         opt=POLICY_BODY, status_code=200, security=requirement(WRITE_POLICIES),
         operation_class=POLICY_DOCUMENT,
         responses={**created_or_same(PolicyOut, "policy version"),
                    **problems(*SCOPED, *BODY, 404, 409, 503)})
    async def put_policy(self, policy_id: FromPath[str], request: Request[Any, Any, Any],
                         services: ServicesDep, principal: PrincipalDep) \
            -> Response[PolicyOut]:
        artist = artist_of(principal)
        text = await policy_text(request)

        def store() -> StoredPolicy:
            report = validate(text, source_name=f"{policy_id}.yaml",
                      limits=services.settings.document_limits)
            if report.policy is None:
                raise PolicyInvalid(f"policy {policy_id!r} is not valid", errors=report.errors)
            same_id(report.policy, policy_id)
            check_target(services, report.policy, artist)
            stored = services.policies.put(text, source_name=f"{policy_id}.yaml", owner=artist)
            services.index.refresh()
            return stored

        stored = await to_thread.run_sync(store)
        created = stored.changed and stored.version == 1
        return Response(stored_policy_body(stored), status_code=201 if created else 200)

    @get("/v1/policies/{policy_id:str}", summary="One of your policies, with its source",
         opt=WRITE_POLICIES, sync_to_thread=True, security=requirement(WRITE_POLICIES),
         responses=problems(*SCOPED, *PARAMS, 404))
    def get_policy(self, policy_id: FromPath[str], services: ServicesDep,
                   principal: PrincipalDep) -> PolicyOut:
        stored = services.policies.get(policy_id, owner=artist_of(principal))
        return stored_policy_body(stored, source=True)

    # The same path parameter name as GET and PUT: one path, one route (and one Allow).
    @post("/v1/policies/{policy_id:str}", summary="POST /v1/policies/{id}:validate: "
          "the validation report and what the change would newly permit or deny",
          opt=POLICY_BODY, status_code=200, security=requirement(WRITE_POLICIES),
          operation_class=POLICY_DOCUMENT, responses=problems(*SCOPED, *BODY, 404))
    async def validate_policy(self, policy_id: ValidatePath, request: Request[Any, Any, Any],
                              services: ServicesDep, principal: PrincipalDep) \
            -> ValidationReport:
        if not policy_id.endswith(VALIDATE_SUFFIX):
            raise NotFound("POST /v1/policies/{id}:validate is the only POST here")
        policy_id = policy_id[: -len(VALIDATE_SUFFIX)]
        artist = artist_of(principal)
        text = await policy_text(request)
        return await to_thread.run_sync(lambda: dry_run_report(services, policy_id, artist,
                                                               text))


RELEASE_WRITE_HANDLERS = [create_release, new_version]


def dry_run_report(services: Services, policy_id: str, artist: str,
                   text: str) -> ValidationReport:
    """The validation report and, for a valid policy, its dry run."""
    report = validate(text, source_name=f"{policy_id}.yaml",
                      limits=services.settings.document_limits)
    body = ValidationReport(policy=policy_id, valid=report.ok, errors=list(report.errors),
                            warnings=list(report.warnings), changes=None)
    policy = report.policy
    if policy is None:
        return body
    same_id(policy, policy_id)
    check_target(services, policy, artist)
    replaces: str | None = None
    try:
        head = services.policies.get(policy_id, owner=artist)
        replaces = target_key(artist, head.applies_to)
    except NotFound:
        try:
            services.policies.get(policy_id)
        except NotFound:
            pass  # a new policy
        else:
            raise NotFound(f"no policy {policy_id!r} for artist {artist!r}") from None
    bound = services.index.policy(target_key(artist, policy.applies_to))
    if bound is not None and bound.id != policy_id:
        body.valid = False
        body.errors.append(FieldError(
            pointer="/applies_to",
            message=f"policy {bound.id!r} already applies to {policy.applies_to!r}"))
        return body
    body.applies_to = policy.applies_to
    body.changes = dry_run(services.index, compile_policy(policy), replaces=replaces)
    return body
