"""Worker confinement: what a function's process can reach, applied after the fork, before its code runs.

Standard library only (``ctypes``): ``bootstrap.py`` loads this file inside workers; the server imports
it for :func:`probe`. :func:`apply` takes the plan the server made (``turnout.runtime.isolation``) and,
in this order, while still root:

1. its own mount namespace: a fresh size-limited tmpfs on ``/tmp`` (the scratch space, gone with the
   worker), tmpfs masks over the data folder and any folder the uid could not search, and read-only
   bind mounts that put back, at their own paths, only the version's code, its layer and the Python
   (the masks and binds every worker shares are applied once, to the zygote's own namespace, which each
   worker's starts as a copy of: :func:`enter_base`);
2. the cwd is the code folder; fd 0-2 become ``/dev/null`` and every other descriptor but the worker's
   socket is closed;
3. ``no_new_privs``, then the function's own unprivileged uid and gid (no supplementary groups);
4. Landlock: read-only the plan's ``read`` paths, read-write ``/tmp`` and a few device files; from ABI 6
   signals and abstract unix sockets are scoped to the worker's own processes.

Any failure raises :class:`SandboxError`; the caller exits rather than run the function unconfined.
"""

from __future__ import annotations

import ctypes
import functools
import os
import stat
from typing import Any

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # x86_64 and the generic table (arm64)
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_CLONE_NEWNS = 0x00020000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = (
    1,
    2,
    4,
    32,
    4096,
    16384,
    1 << 18,
)
_O_PATH = getattr(os, "O_PATH", 0o10000000)

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1, 2, 4, 8
_ABI_FS = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}  # 5+: (1 << 16) - 1
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1, 2
READ = EXECUTE | READ_FILE | READ_DIR
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


class SandboxError(OSError):
    """The kernel refused a step of the confinement."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


@functools.cache
def _libc() -> Any:
    """The C library with the calls the sandbox makes looked up: loaded once, in the zygote (``prepare``),
    so a fork starts with it ready (loading and resolving costs ~0.3 ms a worker otherwise)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    for name in ("mount", "unshare", "prctl"):
        getattr(libc, name)
    return libc


def prepare() -> None:
    """Load what every worker's sandbox needs before the zygote forks any (the kernel's answers and the
    library do not change while it runs)."""
    _libc()
    landlock_abi()


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise SandboxError(err, f"{what}: {os.strerror(err)}")
    return result


