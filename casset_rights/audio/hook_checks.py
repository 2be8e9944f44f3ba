"""Manifests' hooks checked against the audio: what an artist should fix before a
preview of a hook is refused.

``check_hooks`` compares each hook's window with the audio's length (the analysis's,
else the length measured at upload) and the preview limit: an empty window, one that
starts or ends outside the audio, or one longer than the limit is reported: the
problems ``render.check_window`` refuses a preview for. ``TrackCheck`` is one
track's report, as ``AudioService.catalog_checks`` answers it for ``casset-rights
catalog check``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from casset_rights.audio.render import window_problems
from casset_rights.manifests.records import HookRecord


class HookCheck(msgspec.Struct, frozen=True, kw_only=True):
    hook: str
    start_ms: int
    end_ms: int
    ok: bool
    problems: list[str]


class TrackCheck(msgspec.Struct, frozen=True, kw_only=True):
    """A track's hooks against its audio. ``audio`` says what they were checked
    against: ``analysis`` (done), ``upload`` (the audio's measured length, analysis not
    done), or ``none`` (no audio uploaded: only the preview limit is checked)."""

    track: str
    audio: str
    duration_ms: int | None
    analysis: str
    hooks: list[HookCheck]

    @property
    def ok(self) -> bool:
        return all(h.ok for h in self.hooks)


def check_hooks(hooks: Iterable[HookRecord], *, duration_ms: int | None,
                limit_ms: int) -> list[HookCheck]:
    """Each hook against the audio's length (None: not known, not checked) and the
    preview limit."""
    checks = []
    for hook in hooks:
        problems = window_problems(hook.start_ms, hook.end_ms, duration_ms=duration_ms,
                                   limit_ms=limit_ms)
        checks.append(HookCheck(hook=hook.id, start_ms=hook.start_ms, end_ms=hook.end_ms,
                                ok=not problems, problems=problems))
    return checks


def report_lines(checks: Iterable[TrackCheck]) -> list[str]:
    """The checks as lines for a terminal: each track, then each hook ``✓`` or ``✗``
    with its problems."""
    lines = []
    for track in checks:
        against = {"analysis": f"the analysed audio ({track.duration_ms} ms)",
                   "upload": f"the uploaded audio ({track.duration_ms} ms; analysis "
                             f"{track.analysis})",
                   "none": "no audio uploaded: the preview limit only"}[track.audio]
        lines.append(f"{track.track}: against {against}")
        for hook in track.hooks:
            mark = "\u2713" if hook.ok else "\u2717"
            lines.append(f"  {mark} {hook.hook} [{hook.start_ms}, {hook.end_ms}) ms"
                         + "".join(f"\n      {p}" for p in hook.problems))
    return lines


def as_json(checks: Iterable[HookCheck]) -> list[dict[str, Any]]:
    return [msgspec.to_builtins(c) for c in checks]
