"""Which environment values are secrets, and how they are shown."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

MASK = "****"
_SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|PRIVATE|API_?KEY|_KEY$", re.I)


def is_secret(key: str, declared: Iterable[str] = ()) -> bool:
    """A key is secret when declared so, or when its name says so.

    >>> is_secret("DB_PASSWORD"), is_secret("STRIPE_API_KEY"), is_secret("GREETING")
    (True, True, False)
    """
    return key in set(declared) or bool(_SECRET_NAME.search(key))


def mask(environment: Mapping[str, str], declared: Iterable[str] = ()) -> dict[str, str]:
    declared = frozenset(declared)
    return {k: (MASK if is_secret(k, declared) else v) for k, v in environment.items()}
