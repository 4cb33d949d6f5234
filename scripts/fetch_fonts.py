#!/usr/bin/env python3
"""Fetch the statements' font again from the npm registry and check it.

The PDF statements embed a font that ships in src/tillpoint/clearing/fonts/, an
unmodified file of an npm release named in MANIFEST.json there. This script asks npm for
that release (``npm pack NAME@VERSION``: the registry npm is set up for, nothing else),
checks the package against the manifest's integrity and each file against its SHA-256,
then compares the committed files with them (the default) or writes them (``--write``,
to restore a missing or damaged file).

    scripts/fetch_fonts.py            # exit 0: the committed files are the release's
    scripts/fetch_fonts.py --write    # put the release's files in place

Needs python3 and npm; no Python package of the project.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

FONTS = Path(__file__).resolve().parent.parent / "src" / "tillpoint" / "clearing" / "fonts"
MAX_MEMBER_BYTES = 64 * 1024 * 1024  # no file of the release is bigger than this


def fetch(manifest: dict[str, object], into: Path) -> Path:
    """The release's tarball, packed by npm into ``into``, its integrity checked."""
    spec = f"{manifest['package']}@{manifest['version']}"
    done = subprocess.run(
        ["npm", "pack", spec, "--json", "--pack-destination", str(into)],
        check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    (packed,) = json.loads(done.stdout)
    tarball = into / packed["filename"]
    algorithm, _, expected = str(manifest["integrity"]).partition("-")
    digest = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if digest != expected:
        sys.exit(f"{spec}: the package's {algorithm} is {digest}, the manifest says {expected}")
    return tarball


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the files in place")
    args = parser.parse_args()
    manifest = json.loads((FONTS / "MANIFEST.json").read_text(encoding="utf-8"))
    differ = 0
    with tempfile.TemporaryDirectory() as tmp:
        tarball = fetch(manifest, Path(tmp))
        with tarfile.open(tarball, "r:gz") as tar:
            for f in manifest["files"]:
                member = tar.getmember(f["member"])
                if not member.isfile() or member.size > MAX_MEMBER_BYTES:
                    sys.exit(f"{f['member']}: not a plain file of a sensible size")
                extracted = tar.extractfile(member)
                assert extracted is not None
                data = extracted.read()
                digest = hashlib.sha256(data).hexdigest()
                if digest != f["sha256"] or len(data) != f["bytes"]:
                    sys.exit(f"{f['member']}: sha256 {digest}, {len(data)} bytes; "
                             f"the manifest says {f['sha256']}, {f['bytes']} bytes")  # fmt: skip
                target = FONTS / f["path"]
                if args.write:
                    target.write_bytes(data)
                    print(f"wrote {target.name} ({len(data):,} bytes, sha256 {digest})")
                elif not target.exists() or target.read_bytes() != data:
                    print(f"{target.name}: differs from {f['member']} of the release")
                    differ += 1
                else:
                    print(f"{target.name}: the release's file (sha256 {digest})")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
