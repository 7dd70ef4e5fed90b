"""`ApiClient`: the native HTTP API over httpx, with every failure turned into a `CliError`.

Where to connect comes from the environment:

* ``TURNOUT_URL``: the server (default ``http://127.0.0.1:$TURNOUT_PORT``, port 8420 when unset);
* ``TURNOUT_TOKEN``: the API token; when unset, the admin token that ``turnout serve`` wrote to
  ``$TURNOUT_DATA_DIR/admin-token`` (default ``.turnout/admin-token``), so the quickstart works from the
  folder the server runs in without exporting anything.

httpx is imported on first use so that ``turnout --help`` stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    import httpx

DEFAULT_URL = "http://127.0.0.1:8420"
DEFAULT_DATA_DIR = ".turnout"
TOKEN_FILE = "admin-token"


class CliError(Exception):
    """A failure to show as ``error: <code>: <message>``; ``code`` is the API's stable error code."""

    def __init__(
        self, code: str, message: str, status: int | None = None, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status
        self.details: dict[str, Any] = dict(details or {})


def api_path(*parts: str | int) -> str:
    """``/v1/...`` with each part percent-encoded: ``api_path("functions", "f", "diff")``."""
    return "/v1/" + "/".join(quote(str(p), safe="") for p in parts)


def find_token(environ: Mapping[str, str]) -> str | None:
    """``TURNOUT_TOKEN``, else the admin token file the local server wrote, else ``None``."""
    token = environ.get("TURNOUT_TOKEN", "").strip()
    if token:
        return token
    path = Path(environ.get("TURNOUT_DATA_DIR") or DEFAULT_DATA_DIR) / TOKEN_FILE
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


@dataclass(frozen=True)
class Reply:
    """An answer of the API: its status and its JSON body (``None`` when there is none)."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


class ApiClient:
    """A small, synchronous client of ``/v1``. Use it as a context manager to reuse one connection."""

    def __init__(self, url: str = DEFAULT_URL, token: str | None = None, timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._http: httpx.Client | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ApiClient:
        env = os.environ if environ is None else environ
        port = env.get("TURNOUT_PORT", "").strip()
        default = f"http://127.0.0.1:{port}" if port.isdigit() else DEFAULT_URL
        return cls(env.get("TURNOUT_URL", "").strip() or default, find_token(env))

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Send one request; a non-2xx answer or a transport failure raises :class:`CliError`."""
        import httpx

        sent = dict(headers or {})
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._client().request(
                method, path, params=query, json=json, content=content, headers=sent
            )
        except httpx.TimeoutException as exc:
            raise CliError(
                "ServerTimeout", f"Turnout at {self.url} did not answer {method} {path} in time ({exc})"
            ) from exc
        except httpx.ConnectError as exc:
            raise CliError(
                "ServerUnreachable",
                f"cannot reach Turnout at {self.url}: is `turnout serve` running? set TURNOUT_URL",
            ) from exc
        except httpx.TransportError as exc:
            raise CliError(
                "ConnectionFailed", f"the connection to {self.url} failed during {method} {path}: {exc}"
            ) from exc
        if not response.is_success:
            raise self._error(response)
        try:
            body = response.json() if response.content else None
        except ValueError as exc:
            answer = f"{method} {path} answered {response.status_code} without JSON"
            raise CliError("HttpError", f"{answer}: is {self.url} a Turnout server?") from exc
        return Reply(response.status_code, body, dict(response.headers))

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params).body

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.call("POST", path, json=json, **kwargs).body

    def put(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.call("PUT", path, json=json, **kwargs).body

    def delete(self, path: str, **params: Any) -> None:
        self.call("DELETE", path, params=params)

    def _client(self) -> httpx.Client:
        import httpx

        if self._http is None:
            self._http = httpx.Client(base_url=self.url, timeout=self.timeout)
        return self._http

    def _error(self, response: httpx.Response) -> CliError:
        try:
            error = response.json()["error"]
            code, message = str(error["code"]), str(error["message"])
            details = error.get("details") or {}
            if error.get("trace") is not None:  # a function's failure: its type and traceback
                details = {"type": error.get("type"), "trace": error["trace"]}
        except (ValueError, KeyError, TypeError):
            text = response.text.strip().replace("\n", " ")[:200]
            status = response.status_code
            return CliError("HttpError", f"HTTP {status} from {self.url}: {text}", status)
        if response.status_code == 401 and not self.token:
            message += (
                " (no token found: set TURNOUT_TOKEN, or run where `turnout serve` keeps"
                f" {DEFAULT_DATA_DIR}/{TOKEN_FILE}, or set TURNOUT_DATA_DIR)"
            )
        return CliError(code, message, response.status_code, details)