@functools.cache
def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when it has none (or it is disabled)."""
    try:
        libc = _libc()
    except OSError:
        return 0
    version = libc.syscall(
        _CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION)
    )
    return max(0, int(version))


def probe() -> tuple[int, str]:
    """(Landlock ABI, why the sandbox cannot run here or ``""``)."""
    abi = landlock_abi()
    if abi < 1:
        return 0, "the kernel offers no Landlock (Linux 5.13 or later with landlock in the LSM list)"
    if os.geteuid() != 0:
        return abi, "the server does not run as root (needed for worker uids and mount namespaces)"
    return abi, ""


# the part of the plans every worker shares that this process's mount namespace already has
# (``enter_base``: the zygote's), inherited by its forks; the error if entering it failed
_entered: tuple[tuple[str, ...], tuple[str, ...]] | None = None
_base_error: str = ""


def enter_base(base: dict[str, list[str]]) -> None:
    """Give this process (the zygote) its own private mount namespace with ``base`` applied (masks over
    folders workers may not search, the Python bound back read-only), once: each worker forked after it
    starts from a copy and only adds what is its own (``/tmp``, the data folder's mask, its version).
    A failure is kept and reported by every worker's :func:`apply`, which then refuses to run."""
    global _entered, _base_error
    if _entered is not None or _base_error:
        return
    libc = _libc()
    try:
        _check(libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        _mount(libc, None, "/", None, _MS_REC | _MS_PRIVATE, None)
        _entered = ((), ())  # private from here on: a worker's copy needs no remount
        old_umask = os.umask(0o022)
        try:
            _mask_and_bind(libc, base["masks"], base["binds"], None)
        finally:
            os.umask(old_umask)
        _entered = (tuple(base["masks"]), tuple(base["binds"]))
    except OSError as exc:
        _base_error = f"the fork server's sandbox base: {exc}"


def apply(plan: dict[str, Any], keep_fd: int) -> None:
    """Confine this process (see the module docstring). Irreversible; call once, in a fresh fork."""
    if _base_error:
        raise SandboxError(0, _base_error)
    libc = _libc()
    old_umask = os.umask(0o022)
    _mount_namespace(libc, plan)
    os.umask(old_umask)
    os.chdir(plan["cwd"])
    _close_descriptors(keep_fd)
    _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(no_new_privs)")
    uid = int(plan["uid"])
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _restrict(libc, plan)


# ---------------------------------------------------------------------------------------------- mounts


def _mount(
    libc: Any, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
) -> None:
    encoded = [None if s is None else s.encode() for s in (source, target, fstype, data)]
    result = libc.mount(encoded[0], encoded[1], encoded[2], ctypes.c_ulong(flags), encoded[3])
    _check(result, f"mount {target}")


def _mount_namespace(libc: Any, plan: dict[str, Any]) -> None:
    _check(libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    masks, binds = plan["masks"], plan["binds"]
    if _entered is None:  # no shared base: everything here
        _mount(libc, None, "/", None, _MS_REC | _MS_PRIVATE, None)
    else:  # a copy of the zygote's namespace, already private, with the shared masks and binds
        masks = [m for m in masks if m not in _entered[0]]
        binds = [b for b in binds if b not in _entered[1]]
    _mask_and_bind(libc, masks, binds, f"size={int(plan['tmp_mb'])}m,mode=1777")


def _mask_and_bind(libc: Any, masks: list[str], binds: list[str], scratch: str | None) -> None:
    """tmpfs over ``masks`` (and ``/tmp``, sized by ``scratch``), then ``binds`` put back read-only at their
    own paths (opened before anything is masked)."""
    sources = {path: os.open(path, _O_PATH | os.O_CLOEXEC) for path in binds}
    try:
        for mask in masks:
            _mount(libc, "tmpfs", mask, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,mode=0755")
        if scratch is not None:
            _mount(libc, "tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, scratch)  # noqa: S108 - its own tmpfs
        for path, fd in sources.items():
            os.makedirs(path, 0o755, exist_ok=True)
            _mount(libc, f"/proc/self/fd/{fd}", path, None, _MS_BIND | _MS_REC, None)
            readonly = _MS_BIND | _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV
            _mount(libc, None, path, None, readonly, None)
    finally:
        for fd in sources.values():
            os.close(fd)


def _close_descriptors(keep_fd: int) -> None:
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        if fd != null:
            os.dup2(null, fd)
    os.closerange(3, keep_fd)
    os.closerange(keep_fd + 1, 1 << 20)


# ---------------------------------------------------------------------------------------------- landlock


def _handled(abi: int) -> int:
    return _ABI_FS.get(abi, (1 << 16) - 1)


def _restrict(libc: Any, plan: dict[str, Any]) -> None:
    abi = landlock_abi()
    if abi < 1:
        raise SandboxError(0, "Landlock is not available")
    handled = _handled(abi)
    attr = _RulesetAttr(handled, 0, _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL if abi >= 6 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else 8
    ruleset = _check(
        libc.syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)),
        "landlock_create_ruleset",
    )
    try:
        for path in plan["read"]:
            _allow(libc, ruleset, path, READ & handled, optional=True)
        _allow(libc, ruleset, "/tmp", handled, optional=False)  # noqa: S108 - the worker's own tmpfs
        device = (READ_FILE | WRITE_FILE | _TRUNCATE | _IOCTL_DEV) & handled
        for path in DEVICES:
            _allow(libc, ruleset, path, device, optional=True)
        _check(libc.syscall(_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)), "landlock_restrict_self")
    finally:
        os.close(ruleset)


def _allow(libc: Any, ruleset: int, path: str, access: int, optional: bool) -> None:
    try:
        fd = os.open(path, _O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        if optional:
            return
        raise
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            access &= EXECUTE | READ_FILE | WRITE_FILE | _TRUNCATE | _IOCTL_DEV
        rule = _PathBeneath(access, fd)
        _check(
            libc.syscall(
                _ADD_RULE, ruleset, ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule), ctypes.c_uint32(0)
            ),
            f"landlock_add_rule {path}",
        )
    finally:
        os.close(fd)
