"""One exception tree with stable codes.

Every error Turnout raises on purpose is a :class:`TurnoutError`. Each class carries a stable ``code``
(what scripts match on) and a ``status`` (the HTTP status the API answers with; only ``api/`` reads it).
Messages are for people: they say what was wrong and what to do.

    TurnoutError
    ├── InvalidInput                 400 InvalidParameterValue
    │   ├── InvalidName              400 InvalidName
    │   ├── InvalidWeights           400 InvalidWeights
    │   ├── InvalidAliasTarget       400 InvalidAliasTarget
    │   ├── InvalidBundle            400 InvalidBundle
    │   ├── InvalidStrategy          400 InvalidStrategy
    │   ├── InvalidRequestContent    400 InvalidRequestContent
    │   ├── InvalidVersionNumber     400 InvalidVersionNumber
    │   ├── InvalidJson              400 InvalidJson
    │   ├── InvalidSchedule          400 InvalidScheduleExpression
    │   ├── HandlerNotFound          400 Function.HandlerNotFound
    │   ├── FunctionImportFailed     400 Function.ImportError
    │   ├── InsecureSettings         400 InsecureSettings
    │   └── BundleTooLarge           413 BundleTooLarge
    ├── Unauthorized                 401 Unauthorized
    ├── Forbidden                    403 Forbidden
    ├── HostNotAllowed               421 HostNotAllowed
    ├── NotFound                     404 NotFound
    │   ├── FunctionNotFound         404 FunctionNotFound
    │   ├── VersionNotFound          404 VersionNotFound
    │   ├── AliasNotFound            404 AliasNotFound
    │   ├── BundleNotFound           404 BundleNotFound
    │   ├── TokenNotFound            404 TokenNotFound
    │   ├── RolloutNotFound          404 RolloutNotFound
    │   ├── RouteNotFound            404 RouteNotFound
    │   ├── ScheduleNotFound         404 ScheduleNotFound
    │   ├── ResourceNotFound         404 ResourceNotFound
    │   └── ReleaseNotFound          404 ReleaseNotFound
    ├── Conflict                     409 Conflict
    │   ├── VersionInUse             409 VersionInUse
    │   ├── AlreadyExists            409 AlreadyExists
    │   ├── NothingToRollBack        409 NothingToRollBack
    │   ├── RolloutInProgress        409 RolloutInProgress
    │   ├── InvalidRolloutTransition 409 InvalidRolloutTransition
    │   ├── RouteConflict            409 RouteConflict
    │   └── Incompatible             409 Incompatible (a version's [requires] excludes a resource's version)
    ├── PreconditionFailed           412 PreconditionFailed
    ├── DependencyResolutionFailed   422 DependencyResolutionFailed
    ├── RequestTimeout               408 RequestTimeout
    ├── RequestTooLarge              413 RequestTooLarge
    ├── Throttled                    429 Throttled
    ├── BlobCorrupted                500 BlobCorrupted
    ├── SecretKeyInvalid             500 SecretKeyInvalid
    ├── StoreUnavailable             503 StoreUnavailable
    └── SandboxUnavailable           503 SandboxUnavailable (at start: TURNOUT_SANDBOX=require)
"""

from __future__ import annotations

from typing import Any, ClassVar


class TurnoutError(Exception):
    """Base of every error Turnout raises on purpose."""

    code: ClassVar[str] = "InternalError"
    status: ClassVar[int] = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers the answer to this error carries (``Retry-After`` of a throttle); usually none."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code}: {self.message!r})"


class InvalidInput(TurnoutError):
    code = "InvalidParameterValue"
    status = 400


class InvalidName(InvalidInput):
    code = "InvalidName"


class InvalidWeights(InvalidInput):
    code = "InvalidWeights"


class InvalidAliasTarget(InvalidInput):
    code = "InvalidAliasTarget"


class InvalidBundle(InvalidInput):
    code = "InvalidBundle"


class InvalidStrategy(InvalidInput):
    """A rollout strategy that cannot be expanded into steps (unknown preset, weights not increasing...)."""

    code = "InvalidStrategy"


class InvalidVersionNumber(InvalidInput):
    """A version number that is not 1..2^31-1 in ASCII digits (``domain/version_number.py``)."""

    code = "InvalidVersionNumber"


class InvalidJson(InvalidInput):
    """A JSON body nested deeper than the limit (``domain/json_body.py``)."""

    code = "InvalidJson"


class InvalidRequestContent(InvalidInput):
    code = "InvalidRequestContent"


