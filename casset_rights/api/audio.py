"""Audio over HTTP: uploads, analysis, previews and their streaming.

* ``PUT /v1/tracks/{R}/{T}/audio`` (artist, ``audio:write``): the body streams to a
  staging file while hashed; checked and stored, or refused with nothing kept.
* ``GET|POST /v1/tracks/{R}/{T}/analysis``: the analysis, or its job's state; POST
  queues it (artist).
* ``POST /v1/previews``: the ``preview`` decision and, on a permit, a signed URL.
* ``GET /v1/previews/{token}``: the preview's bytes, with ``Range``, ``ETag`` and
  private caching, to the principal the URL was issued to.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio
import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from litestar.params import FromPath, JSONBody
from litestar.types import ASGIApp, Receive, Scope, Send

from casset_rights.api.artist_write import artist_of
from casset_rights.api.body import reads
from casset_rights.api.deps import PrincipalDep, ServicesDep, services_of
from casset_rights.api.openapi import (
    BODY,
    EVERY,
    PARAMS,
    SCOPED,
    MediaBody,
    read_by_hand,
    requirement,
)
from casset_rights.api.problems import problems
from casset_rights.api.schemas import HookField
from casset_rights.api.security import caller_of, header_of, needs
from casset_rights.audio.errors import AudioTooLarge
from casset_rights.audio.previews import PreviewAnswer
from casset_rights.audio.render import PREVIEW_MEDIA_TYPES
from casset_rights.auth.scopes import AUDIO_WRITE, RIGHTS_READ
from casset_rights.errors import RangeNotSatisfiable

WRITE_AUDIO = needs(AUDIO_WRITE, anonymous=False)
PATHSEND = "http.response.pathsend"
READ = needs(RIGHTS_READ)
PEM_MEDIA_TYPE = "application/x-pem-file"
# A preview is rendered in the service's one preview format (settings): AAC or MP3.
PREVIEW_MEDIA = tuple(sorted(set(PREVIEW_MEDIA_TYPES.values())))
AUDIO_BODY = RequestBody(
    description="The audio file's bytes, as they are: the container is read from the "
                "bytes (WAV, FLAC, MP3, AAC/M4A, Ogg), not from the Content-Type",
    required=True, content={"application/octet-stream": OpenAPIMediaType(
        schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY))})


class PreviewAudio(MediaBody):
    """A hook's preview: the audio of its window, signed with C2PA (AAC in MP4, or MP3,
    the service's preview format), or the bytes a Range asked for."""


class PemCertificate(MediaBody):
    """An X.509 certificate in PEM."""

    format = None


def preview_answers(status: int, description: str) -> dict[int, ResponseSpec]:
    return {status: ResponseSpec(PreviewAudio, media_type=PREVIEW_MEDIA[0],
                                 description=description, generate_examples=False)}


class StoredAudioAnswer(msgspec.Struct):
    track: str
    content_hash: str
    format: str
    media_type: str
    size_bytes: int
    sample_rate: int
    channels: int
    duration_ms: int
    created: bool
    analysis: str


class AnalysisAnswer(msgspec.Struct):
    """The analysis of a track's audio: ``state`` and ``progress`` while its job runs,
    ``result`` once done, ``error`` once failed; ``hook_checks`` compares the track's
    hooks with the analysed audio and the preview limit."""

    track: str
    content_hash: str
    state: str
    progress: float
    attempts: int
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    hook_checks: list[dict[str, Any]] | None = None


class PreviewRequestBody(msgspec.Struct, forbid_unknown_fields=True):
    resource: HookField
    loop: Annotated[bool | None, msgspec.Meta(
        description="true: a seamless loop (the window's end crossfades into its start); "
                    "false: faded in and out; absent: the service's setting")] = None


