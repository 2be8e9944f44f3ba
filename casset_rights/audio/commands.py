"""The audio commands: ``verify PREVIEW_FILE``, ``audio analyse`` and ``catalog check``.

``casset-rights verify preview.m4a --trust c2pa-root.pem --jwks jwks.json`` checks a
preview's C2PA manifest against the trust anchor and the receipt inside it against the
JWKS, printing each step (``✓``, or ``✗`` and why) and exiting 1 at the first failure.
Any other file goes on to the receipt and bundle verifier. ``casset-rights audio
analyse R/T`` runs a track's analysis job here, with a progress bar;
``--file AUDIO`` analyses a file without the service. ``casset-rights catalog check``
reports each track's hooks that lie outside its audio or exceed the preview limit.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from casset_rights.audio.errors import AudioUnsupported, ProvenanceInvalid
from casset_rights.errors import InvalidInput

if TYPE_CHECKING:
    from casset_rights.config import Settings

Handler = Callable[[argparse.Namespace, "Settings"], int]
MARKS = {True: "\u2713", False: "\u2717"}


def audio_file(source: str) -> bytes | None:
    """The bytes of ``source`` when it is a local file of audio; None otherwise."""
    from casset_rights.audio.sniff import SNIFF_BYTES, sniff

    path = Path(source)
    try:
        if not path.is_file():
            return None
    except OSError:  # a receipt given inline: longer than any file name
        return None
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    try:
        sniff(head)
    except (AudioUnsupported, InvalidInput):
        return None
    return path.read_bytes()


def add_preview_verification(sub: Any) -> None:
    """Let ``verify`` take preview files too: adds ``--trust`` and puts a handler in
    front of the receipt and bundle one."""
    verify = sub.choices["verify"]
    # ``verify`` already takes ``--trust`` (a trust file for receipts and bundles): for a
    # preview file the same option names the C2PA trust anchor.
    if not any("--trust" in action.option_strings for action in verify._actions):
        verify.add_argument("--trust", metavar="PEM",
                            help="for a preview file: the C2PA trust anchor (file or URL), "
                                 "e.g. the service's /.well-known/c2pa-trust-anchor.pem")
    others: Handler = verify.get_default("handler")

    def handler(args: argparse.Namespace, settings: Settings) -> int:
        data = audio_file(args.source)
        if data is None:
            return others(args, settings)
        return cmd_verify_preview(args, data)

    verify.set_defaults(handler=handler)


def cmd_verify_preview(args: argparse.Namespace, data: bytes) -> int:
    from casset_rights.audio.provenance import mime_of, verify_preview
    from casset_rights.log.trust import load_json, read_source
    from casset_rights.receipts.verify import verify_receipt

    if not args.trust or not args.jwks:
        raise InvalidInput("a preview is verified against --trust PEM (the C2PA trust "
                           "anchor) and --jwks FILE_OR_URL (the receipt keys)")
    anchor = read_source(args.trust).encode()
    jwks = load_json(args.jwks)
    print(f"preview: {args.source} ({len(data)} bytes)")

    def show(step: Any) -> None:
        print(f"  {MARKS[step.ok]} {step.name}: {step.detail}")

    try:
        report = verify_preview(data, mime=mime_of(Path(args.source), data[:4096]),
                                anchor_pem=anchor, jwks=jwks, verify_receipt=verify_receipt,
                                on_step=show)
    except ProvenanceInvalid as exc:
        print(f"not verified: the {exc.step} step failed")
        return 1
    rights = report.rights
    print(f"verified: a preview of {rights.get('resource')} "
          f"[{rights.get('start_ms')}, {rights.get('end_ms')}) ms, permitted by receipt "
          f"{rights.get('receipt_id')}; terms {rights.get('terms_url')}")
    return 0


def add_audio_commands(sub: Any) -> None:
    audio = sub.add_parser("audio", help="track audio").add_subparsers(dest="audio",
                                                                        required=True)
    p = audio.add_parser("analyse", help="analyse a track's audio (R/T) with a progress "
                                         "bar, or a local file (--file)")
    p.add_argument("track", nargs="?", metavar="RELEASE/TRACK")
    p.add_argument("--file", help="analyse this audio file, without the service")
    p.add_argument("--json", action="store_true", help="print the whole result as JSON")
    p.set_defaults(handler=cmd_analyse)


def cmd_analyse(args: argparse.Namespace, settings: Settings) -> int:
    from casset_rights.audio.analysis_jobs import use_numba_cache

    use_numba_cache(settings)  # the first run compiles librosa's code, later ones load it
    bar = ProgressBar()
    started = time.perf_counter()
    if args.file:
        from casset_rights.audio.analysis import analyse
        from casset_rights.audio.decode import decode_all
        from casset_rights.audio.sniff import sniff

        path = Path(args.file)
        with path.open("rb") as handle:
            fmt = sniff(handle.read(4096))
        samples, rate = decode_all(path, fmt)
        bar(0.1)
        result = analyse(samples, rate, progress=bar)
        bar(1.0)
    else:
        if not args.track or args.track.count("/") != 1:
            raise InvalidInput("name the track as RELEASE/TRACK (or analyse a --file)")
        from casset_rights.audio.analysis_jobs import analyse_track
        from casset_rights.services import open_services

        release, track = args.track.split("/")
        services = open_services(settings)
        try:
            services.index.refresh(force=True)
            state = analyse_track(services, release, track, progress=bar)
        finally:
            services.close()
        bar(1.0)
        if state.state != "done" or state.result is None:
            print(f"analysis failed ({state.error_code}): {state.error_detail}",
                  file=sys.stderr)
            return 1
        result = state.result
    elapsed = time.perf_counter() - started
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    hook = result.get("suggested_hook") or {}
    print(f"duration {result['duration_ms'] / 1000:.1f} s, {result['sample_rate']} Hz, "
          f"{result['channels']} ch; tempo {result['tempo_bpm']} BPM, "
          f"{len(result['beats_s'])} beats, {len(result['onsets_s'])} onsets")
    print(f"loudness {result['loudness_lufs']} LUFS, true peak {result['true_peak_dbtp']} dBTP")
    if hook:
        print(f"suggested hook [{hook['start_ms']}, {hook['end_ms']}) ms: {hook['reason']}")
    print(f"analysed in {elapsed:.2f} s")
    return 0


class ProgressBar:
    """``[#####.....]  50%`` on stderr, redrawn in place."""

    def __init__(self, width: int = 30) -> None:
        self.width = width
        self.shown = -1

    def __call__(self, fraction: float) -> None:
        percent = int(max(0.0, min(1.0, fraction)) * 100)
        if percent == self.shown:
            return
        self.shown = percent
        filled = self.width * percent // 100
        end = "\n" if percent == 100 else ""
        print(f"\ranalysing [{'#' * filled}{'.' * (self.width - filled)}] {percent:3d}%",
              end=end, file=sys.stderr, flush=True)


def cmd_catalog_check(args: argparse.Namespace, settings: Settings) -> int:
    """``catalog check [RELEASE ...]``: every track's hooks (of the named releases, else
    of every release) against its audio and the preview limit; exits 1 when a hook has
    a problem."""
    from casset_rights.audio.hook_checks import report_lines
    from casset_rights.services import open_services

    services = open_services(settings)
    try:
        releases = args.releases or [v.release_id for v in services.catalog.all_heads()]
        checks = services.audio.catalog_checks(releases)
    finally:
        services.close()
    if args.json:
        import msgspec

        print(msgspec.json.format(msgspec.json.encode(checks), indent=2).decode())
    else:
        print("\n".join(report_lines(checks)))
        bad = sum(not h.ok for c in checks for h in c.hooks)
        print(f"{sum(len(c.hooks) for c in checks)} hooks of {len(checks)} tracks checked; "
              f"{bad} with problems")
    return 0 if all(c.ok for c in checks) else 1
