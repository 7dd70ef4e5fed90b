"""Version numbers as clients write them: the one parser every door uses.

A version number is written in ASCII digits only (``"²"`` and other Unicode digits that ``str.isdigit``
accepts are refused) and lies in ``1..MAX_VERSION`` (2^31 - 1), which fits every integer column of the
store on SQLite and PostgreSQL. Anything else is :class:`InvalidVersionNumber` (400), never a 500.
"""

from __future__ import annotations

from turnout.errors import InvalidVersionNumber

MAX_VERSION = 2**31 - 1
_MAX_DIGITS = len(str(MAX_VERSION))


def is_version_text(text: str) -> bool:
    """True when ``text`` is written like a version number: 1 to 10 ASCII digits.

    >>> is_version_text("12"), is_version_text("²"), is_version_text("-1"), is_version_text("")
    (True, False, False, False)
    """
    return 0 < len(text) <= _MAX_DIGITS and text.isascii() and text.isdigit()


def looks_numeric(text: str) -> bool:
    """True when ``text`` reads as an attempt at a number (so a number it must be, not a name).

    >>> looks_numeric("18446744073709551616"), looks_numeric("²"), looks_numeric("prod")
    (True, True, False)
    """
    return text != "" and (text.isdigit() or (text[:1] in "+-" and text[1:].isdigit()))


def parse_version_number(value: str | int, what: str = "version") -> int:
    """Read a version number from text (or an int from a JSON body), refusing anything outside 1..2^31-1.

    >>> parse_version_number("7"), parse_version_number(7)
    (7, 7)
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _invalid(value, what)
    if isinstance(value, int):
        number = value
    else:
        text = value.strip()
        if not text.isascii() or not text.isdigit() or len(text) > _MAX_DIGITS + 10:
            raise _invalid(value, what)
        number = int(text)
    if not 1 <= number <= MAX_VERSION:
        raise _invalid(value, what)
    return number


def _invalid(value: object, what: str) -> InvalidVersionNumber:
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    return InvalidVersionNumber(
        f"{what}: {shown} is not a version number; versions are whole numbers from 1 to {MAX_VERSION} "
        "written in ASCII digits",
        value=str(value)[:40],
    )
