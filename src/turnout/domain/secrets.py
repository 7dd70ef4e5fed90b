"""Which environment values are secrets, how they are shown, and how a sealed value reads.

A secret value is stored *sealed* (``turnout.keyring`` does the cryptography): the text
``tsec1:<digest>:<blob>``, where ``digest`` is an HMAC of the plain value (it changes exactly when the
value does, and reveals nothing without the key) and ``blob`` is the AES-GCM nonce and ciphertext. The
rules here only read that shape: no key, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping

MASK = "****"
SEALED_PREFIX = "tsec1:"
NONCE_BYTES = 12
TAG_BYTES = 16
_SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|PRIVATE|API_?KEY|_KEY$", re.I)


def is_secret(key: str, declared: Iterable[str] = ()) -> bool:
    """A key is secret when declared so, or when its name says so.

    >>> is_secret("DB_PASSWORD"), is_secret("STRIPE_API_KEY"), is_secret("GREETING")
    (True, True, False)
    """
    return key in set(declared) or bool(_SECRET_NAME.search(key))


def is_sealed(value: str) -> bool:
    """``value`` has the shape of a sealed secret.

    >>> is_sealed("tsec1:abc:def"), is_sealed("hunter2")
    (True, False)
    """
    return value.startswith(SEALED_PREFIX) and value.count(":") == 2


def sealed_parts(value: str) -> tuple[str, str]:
    """(digest, blob) of a sealed value.

    >>> sealed_parts("tsec1:abc:def")
    ('abc', 'def')
    """
    _, digest, blob = value.split(":")
    return digest, blob


def comparable(value: str) -> str:
    """What tells two values apart: a sealed value by its digest (its nonce differs every time).

    >>> comparable("tsec1:abc:def"), comparable("plain")
    ('sealed:abc', 'plain')
    """
    return f"sealed:{sealed_parts(value)[0]}" if is_sealed(value) else value


def plain_size(value: str) -> int:
    """Bytes of the plain value: a sealed one counts as what it hides, so limits do not move.

    >>> plain_size("héllo")
    6
    """
    if not is_sealed(value):
        return len(value.encode())
    try:
        blob = base64.urlsafe_b64decode(sealed_parts(value)[1])
    except (binascii.Error, ValueError):
        return len(value.encode())
    return max(0, len(blob) - NONCE_BYTES - TAG_BYTES)


def mask(environment: Mapping[str, str], declared: Iterable[str] = ()) -> dict[str, str]:
    """The environment as shown: secret and sealed values become ``****``."""
    declared = frozenset(declared)
    return {k: (MASK if is_secret(k, declared) or is_sealed(v) else v) for k, v in environment.items()}
