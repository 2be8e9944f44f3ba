"""Hypothesis strategies: arbitrary JSON values and valid release manifests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

MAX_SAFE = 2**53 - 1

json_scalars = (st.none() | st.booleans() | st.integers(-MAX_SAFE, MAX_SAFE)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))

json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=5),
    max_leaves=25,
)

json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=6)

segments = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,12}", fullmatch=True)
titles = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1,
                 max_size=30)
hashes = st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex())


@st.composite
def splits(draw: st.DrawFn) -> list[int | float]:
    """Shares in hundredths of a percent that sum to exactly 100 (as decimals)."""
    count = draw(st.integers(1, 5))
    cuts = sorted(draw(st.lists(st.integers(0, 10_000), min_size=count - 1,
                                max_size=count - 1)))
    parts = [b - a for a, b in zip([0, *cuts], [*cuts, 10_000], strict=True)]
    return [p // 100 if p % 100 == 0 else p / 100 for p in parts]


@st.composite
def tracks(draw: st.DrawFn, local_id: str) -> dict[str, Any]:
    duration = draw(st.integers(1_000, 600_000))
    hook_ids = draw(st.lists(st.sampled_from(["intro", "chorus", "drop", "outro"]),
                             unique=True, max_size=4))
    hooks = []
    for hook_id in hook_ids:
        start = draw(st.integers(0, duration - 1))
        end = draw(st.integers(start + 1, duration))
        hook = {"id": hook_id, "start_ms": start, "end_ms": end, "caption": draw(titles)}
        if draw(st.booleans()):
            hook["lyric"] = draw(titles)
        hooks.append(hook)
    track: dict[str, Any] = {
        "id": local_id, "title": draw(titles), "duration_ms": duration,
        "audio": {"content_hash": draw(hashes), "media_type": "audio/flac"},
        "credits": [{"name": draw(titles), "roles": ["performer"], "split": s}
                    for s in draw(splits())],
        "hooks": hooks,
    }
    isrc = draw(st.sampled_from([None, "absent", "GBNGL2400101"]))
    if isrc != "absent":
        track["isrc"] = isrc
    return track


@st.composite
def manifests(draw: st.DrawFn) -> dict[str, Any]:
    """A valid manifest document (version 1 or a later version with a previous hash)."""
    version = draw(st.integers(1, 5))
    count = draw(st.integers(1, 4))
    return {
        "id": draw(segments), "version": version,
        "previous": None if version == 1 else draw(hashes),
        "artist": draw(segments), "title": draw(titles),
        "tracks": [draw(tracks(str(n))) for n in range(1, count + 1)],
        "visuals": [{"kind": "cover", "uri": "https://media.casset.example/c.jpg"}],
        "policy": draw(segments), "created_at": "2024-03-15T09:00:00Z",
    }
