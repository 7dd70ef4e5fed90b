"""Dependency layers: a bundle's requirements resolved to a pinned set and installed with ``uv``.

A layer is a folder ``<layers_dir>/<key>`` that a worker puts first on ``sys.path``. It holds exactly
the packages of one pinned set (``name==version`` lines), installed for one interpreter. Versions with
the same pinned set share a layer; a version records its pinned set, so any node can rebuild the layer
with :meth:`LayerBuilder.ensure`.

Building is two ``uv`` calls: ``uv pip compile`` (resolve, for the target interpreter) and
``uv pip install --target --no-deps`` (install the pinned set as is). The install goes to a temporary
folder inside ``layers_dir`` that is renamed into place, so a layer folder is complete or absent. A
per-key file lock makes two publishes of the same set build it once; a builder that loses a race
anyway (another node sharing the folder) discards its copy.

``uv`` runs with ``--no-config`` and without the ``UV_*`` variables that change what gets resolved, so
only Turnout's settings (wheel folder, offline, index URL) decide; its cache is Turnout's own.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from turnout.errors import DependencyResolutionFailed

# Variables that would let the server's environment change what a layer contains.
_IGNORED_UV_VARIABLES = frozenset(
    {
        "UV_CACHE_DIR",
        "UV_CONFIG_FILE",
        "UV_CONSTRAINT",
        "UV_DEFAULT_INDEX",
        "UV_EXCLUDE_NEWER",
        "UV_EXTRA_INDEX_URL",
        "UV_FIND_LINKS",
        "UV_INDEX",
        "UV_INDEX_STRATEGY",
        "UV_INDEX_URL",
        "UV_NO_BINARY",
        "UV_NO_BUILD",
        "UV_NO_CACHE",
        "UV_NO_INDEX",
        "UV_OFFLINE",
        "UV_ONLY_BINARY",
        "UV_OVERRIDE",
        "UV_PRERELEASE",
        "UV_PYTHON",
        "UV_RESOLUTION",
        "UV_SYSTEM_PYTHON",
        "UV_TARGET",
        "UV_TORCH_BACKEND",
    }
)
_MAX_MESSAGE_LINES = 15
_KEY = re.compile(r"[0-9a-f]{64}")  # a layer folder's name: key_for()'s sha256
_MAX_MESSAGE_CHARS = 2000
_TARGET_PROBE = (
    "import sys, sysconfig; "
    "print(sys.implementation.name, '%d.%d' % sys.version_info[:2], "
    "getattr(sys, 'abiflags', ''), sysconfig.get_platform())"
)


@dataclass(frozen=True)
class Layer:
    key: str
    path: Path


def find_uv() -> str:
    """The ``uv`` binary of the ``uv`` package, else the one on PATH."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            raise DependencyResolutionFailed(
                "uv is not installed: install the `uv` package next to Turnout"
            ) from None
        return found


def target_tag(implementation: str, python_version: str, abiflags: str, platform: str) -> str:
    """What a layer is built for, e.g. ``cpython-3.11-linux-x86_64`` (``cpython-3.13t-…`` free-threaded)."""
    return f"{implementation}-{python_version}{abiflags}-{platform}"


def key_for(pinned: Sequence[str], tag: str) -> str:
    """sha256 of the pinned lines, one per line, then ``target=<tag>``: see :meth:`LayerBuilder.layer_key`."""
    text = "".join(f"{line}\n" for line in pinned) + f"target={tag}\n"
    return hashlib.sha256(text.encode()).hexdigest()


def pinned_lines(output: str) -> tuple[str, ...]:
    """The requirement lines of ``uv pip compile`` output, names normalised, sorted by name.

    Comments, annotations (``# via …``), option lines and blanks are dropped.

    >>> pinned_lines("# header\\nTiny_Dep==1.0\\n    # via app\\n--find-links w\\nabc==2\\n")
    ('abc==2', 'tiny-dep==1.0')
    """
    found: dict[str, str] = {}
    for raw in output.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        name = canonicalize_name(requirement.name)
        found[name] = name + line[len(requirement.name) :]
    return tuple(found[name] for name in sorted(found))


