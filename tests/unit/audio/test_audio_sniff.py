"""Sniffing: the type comes from the bytes, never from a name or a header."""

from __future__ import annotations

import pytest

from casset_rights.audio.errors import AudioEmpty, AudioUnsupported
from casset_rights.audio.sniff import sniff


@pytest.mark.parametrize(("head", "kind"), [
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav"),
    (b"RF64\xff\xff\xff\xffWAVEds64", "wav"),
    (b"fLaC\x00\x00\x00\x22", "flac"),
    (b"OggS\x00\x02", "ogg"),
    (b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00", "m4a"),
    (b"\x00\x00\x00\x1cftypisom\x00\x00\x02\x00", "m4a"),
    (b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x64", "mp3"),
    (b"\xff\xfb\x90\x64\x00", "mp3"),
    (b"\xff\xf1\x50\x80\x02\x1f\xfc", "aac"),
])
def test_known_audio_is_told_by_its_first_bytes(head: bytes, kind: str) -> None:
    assert sniff(head) == kind


@pytest.mark.parametrize(("head", "says"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00", "PNG"),
    (b"%PDF-1.7", "PDF"),
    (b"\x00\x00\x00\x18ftypqt  ", "not audio"),
    (b"hello, world", "no known audio signature"),
    (b"\xff\xe9\x00", "no known audio signature"),  # reserved MPEG version
])
def test_anything_else_is_refused_saying_what_it_looks_like(head: bytes, says: str) -> None:
    with pytest.raises(AudioUnsupported, match=says):
        sniff(head)


def test_no_bytes_is_empty_not_unsupported() -> None:
    with pytest.raises(AudioEmpty):
        sniff(b"")