class HandlerNotFound(InvalidInput):
    code = "Function.HandlerNotFound"


class FunctionImportFailed(InvalidInput):
    """The handler's module raised while being imported (at publish-time validation)."""

    code = "Function.ImportError"


class BundleTooLarge(InvalidInput):
    code = "BundleTooLarge"
    status = 413


class Unauthorized(TurnoutError):
    code = "Unauthorized"
    status = 401


class Forbidden(TurnoutError):
    code = "Forbidden"
    status = 403


class HostNotAllowed(TurnoutError):
    """A control-plane request whose ``Host`` this server is not known by (DNS rebinding guard)."""

    code = "HostNotAllowed"
    status = 421


class NotFound(TurnoutError):
    code = "NotFound"
    status = 404


class FunctionNotFound(NotFound):
    code = "FunctionNotFound"


class VersionNotFound(NotFound):
    code = "VersionNotFound"


class AliasNotFound(NotFound):
    code = "AliasNotFound"


class BundleNotFound(NotFound):
    code = "BundleNotFound"


class TokenNotFound(NotFound):
    code = "TokenNotFound"


class RolloutNotFound(NotFound):
    code = "RolloutNotFound"


class Conflict(TurnoutError):
    code = "Conflict"
    status = 409


class VersionInUse(Conflict):
    code = "VersionInUse"


class AliasInUse(Conflict):
    code = "AliasInUse"


class AlreadyExists(Conflict):
    code = "AlreadyExists"


class NothingToRollBack(Conflict):
    code = "NothingToRollBack"


class RolloutInProgress(Conflict):
    """The alias already has a rollout that has not finished."""

    code = "RolloutInProgress"


class InvalidRolloutTransition(Conflict):
    """A rollout was asked to move between two states its transition table does not connect."""

    code = "InvalidRolloutTransition"


class Incompatible(Conflict):
    """A change would send traffic to a version whose ``[requires]`` range excludes the current version of
    a shared resource (or would move a resource past what live versions accept). ``--force`` overrides."""

    code = "Incompatible"


class PreconditionFailed(TurnoutError):
    code = "PreconditionFailed"
    status = 412


class RequestTooLarge(TurnoutError):
    code = "RequestTooLarge"
    status = 413


class RequestTimeout(TurnoutError):
    """A client that took longer than the header or body timeout to send its request."""

    code = "RequestTimeout"
    status = 408


class Throttled(TurnoutError):
    """The function is at its concurrency limit (and its queue full or waited out), or stopped (limit 0).
    ``retry_after`` seconds, when given, is sent as ``Retry-After``."""

    code = "Throttled"
    status = 429

    def __init__(self, message: str, retry_after: int | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}


class DependencyResolutionFailed(TurnoutError):
    """A version's requirements could not be resolved or installed; the message is the installer's."""

    code = "DependencyResolutionFailed"
    status = 422


class BlobCorrupted(TurnoutError):
    """A stored blob no longer matches its sha256: it is never served."""

    code = "BlobCorrupted"
    status = 500


class StoreUnavailable(TurnoutError):
    code = "StoreUnavailable"
    status = 503


class SandboxUnavailable(TurnoutError):
    """TURNOUT_SANDBOX=require on a machine that cannot confine workers; the server does not start."""

    code = "SandboxUnavailable"
    status = 503


class RouteNotFound(NotFound):
    code = "RouteNotFound"


class RouteConflict(Conflict):
    """A route with the same method, host and path (parameter names aside) exists already."""

    code = "RouteConflict"


class InvalidSchedule(InvalidInput):
    """A schedule expression, time zone or missed-tick policy that cannot be read."""

    code = "InvalidScheduleExpression"


class ScheduleNotFound(NotFound):
    code = "ScheduleNotFound"


class EventNotFound(NotFound):
    """No async event with that request id (or it was purged)."""

    code = "EventNotFound"


class EventConfigNotFound(NotFound):
    """No async invocation config for that function qualifier."""

    code = "EventConfigNotFound"


class InsecureSettings(InvalidInput):
    """Settings that would let anyone on the network in (``turnout serve`` refuses to start with them)."""

    code = "InsecureSettings"


class SecretKeyInvalid(TurnoutError):
    """The secret key is missing, unreadable, or not the one the store's secrets were sealed with."""

    code = "SecretKeyInvalid"
    status = 500


class ResourceNotFound(NotFound):
    code = "ResourceNotFound"


class ReleaseNotFound(NotFound):
    code = "ReleaseNotFound"
