"""Zipping a function's folder into a bundle, deterministically.

The same files always give the same bytes, hence the same sha256: entries are sorted, every timestamp
is 1980-01-01, permissions are 0644 (0755 for executables), and compression is DEFLATE at a fixed
level. Re-deploying unchanged code is therefore a no-op on the server, and publishing again returns the
same version.

What is left out: the defaults below, the patterns of ``.turnoutignore`` (gitignore syntax), and
``turnout.toml`` and ``.turnoutignore`` themselves (configuration is sent as configuration, not code).
A symbolic link is followed only when it points inside the folder.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pathspec

from turnout.cli.client import CliError

IGNORE_FILE = ".turnoutignore"
PROJECT_FILE = "turnout.toml"
DEFAULT_IGNORES = (".git/", "__pycache__/", "*.pyc", ".venv/", "venv/", ".turnout/", ".DS_Store")
ALWAYS_IGNORED = (f"/{PROJECT_FILE}", f"/{IGNORE_FILE}")
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
COMPRESS_LEVEL = 6
UNIX = 3  # zip "made by" system, fixed so the bytes do not depend on the machine


@dataclass(frozen=True)
class Bundle:
    """A packed folder: the zip's bytes and the files in it (archive paths, sorted)."""

    data: bytes
    files: tuple[str, ...]
    unpacked_bytes: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def pack(folder: Path) -> Bundle:
    """Zip ``folder`` (see the module's docstring for what is left out)."""
    entries = collect(folder)
    if not entries:
        raise CliError(
            "InvalidBundle", f"nothing to deploy in {folder}: the folder is empty or every file is ignored"
        )
    buffer = io.BytesIO()
    total = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as archive:
        for name, path in entries:
            content = path.read_bytes()
            total += len(content)
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.create_system = UNIX
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if os.stat(path).st_mode & 0o111 else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            archive.writestr(info, content, compresslevel=COMPRESS_LEVEL)
    return Bundle(buffer.getvalue(), tuple(name for name, _ in entries), total)


def collect(folder: Path) -> list[tuple[str, Path]]:
    """The files to pack as ``(archive path, file to read)``, sorted by archive path."""
    if not folder.is_dir():
        raise CliError("InvalidBundle", f"{folder} is not a folder")
    root = folder.resolve()
    spec = ignore_spec(root)
    found: list[tuple[str, Path]] = []
    _walk(root, root, "", spec, found, frozenset({root}))
    return sorted(found)


def ignore_spec(root: Path) -> pathspec.PathSpec:
    lines = list(DEFAULT_IGNORES)
    ignore_file = root / IGNORE_FILE
    if ignore_file.is_file():
        lines += ignore_file.read_text(encoding="utf-8").splitlines()
    lines += ALWAYS_IGNORED  # last, so no pattern of the ignore file can bring them back
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _walk(
    root: Path,
    directory: Path,
    prefix: str,
    spec: pathspec.PathSpec,
    found: list[tuple[str, Path]],
    parents: frozenset[Path],
) -> None:
    with os.scandir(directory) as scan:
        entries = sorted(scan, key=lambda e: e.name)
    for entry in entries:
        name = prefix + entry.name
        is_dir = entry.is_dir()  # follows symlinks, False when broken
        if spec.match_file(name + "/" if is_dir else name):
            continue
        path = Path(entry.path)
        if entry.is_symlink():
            path = _inside(root, path, name)
        if is_dir:
            if path in parents:
                raise CliError("InvalidBundle", f"{name} links to a folder that contains it (a loop)")
            _walk(root, path, name + "/", spec, found, parents | {path})
        elif path.is_file():
            found.append((name, path))


def _inside(root: Path, link: Path, name: str) -> Path:
    """Where a symbolic link leads, if that is inside the folder; otherwise a ``CliError``."""
    target = link.resolve()
    if not target.is_relative_to(root):
        raise CliError(
            "InvalidBundle",
            f"{name} is a symbolic link to {target}, outside {root}: copy the file in, or add "
            f"{name} to {IGNORE_FILE}",
        )
    if not target.exists():
        raise CliError("InvalidBundle", f"{name} is a broken symbolic link (to {target})")
    return target
