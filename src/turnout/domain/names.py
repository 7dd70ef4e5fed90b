"""Names of functions, aliases, handlers, environment variables, and qualifiers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from turnout.domain.version_number import looks_numeric, parse_version_number
from turnout.errors import InvalidName

LATEST = "$LATEST"

_FUNCTION = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ALIAS = re.compile(r"[A-Za-z0-9_-]{1,128}")
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_HANDLER = re.compile(rf"{_IDENT}(?:\.{_IDENT})*\.{_IDENT}")
_ENV_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
RESERVED_ENV_PREFIXES = ("AWS_LAMBDA_", "TURNOUT_")
RESERVED_ENV_KEYS = frozenset({"_HANDLER", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "AWS_EXECUTION_ENV"})


def check_function_name(name: str) -> str:
    """Return ``name`` if it is a valid function name (letters, digits, ``-``, ``_``; 1-64 chars)."""
    if not _FUNCTION.fullmatch(name):
        raise InvalidName(f"invalid function name {name!r}: use 1-64 letters, digits, '-' or '_'", name=name)
    return name


def check_alias_name(name: str) -> str:
    """Return ``name`` if it can name an alias: like a function name, but never all digits."""
    if not _ALIAS.fullmatch(name):
        raise InvalidName(f"invalid alias name {name!r}: use 1-128 letters, digits, '-' or '_'", name=name)
    if looks_numeric(name):
        raise InvalidName(
            f"invalid alias name {name!r}: a name of digits (or '-' and digits) would be read as a version "
            "number",
            name=name,
        )
    return name


def check_handler(handler: str) -> str:
    """Normalise and check a handler: ``module.func``, ``pkg.module.func`` or ``pkg/module.func``.

    >>> check_handler("src/app.main")
    'src.app.main'
    """
    dotted = handler.replace("/", ".")
    if not _HANDLER.fullmatch(dotted):
        raise InvalidName(
            f"invalid handler {handler!r}: expected 'module.function', e.g. 'app.handler'",
            handler=handler,
        )
    return dotted


def handler_module_files(handler: str) -> tuple[str, str]:
    """The two files that can hold a handler's module.

    >>> handler_module_files("pkg.app.main")
    ('pkg/app.py', 'pkg/app/__init__.py')
    """
    module = check_handler(handler).rsplit(".", 1)[0].replace(".", "/")
    return f"{module}.py", f"{module}/__init__.py"


def check_env_key(key: str) -> str:
    if not _ENV_KEY.fullmatch(key):
        raise InvalidName(
            f"invalid environment variable name {key!r}: use letters, digits and '_', starting with a letter",
            key=key,
        )
    if key in RESERVED_ENV_KEYS or key.startswith(RESERVED_ENV_PREFIXES):
        raise InvalidName(f"environment variable {key!r} is reserved for the runtime", key=key)
    return key


@dataclass(frozen=True)
class Qualifier:
    """What an invocation or a read names: ``$LATEST``, a version number, or an alias."""

    version: int | None = None
    alias: str | None = None

    @property
    def is_latest(self) -> bool:
        return self.version is None and self.alias is None

    def __str__(self) -> str:
        if self.alias is not None:
            return self.alias
        return LATEST if self.version is None else str(self.version)


def parse_qualifier(text: str | None) -> Qualifier:
    """Read a qualifier.

    >>> parse_qualifier("7"), parse_qualifier("prod"), parse_qualifier("$LATEST").is_latest
    (Qualifier(version=7, alias=None), Qualifier(version=None, alias='prod'), True)
    """
    if text is None or text in ("", LATEST):
        return Qualifier()
    if looks_numeric(text):
        return Qualifier(version=parse_version_number(text, "qualifier"))
    return Qualifier(alias=check_alias_name(text))


def split_qualified(name: str) -> tuple[str, str | None]:
    """Split ``fn:qualifier``.

    >>> split_qualified("thumbs:prod"), split_qualified("thumbs")
    (('thumbs', 'prod'), ('thumbs', None))
    """
    function, sep, qualifier = name.partition(":")
    return function, (qualifier if sep else None)
