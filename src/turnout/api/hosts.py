"""Which ``Host`` names the control plane answers: the guard against DNS rebinding.

A web page can rebind its own domain name to 127.0.0.1 and then reach ``turnout serve`` as a
same-origin request; its requests still carry the page's ``Host``. So the control plane (``/v1/...``
except the probes ``/v1/health`` and ``/v1/ready``; ``/metrics``, the OpenAPI document and docs) and the
Lambda-compatible API answer only requests whose ``Host`` names this server: the loopback names, the
address it listens on (unless a wildcard), the hosts of ``TURNOUT_PUBLIC_URL`` and
``TURNOUT_ADVERTISE_URL``, and ``TURNOUT_ALLOWED_HOSTS``. Others get
``HostNotAllowed`` (421) before anything runs. HTTP routes and function URLs (``/lambda-url/...``) are
public by design and serve any ``Host``.

:class:`HostPolicy` is the rule; :class:`HostGuard` applies it as ASGI middleware; the native invoke
door in ``api/protocol.py`` asks the same policy.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from turnout.api.errors import send_error
from turnout.errors import HostNotAllowed
from turnout.lambda_api.errors import PREFIXES as LAMBDA_PREFIXES
from turnout.settings import Settings

LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARDS = frozenset({"", "0.0.0.0", "::"})
OPEN_PATHS = frozenset({"/v1/health", "/v1/ready"})  # probes: load balancers send any Host, or none
GUARDED_PREFIXES = ("/v1/", "/metrics", "/openapi.json", "/docs", "/redoc", *LAMBDA_PREFIXES)


def host_name(header: str) -> str:
    """The name in a ``Host`` header, lower-case, without port or IPv6 brackets.

    >>> host_name("Example.COM:8420"), host_name("[::1]:80"), host_name("127.0.0.1")
    ('example.com', '::1', '127.0.0.1')
    """
    text = header.strip().lower()
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text
    name, _, port = text.rpartition(":")
    return name if name and port.isascii() and port.isdigit() else text


def guarded(path: str) -> bool:
    """Whether requests to ``path`` must name a known host (the control plane and the Lambda API).

    >>> guarded("/v1/functions"), guarded("/v1/health"), guarded("/lambda-url/x/"), guarded("/shop")
    (True, False, False, False)
    """
    return path not in OPEN_PATHS and path.startswith(GUARDED_PREFIXES)


@dataclass(frozen=True)
class HostPolicy:
    """The host names the control plane answers; ``*`` in ``names`` allows any, ``.example.com`` any
    subdomain of example.com (and example.com itself)."""

    names: frozenset[str]

    @classmethod
    def from_settings(cls, settings: Settings) -> HostPolicy:
        names = set(LOOPBACK)
        if settings.host not in WILDCARDS:
            names.add(host_name(settings.host))
        for url in (settings.public_url, settings.node_url):  # clients' address, and the one peers use
            known = urllib.parse.urlsplit(url).hostname if url else None
            if known:
                names.add(known.lower())
        names |= set(_listed(settings.allowed_hosts))
        return cls(frozenset(names))

    def allows(self, header: str | None) -> bool:
        """Whether a request with this ``Host`` header (None when absent) may reach the control plane."""
        if "*" in self.names:
            return True
        if not header:
            return False
        name = host_name(header)
        if name in self.names:
            return True
        return any(n.startswith(".") and (name.endswith(n) or name == n[1:]) for n in self.names)

    def refusal(self, header: str | None) -> HostNotAllowed:
        return HostNotAllowed(
            f"this server does not answer to Host {header!r} on its API: add the name to "
            "TURNOUT_ALLOWED_HOSTS (or TURNOUT_PUBLIC_URL) if you reach it by that name",
            host=(header or "")[:100],
        )


def _listed(text: str) -> Iterable[str]:
    return (host_name(item) if item.strip() != "*" else "*" for item in text.split(",") if item.strip())


class HostGuard:
    """ASGI middleware: control-plane and Lambda API requests must name a known host."""

    def __init__(self, app: Any, policy: HostPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not guarded(scope["path"]):
            await self.app(scope, receive, send)
            return
        header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
        if self.policy.allows(header):
            await self.app(scope, receive, send)
            return
        await send_error(send, scope["path"], self.policy.refusal(header))