class AudioController(Controller):
    tags = ("audio",)

    @put("/v1/tracks/{release_id:str}/{track_id:str}/audio",
         opt={**WRITE_AUDIO, **reads("stream")},
         summary="Upload a track's audio (WAV, FLAC, MP3, AAC/M4A, Ogg): its SHA-256 must "
                 "be the manifest's audio.content_hash",
         request_max_body_size=None, status_code=201, security=requirement(WRITE_AUDIO),
         operation_class=read_by_hand(AUDIO_BODY),
         responses={200: ResponseSpec(StoredAudioAnswer, description="The same audio was "
                                      "stored already", generate_examples=False),
                    **problems(*SCOPED, *PARAMS, 404, 409, 413, 415)})
    async def upload(self, release_id: FromPath[str], track_id: FromPath[str],
                     request: Request[Any, Any, Any], services: ServicesDep,
                     principal: PrincipalDep) -> Response[StoredAudioAnswer]:
        audio = services.audio
        artist = artist_of(principal)
        track = await anyio.to_thread.run_sync(audio.owned_track, release_id, track_id,
                                               artist)
        declared = request.headers.get("content-length")
        limit = services.settings.audio_max_upload_bytes
        if declared and declared.isdigit() and int(declared) > limit:
            raise AudioTooLarge(f"the audio is {declared} bytes; the limit is {limit}")
        with audio.staging() as staging:
            async for chunk in request.stream():
                staging.write(chunk)
            stored, created = await anyio.to_thread.run_sync(
                lambda: audio.store(staging, track=track, uploader=artist))
        state = await anyio.to_thread.run_sync(audio.records.analysis, stored.content_hash)
        return Response(StoredAudioAnswer(
            track=track.id, content_hash=stored.content_hash, format=stored.format,
            media_type=stored.media_type, size_bytes=stored.size_bytes,
            sample_rate=stored.sample_rate, channels=stored.channels,
            duration_ms=stored.duration_ms, created=created,
            analysis=state.state if state else "none"),
            status_code=201 if created else 200)

    @get("/v1/tracks/{release_id:str}/{track_id:str}/analysis", opt=READ,
         summary="A track's audio analysis, or its job's state and progress",
         sync_to_thread=True, security=requirement(READ),
         responses=problems(*SCOPED, *PARAMS, 404))
    def analysis(self, release_id: FromPath[str], track_id: FromPath[str],
                 services: ServicesDep) -> AnalysisAnswer:
        return analysis_answer(services, release_id, track_id)

    # Takes no body: an empty one, or JSON, goes through the body reader's limits.
    @post("/v1/tracks/{release_id:str}/{track_id:str}/analysis",
          opt={**WRITE_AUDIO, **reads("json")},
          summary="Queue the analysis of a track's audio (again, after a failure)",
          sync_to_thread=True, status_code=202, security=requirement(WRITE_AUDIO),
          responses=problems(*SCOPED, *BODY, 404, 503))
    def queue_analysis(self, release_id: FromPath[str], track_id: FromPath[str],
                       services: ServicesDep, principal: PrincipalDep) -> AnalysisAnswer:
        services.audio.owned_track(release_id, track_id, artist_of(principal))
        services.audio.request_analysis(release_id, track_id)
        return analysis_answer(services, release_id, track_id)

    @post("/v1/previews", opt=READ, status_code=200,
          summary="Ask for a preview of a hook: the preview decision and, on a permit, a "
                  "signed, expiring URL",
          security=requirement(READ),
          responses={200: ResponseSpec(PreviewAnswer, description="permitted",
                                       generate_examples=False),
                     **problems(*SCOPED, *BODY, 402, 404, 503)})
    async def request_preview(self, data: JSONBody[PreviewRequestBody],
                              services: ServicesDep,
                              principal: PrincipalDep) -> Response[PreviewAnswer]:
        answer = await services.audio.previews.request(
            principal, data.resource, store=services.writer.stored,
            run=anyio.to_thread.run_sync, loop=data.loop)
        return Response(answer, headers=usage_headers(answer.terms_url, answer.content_usage))

    @get("/v1/previews/{token:str}", opt=READ, summary="Stream a preview (Range, ETag)",
         media_type=PREVIEW_MEDIA[0], security=requirement(READ),
         operation_class=read_by_hand(also=tuple(
             (status, media_type, "PreviewAudio")
             for status in (200, 206) for media_type in PREVIEW_MEDIA[1:])),
         responses={**preview_answers(200, "The preview"),
                    **preview_answers(206, "The bytes of the Range asked for"),
                    304: ResponseSpec(None, description="Not modified (If-None-Match)"),
                    **problems(*SCOPED, *PARAMS, 404, 416)})
    async def stream_preview(self, token: FromPath[str],
                             request: Request[Any, Any, Any]) -> ASGIApp:
        # The cached path is the URL's HMAC, then the file sent by the server (or bytes
        # from memory): the services and principal from the request (not dependencies),
        # the request's headers read from the scope, and the answer a bare ASGI app with
        # its headers encoded once.
        previews = services_of(request).audio.previews
        claims = previews.open_link(token, caller_of(request))
        etag = f'"{claims.blob}"'
        headers = [(b"etag", etag.encode()), (b"accept-ranges", b"bytes"),
                   (b"cache-control", b"private, max-age=300, no-transform"),
                   *((k.lower().encode(), v.encode("latin-1")) for k, v in
                     usage_headers(claims.terms, claims.content_usage).items())]
        scope = request.scope
        if etag in (header_of(scope, b"if-none-match") or ""):
            return AudioBytes(304, headers, b"")
        wanted = header_of(scope, b"range")
        if not wanted and PATHSEND in scope.get("extensions", {}):
            # The server sends the file itself (granian: from Rust, as it serves
            # static files); the file's place is found once, off the event loop.
            found = previews.preview_file(claims.blob)
            if found is None:
                found = await anyio.to_thread.run_sync(previews.load_preview_file,
                                                       claims.blob)
            headers.append((b"content-type", claims.media_type.encode()))
            return AudioFile(headers, path=found[0], size=found[1])
        # Previews are small (about half a megabyte) and kept in memory once read: a
        # cached one is answered without I/O; the blob store is read off the event loop.
        data = previews.cached_preview(claims.blob)
        if data is None:
            data = await anyio.to_thread.run_sync(previews.load_preview, claims.blob)
        status = 200
        if wanted:
            start, end = byte_range(wanted, len(data))
            headers.append((b"content-range", f"bytes {start}-{end - 1}/{len(data)}".encode()))
            data, status = data[start:end], 206
        headers.append((b"content-type", claims.media_type.encode()))
        return AudioBytes(status, headers, data)

    @get("/.well-known/c2pa-trust-anchor.pem", summary="The root certificate preview "
         "files' C2PA signatures chain to", media_type=PEM_MEDIA_TYPE,
         sync_to_thread=True,
         responses={200: ResponseSpec(PemCertificate, media_type=PEM_MEDIA_TYPE,
                                      description="The root certificate",
                                      generate_examples=False),
                    **problems(*EVERY)})
    def trust_anchor(self, services: ServicesDep) -> bytes:
        return services.audio.signing_identity().anchor_pem


