#!/usr/bin/env python3
"""Write the hashes of the demo's synthesised audio into the example manifests.

    .venv/bin/python scripts/demo_audio_hashes.py

Each track's ``audio`` becomes the SHA-256 of ``casset_rights.audio.demo.demo_flac`` for
it (FLAC); a version's ``previous`` follows its predecessor's new hash. Run it after
changing the synthesis or a track's duration or hooks; the files are rewritten only
when something changed.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from casset_rights.audio.demo import demo_flac  # noqa: E402
from casset_rights.manifests import manifest_hash, validate_manifest  # noqa: E402


def main() -> int:
    for folder in sorted(p for p in (ROOT / "examples" / "catalog").iterdir() if p.is_dir()):
        previous: str | None = None
        versions = sorted(folder.glob("v*.json"), key=lambda p: int(p.stem[1:]))
        for path in versions:
            document = json.loads(path.read_text(encoding="utf-8"))
            for track in document["tracks"]:
                digest = hashlib.sha256(demo_flac(document["id"], track)).hexdigest()
                track["audio"] = {"content_hash": f"sha256:{digest}",
                                  "media_type": "audio/flac"}
            if previous is not None:
                document["previous"] = previous
            text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
            if text != path.read_text(encoding="utf-8"):
                path.write_text(text, encoding="utf-8")
                print(f"updated {path.relative_to(ROOT)}")
            previous = manifest_hash(validate_manifest(document))
    return 0


if __name__ == "__main__":
    sys.exit(main())
