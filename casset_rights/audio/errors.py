"""The audio side's domain errors: each a subclass of a base the API maps to a status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from casset_rights.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    LicenseRequired,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)


class AudioTooLarge(PayloadTooLarge):
    """The upload is larger than ``audio_max_upload_bytes``; nothing was kept."""

    code = "audio_too_large"


class AudioUnsupported(UnsupportedMediaType):
    """The bytes are not WAV, FLAC, MP3, AAC/M4A or Ogg (sniffed, whatever the name)."""

    code = "audio_unsupported"


class AudioEmpty(InvalidInput):
    code = "audio_empty"


class AudioCorrupt(InvalidInput):
    """The bytes start like a supported format but do not decode (truncated, damaged)."""

    code = "audio_corrupt"


class AudioHashMismatch(Conflict):
    """The uploaded bytes hash to something else than the manifest declares."""

    code = "audio_hash_mismatch"

    def __init__(self, detail: str, *, declared: str, received: str) -> None:
        super().__init__(detail)
        self.extensions: Mapping[str, Any] = {"declared": declared, "received": received}


class AudioMissing(NotFound):
    """No audio has been uploaded for the track (or for the hash its manifest names)."""

    code = "audio_missing"


class WindowInvalid(InvalidInput):
    """A hook window outside the track, of zero length, or longer than the preview limit."""

    code = "window_invalid"


class _Decided:
    """An error that answers a decision: ``extensions`` carries it (decision, reasons,
    license routes, receipt) into the problem document."""

    def __init__(self, detail: str, *, extensions: Mapping[str, Any]) -> None:
        super().__init__(detail)  # type: ignore[call-arg]
        self.extensions = extensions


class PreviewDenied(_Decided, Forbidden):
    """The policy denies this principal the ``preview`` scope on the hook."""

    code = "preview_denied"


class PreviewLicenseRequired(_Decided, LicenseRequired):
    """Previewing the hook needs a license; ``license_routes`` says how to get one."""

    code = "preview_license_required"


class PreviewLinkInvalid(Forbidden):
    """A preview URL that is expired, tampered with, or another principal's."""

    code = "preview_link_invalid"


class AnalysisNotFound(NotFound):
    code = "analysis_not_found"


class ProvenanceInvalid(InvalidInput):
    """A preview file's C2PA manifest or the receipt inside it failed verification;
    ``step`` names the failing step."""

    code = "provenance_invalid"

    def __init__(self, detail: str, *, step: str) -> None:
        super().__init__(f"{step}: {detail}")
        self.step = step