def trim_message(stderr: str) -> str:
    """The useful lines of uv's stderr: no progress or interpreter chatter, at most a few lines."""
    noise = ("Using Python", "Using CPython", "Resolved ", "Prepared ", "Installed ", "Audited ")
    lines = [line.rstrip() for line in stderr.splitlines()]
    useful = [line for line in lines if line.strip() and not line.lstrip().startswith(noise)]
    text = "\n".join(useful[-_MAX_MESSAGE_LINES:]) or "uv gave no message"
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[: _MAX_MESSAGE_CHARS - 1] + "…"


class LayerBuilder:
    """Resolves requirements and builds layers for one interpreter (by default the server's own)."""

    def __init__(
        self,
        layers_dir: Path,
        python: str = sys.executable,
        wheel_dir: Path | None = None,
        offline: bool = False,
        index_url: str | None = None,
        cache_dir: Path | None = None,
        timeout: float = 900.0,
    ) -> None:
        self.layers_dir = layers_dir
        self.python = python
        self.wheel_dir = wheel_dir
        self.offline = offline
        self.index_url = index_url or None
        self.cache_dir = cache_dir or layers_dir.parent / "uv-cache"
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"LayerBuilder({self.layers_dir}, target={self.target}, offline={self.offline})"

    @cached_property
    def target(self) -> str:
        """The target tag of :func:`target_tag` for ``self.python`` (asked once if it is another one)."""
        if os.path.realpath(self.python) == os.path.realpath(sys.executable):
            version = f"{sys.version_info.major}.{sys.version_info.minor}"
            abiflags = getattr(sys, "abiflags", "")
            return target_tag(sys.implementation.name, version, abiflags, sysconfig.get_platform())
        try:
            probe = subprocess.run(
                [self.python, "-c", _TARGET_PROBE], capture_output=True, text=True, timeout=60, check=True
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise DependencyResolutionFailed(f"cannot run the target Python {self.python}: {exc}") from exc
        implementation, version, *rest = probe.stdout.split()
        abiflags, platform = (rest[0], rest[1]) if len(rest) == 2 else ("", rest[0])
        return target_tag(implementation, version, abiflags, platform)

    def resolve(self, requirements: tuple[str, ...]) -> tuple[str, ...]:
        """The pinned set (``name==version`` lines, sorted, names normalised), transitive ones included."""
        if not requirements:
            return ()
        with self._workspace() as work:
            source = work / "requirements.in"
            source.write_text("".join(f"{line}\n" for line in requirements))
            output = self._uv(
                "resolve",
                ["pip", "compile", "--no-header", "--no-annotate", "--quiet", str(source)],
            )
        return pinned_lines(output)

    def layer_key(self, pinned: Sequence[str]) -> str:
        """The layer's folder name: sha256 of the pinned lines, one a line, then ``target=<tag>``.

        The tag (:func:`target_tag`) is the interpreter's implementation, major.minor (with ABI flags)
        and ``sysconfig.get_platform()``. For ``("tinydep==1.0",)`` on CPython 3.11 on x86-64 Linux::

            sha256(b"tinydep==1.0\\ntarget=cpython-3.11-linux-x86_64\\n")
            = 62a8657e3194c1172da2d8c0d40b84f4c256f0000d24d9821a30e1c7593bba22

        so the same pinned set on the same kind of interpreter gets the same folder on every node.
        """
        return key_for(pinned, self.target)

    def path(self, key: str) -> Path:
        return self.layers_dir / key

    def stored(self) -> list[tuple[str, float]]:
        """Layers on disk here, with their age in seconds (since built), oldest first."""
        if not self.layers_dir.is_dir():
            return []
        now = time.time()
        found = [
            (entry.name, now - entry.stat().st_mtime)
            for entry in self.layers_dir.iterdir()
            if _KEY.fullmatch(entry.name) and entry.is_dir()
        ]
        return sorted(found, key=lambda item: -item[1])

    def delete(self, key: str) -> None:
        """Remove a layer (under its build lock, so never while it is being built)."""
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a layer key: {key!r}")
        with self._lock(key):
            final = self.path(key)
            if final.is_dir():  # renamed aside first: a reader never sees a half-deleted layer
                doomed = self.layers_dir / f".delete-{key}-{os.getpid()}"
                final.rename(doomed)
                shutil.rmtree(doomed, ignore_errors=True)
        (self.layers_dir / f".{key}.lock").unlink(missing_ok=True)

    def sweep(self, older_than_s: float) -> int:
        """Remove scratch folders left by builds that died (older than ``older_than_s``); how many."""
        if not self.layers_dir.is_dir():
            return 0
        now, gone = time.time(), 0
        for entry in self.layers_dir.iterdir():
            scratch = entry.name.startswith((".build-", ".delete-")) and entry.is_dir()
            if scratch and now - entry.stat().st_mtime >= older_than_s:
                shutil.rmtree(entry, ignore_errors=True)
                gone += 1
        return gone

    def ensure(self, pinned: Sequence[str]) -> Layer | None:
        """The layer of ``pinned``, built if it is not there yet. ``None`` for an empty set."""
        if not pinned:
            return None
        key = self.layer_key(pinned)
        final = self.path(key)
        if final.is_dir():
            return Layer(key, final)
        self.layers_dir.mkdir(parents=True, exist_ok=True)
        with self._lock(key):
            if final.is_dir():  # built by whoever held the lock before us
                return Layer(key, final)
            with self._workspace() as work:
                pins = work / "requirements.txt"
                pins.write_text("".join(f"{line}\n" for line in pinned))
                site = work / "site"
                self._uv(
                    "install",
                    ["pip", "install", "--quiet", "--no-deps", "--link-mode", "copy"]
                    + ["--target", str(site), "-r", str(pins)],
                )
                (site / ".lock").unlink(missing_ok=True)  # uv's own lock file, not part of the layer
                _readable_by_all(site)  # sandboxed workers run as other uids
                try:
                    site.rename(final)
                except OSError:
                    if not final.is_dir():
                        raise
                    # another node sharing the folder finished first: keep theirs, drop ours
        return Layer(key, final)

    # -- uv ----------------------------------------------------------------------------------------

    def _uv(self, step: str, args: list[str]) -> str:
        command = [find_uv(), *args[:2], "--no-config", "--color", "never", "--python", self.python]
        command += self._index_options() + args[2:]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, env=self._environ(), timeout=self.timeout
            )
        except subprocess.TimeoutExpired as exc:
            raise DependencyResolutionFailed(
                f"could not {step} the requirements: uv took longer than {self.timeout:.0f} s"
            ) from exc
        except OSError as exc:
            raise DependencyResolutionFailed(f"could not {step} the requirements: {exc}") from exc
        if done.returncode != 0:
            message = trim_message(done.stderr)
            raise DependencyResolutionFailed(
                f"could not {step} the requirements:\n{message}", installer_output=message
            )
        return done.stdout

    def _index_options(self) -> list[str]:
        options: list[str] = []
        if self.offline:
            options += ["--offline", "--no-index"]
        elif self.index_url:
            options += ["--index-url", self.index_url]
        if self.wheel_dir is not None:
            options += ["--find-links", str(self.wheel_dir)]
        return options

    def _environ(self) -> dict[str, str]:
        environ = {k: v for k, v in os.environ.items() if k not in _IGNORED_UV_VARIABLES}
        environ.update(
            UV_CACHE_DIR=str(self.cache_dir),
            UV_NO_PROGRESS="1",
            UV_PYTHON_DOWNLOADS="never",
            NO_COLOR="1",
        )
        return environ

    @contextlib.contextmanager
    def _workspace(self) -> Iterator[Path]:
        """A scratch folder inside ``layers_dir`` (same file system, so the final rename is atomic)."""
        self.layers_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".build-", dir=self.layers_dir))
        try:
            yield work
        finally:
            shutil.rmtree(work, ignore_errors=True)

    @contextlib.contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        with open(self.layers_dir / f".{key}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _readable_by_all(root: Path) -> None:
    """``chmod -R go+rX``: whatever the umask was, workers of any uid can read (never write) the layer."""
    for folder, _, files in os.walk(root):
        os.chmod(folder, os.stat(folder).st_mode | 0o755)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                mode = os.stat(path).st_mode
                os.chmod(path, mode | 0o444 | (0o111 if mode & 0o100 else 0))
