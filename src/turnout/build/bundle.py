"""Checking an uploaded zip and describing what is inside it.

A bundle is accepted only if every entry stays inside the bundle root (no ``..``, no absolute path,
no symlink), it fits the size limits, and it is not a zip bomb. Each file is decompressed once while
counting, so a lying header cannot hide a bomb. The result is a :class:`Manifest`: each file's
sha256, the sizes, and the bundle's ``requirements.txt`` as a dependency list.
"""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

from packaging.requirements import InvalidRequirement, Requirement

from turnout.domain.names import handler_module_files
from turnout.errors import BundleTooLarge, HandlerNotFound, InvalidBundle

REQUIREMENTS_FILE = "requirements.txt"
_CHUNK = 256 * 1024
_RATIO_FLOOR = 1024 * 1024


@dataclass(frozen=True)
class BundleLimits:
    max_zipped_bytes: int
    max_unpacked_bytes: int
    max_files: int
    max_ratio: int


@dataclass(frozen=True)
class Manifest:
    sha256: str
    zipped_bytes: int
    unpacked_bytes: int
    files: dict[str, str]  # path -> sha256 of its content
    dependencies: tuple[str, ...]

    def check_handler(self, handler: str) -> None:
        """Refuse a handler whose module file is not in the bundle."""
        candidates = handler_module_files(handler)
        if not any(c in self.files for c in candidates):
            raise HandlerNotFound(
                f"handler {handler!r} needs {candidates[0]} (or {candidates[1]}) in the bundle, "
                "and the bundle has neither",
                handler=handler,
            )


def inspect_bundle(data: bytes, limits: BundleLimits) -> Manifest:
    """Validate a zip and return its manifest, or raise ``InvalidBundle``/``BundleTooLarge``."""
    if not data:
        raise InvalidBundle("the bundle is empty: upload a zip of your function's folder")
    if len(data) > limits.max_zipped_bytes:
        raise BundleTooLarge(
            f"the bundle is {len(data)} bytes zipped; the limit is {limits.max_zipped_bytes}",
            limit=limits.max_zipped_bytes,
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise InvalidBundle(f"the bundle is not a valid zip file: {exc}") from exc
    with archive:
        entries = [info for info in archive.infolist() if not info.is_dir()]
        for info in archive.infolist():
            _check_entry(info)
        if not entries:
            raise InvalidBundle("the bundle has no files")
        if len(entries) > limits.max_files:
            raise BundleTooLarge(f"the bundle has {len(entries)} files; the limit is {limits.max_files}")
        files, unpacked = _hash_entries(archive, entries, len(data), limits)
        dependencies = _requirements(archive) if REQUIREMENTS_FILE in files else ()
    return Manifest(
        sha256=hashlib.sha256(data).hexdigest(),
        zipped_bytes=len(data),
        unpacked_bytes=unpacked,
        files=files,
        dependencies=dependencies,
    )


def _check_entry(info: zipfile.ZipInfo) -> None:
    name = info.filename
    path = PurePosixPath(name.replace("\\", "/"))
    if name.startswith(("/", "\\")) or path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        raise InvalidBundle(f"entry {name!r} has an absolute path: entries must stay inside the bundle")
    if ".." in path.parts:
        raise InvalidBundle(f"entry {name!r} escapes the bundle root with '..'")
    if "\0" in name:
        raise InvalidBundle(f"entry {name!r} has a NUL byte in its name")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise InvalidBundle(f"entry {name!r} is a symbolic link: bundles may hold only files and folders")
    if info.flag_bits & 0x1:
        raise InvalidBundle(f"entry {name!r} is encrypted: bundles cannot be encrypted")


def _hash_entries(
    archive: zipfile.ZipFile, entries: list[zipfile.ZipInfo], zipped: int, limits: BundleLimits
) -> tuple[dict[str, str], int]:
    files: dict[str, str] = {}
    total = 0
    for info in entries:
        name = str(PurePosixPath(info.filename.replace("\\", "/")))
        if name in files:
            raise InvalidBundle(f"entry {name!r} appears twice in the bundle")
        digest = hashlib.sha256()
        try:
            with archive.open(info) as stream:
                while chunk := stream.read(_CHUNK):
                    total += len(chunk)
                    _check_unpacked(total, zipped, limits)
                    digest.update(chunk)
        except (zipfile.BadZipFile, NotImplementedError, EOFError, OSError, RuntimeError) as exc:
            raise InvalidBundle(f"entry {name!r} cannot be read: {exc}") from exc
        files[name] = digest.hexdigest()
    return files, total


def _check_unpacked(total: int, zipped: int, limits: BundleLimits) -> None:
    if total > limits.max_unpacked_bytes:
        raise BundleTooLarge(
            f"the bundle unpacks to more than {limits.max_unpacked_bytes} bytes",
            limit=limits.max_unpacked_bytes,
        )
    if total > _RATIO_FLOOR and total > zipped * limits.max_ratio:
        raise InvalidBundle(
            f"the bundle unpacks to more than {limits.max_ratio} times its zipped size "
            "(a zip bomb?); repack it or raise TURNOUT_BUNDLE_MAX_RATIO",
            max_ratio=limits.max_ratio,
        )


def _requirements(archive: zipfile.ZipFile) -> tuple[str, ...]:
    try:
        text = archive.read(REQUIREMENTS_FILE).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidBundle("requirements.txt is not UTF-8 text") from exc
    return parse_requirements(text)


def parse_requirements(text: str) -> tuple[str, ...]:
    """The requirement lines of a requirements.txt, comments and blanks dropped.

    >>> parse_requirements("# deps\\nrequests==2.32.3  # http\\n\\nattrs>=23\\n")
    ('requests==2.32.3', 'attrs>=23')
    """
    lines: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        if line.startswith("-"):
            raise InvalidBundle(
                f"requirements.txt line {number}: option lines ({line.split()[0]}) are not supported; "
                "list requirements only (indexes are set on the server)"
            )
        try:
            Requirement(line)
        except InvalidRequirement as exc:
            raise InvalidBundle(f"requirements.txt line {number}: {exc}") from exc
        lines.append(line)
    return tuple(lines)


def read_file(data: bytes, path: str, max_bytes: int) -> bytes:
    """One file of a (validated) bundle, read at most ``max_bytes`` + 1 bytes."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if str(PurePosixPath(info.filename.replace("\\", "/"))) == path:
                with archive.open(info) as stream:
                    return stream.read(max_bytes + 1)
    raise KeyError(path)
