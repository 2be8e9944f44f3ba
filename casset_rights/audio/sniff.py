"""What audio a file holds, told from its first bytes: never from its name or a header.

``sniff(head)`` takes at least the first ``SNIFF_BYTES`` bytes (fewer for a shorter file)
and answers one of ``FORMATS`` or raises AudioUnsupported (AudioEmpty for no bytes).
"""

from __future__ import annotations

from typing import Literal

from casset_rights.audio.errors import AudioEmpty, AudioUnsupported

AudioFormat = Literal["wav", "flac", "mp3", "m4a", "aac", "ogg"]
FORMATS: tuple[AudioFormat, ...] = ("wav", "flac", "mp3", "m4a", "aac", "ogg")
SNIFF_BYTES = 4096

MEDIA_TYPES: dict[AudioFormat, str] = {
    "wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg", "m4a": "audio/mp4",
    "aac": "audio/aac", "ogg": "audio/ogg",
}

# ISO BMFF brands of audio files (M4A and its relatives). A video brand is refused.
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"mp42", b"mp41", b"isom", b"iso2", b"iso5", b"iso6",
                 b"dash", b"M4P "}


def sniff(head: bytes) -> AudioFormat:
    """The container of the audio whose first bytes are ``head``.

    Raises AudioEmpty for no bytes and AudioUnsupported for anything else that is not
    WAV (RIFF/WAVE or RF64), FLAC, MP3 (ID3 tag or an MPEG audio frame), M4A (ISO BMFF
    with an audio brand), ADTS AAC or Ogg.
    """
    if not head:
        raise AudioEmpty("the body is empty: send the audio's bytes")
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[4:8] == b"ftyp" and head[8:12] in _AUDIO_BRANDS:
        return "m4a"
    if head[:3] == b"ID3":
        return _after_id3(head)
    kind = _frame_sync(head)
    if kind is not None:
        return kind
    raise AudioUnsupported(f"the bytes are not audio this service takes ({_describe(head)}); "
                           "send WAV, FLAC, MP3, AAC/M4A or Ogg")


def _after_id3(head: bytes) -> AudioFormat:
    # An ID3v2 tag precedes MP3 (and sometimes ADTS AAC); its size is 4 syncsafe bytes.
    if len(head) < 10:
        raise AudioUnsupported("an ID3 tag with nothing after it")
    size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
    rest = head[10 + size:]
    if not rest:
        return "mp3"  # the tag is longer than what was sniffed; the decoder will tell
    return _frame_sync(rest) or "mp3"


def _frame_sync(head: bytes) -> AudioFormat | None:
    if len(head) < 2 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    if head[1] & 0xF6 == 0xF0:  # ADTS: a 12-bit sync, then layer 00 (MPEG-2/4 AAC)
        return "aac"
    version = (head[1] >> 3) & 0b11
    layer = (head[1] >> 1) & 0b11
    # An MPEG audio frame: version 01 and layer 00 are reserved.
    return "mp3" if version != 0b01 and layer != 0 else None


_OTHER = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
          (b"GIF8", "a GIF image"), (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a ZIP archive"))


def _describe(head: bytes) -> str:
    for magic, name in _OTHER:
        if head.startswith(magic):
            return f"they look like {name}"
    if head[4:8] == b"ftyp":
        return f"an MP4 file of brand {head[8:12].decode('latin-1')!r}, not audio"
    return "no known audio signature"