class AudioBytes:
    """An answer of bytes with its headers encoded, as a bare ASGI app (see
    ``decisions.JSONAnswer``: Litestar's Response and ASGIResponse rebuild the headers
    in containers scanned on every insertion). The app's middleware adds its headers
    to these as to any answer."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.headers = [*headers, (b"content-length", str(len(body)).encode())] \
            if status != 304 else headers
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status,
                    "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


class AudioFile:
    """A 200 answer whose body the server reads from a file: the ASGI ``pathsend``
    extension (asgiref's "Path Send"), offered by the server in the scope's
    ``extensions``."""

    __slots__ = ("headers", "path")

    def __init__(self, headers: list[tuple[bytes, bytes]], *, path: str, size: int) -> None:
        self.headers = [*headers, (b"content-length", str(size).encode())]
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.headers})
        await send({"type": PATHSEND, "path": self.path})  # type: ignore[typeddict-item]


def analysis_answer(services: ServicesDep, release_id: str, track_id: str) -> AnalysisAnswer:
    track, state = services.audio.analysis(release_id, track_id)
    answer = AnalysisAnswer(track=track.id, content_hash=state.content_hash, state=state.state,
                            progress=state.progress, attempts=state.attempts,
                            result=state.result)
    if state.state == "failed":
        answer.error = {"code": state.error_code or "", "detail": state.error_detail or ""}
    if state.result is not None:
        answer.hook_checks = services.audio.hook_checks(track, state.result)
    return answer


def usage_headers(terms: str, content_usage: str) -> dict[str, str]:
    """What agents read of audio they receive: the terms (``Link rel=license``) and the
    policy's AI-use preferences (IETF aipref ``Content-Usage``)."""
    return {"Link": f'<{terms}>; rel="license"', "Content-Usage": content_usage}


def byte_range(header: str, size: int) -> tuple[int, int]:
    """``[start, end)`` of a single ``bytes=`` range (RFC 9110 section 14.1.2).
    Raises RangeNotSatisfiable for a range beyond the file or more than one range."""
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        raise RangeNotSatisfiable(f"one bytes range is served, not {header!r}")
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":
            length = int(last)
            start, end = max(size - length, 0), size
        else:
            start = int(first)
            end = min(int(last) + 1, size) if last else size
    except ValueError:
        raise RangeNotSatisfiable(f"malformed range {header!r}") from None
    if start >= size or start >= end:
        raise RangeNotSatisfiable(f"the range {header!r} lies outside the {size} bytes")
    return start, end

