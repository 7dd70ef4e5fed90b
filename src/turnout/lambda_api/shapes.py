"""Turnout's functions, versions and aliases as the Lambda API shapes them (FunctionConfiguration,
AliasConfiguration), and Lambda's alias rules.

Differences from AWS, by decision (see README "Lambda-compatible API"): ``Runtime`` is what the client
declared (the server's own Python when it declared none) though every function runs on the server's
Python; ``Role`` is a placeholder (there is no IAM); secret environment values
are shown as ``****`` as everywhere in Turnout, and a ``****`` sent back in an update keeps the stored
value, so read-modify-write scripts do not overwrite secrets with the mask.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from turnout.domain.alias import Alias
from turnout.domain.config import FunctionConfig
from turnout.domain.names import LATEST
from turnout.domain.routing import BASIS_POINTS, Route, Routing
from turnout.domain.secrets import MASK, mask
from turnout.domain.version_number import looks_numeric, parse_version_number
from turnout.errors import InvalidInput
from turnout.lambda_api.names import Arns

RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"


def code_sha256(hex_sha256: str) -> str:
    """Lambda's CodeSha256: base64 of the zip's sha256 digest.

    >>> code_sha256("00" * 32)
    'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='
    """
    return base64.b64encode(bytes.fromhex(hex_sha256)).decode()


def hex_sha256(lambda_sha256: str) -> str:
    try:
        digest = base64.b64decode(lambda_sha256, validate=True)
    except ValueError as exc:
        raise InvalidInput(f"CodeSha256 {lambda_sha256!r} is not base64") from exc
    if len(digest) != 32:
        raise InvalidInput(f"CodeSha256 {lambda_sha256!r} is not a base64 sha256 digest")
    return digest.hex()


def timestamp(at: datetime) -> str:
    """Lambda's LastModified: ``2026-11-26T10:46:21.000+0000``."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


def configuration(
    arns: Arns,
    name: str,
    version: str,
    config: FunctionConfig,
    bundle_sha256: str,
    code_size: int,
    revision_id: str,
    modified: datetime,
    description: str | None = None,
    qualifier: str | None = None,
) -> dict[str, Any]:
    """A FunctionConfiguration. ``qualifier`` qualifies FunctionArn (an alias, or a version's number)."""
    return {
        "FunctionName": name,
        "FunctionArn": arns.function(name, qualifier if qualifier is not None else _qualifier(version)),
        "Runtime": config.runtime or RUNTIME,
        "Role": f"arn:aws:iam::{arns.account_id}:role/turnout",
        "Handler": config.handler,
        "CodeSize": code_size,
        "Description": config.description if description is None else description,
        "Timeout": config.timeout,
        "MemorySize": config.memory,
        "LastModified": timestamp(modified),
        "CodeSha256": code_sha256(bundle_sha256),
        "Version": version,
        "Environment": {"Variables": mask(config.environment)},
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": revision_id,
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": ["x86_64"],
        "EphemeralStorage": {"Size": 512},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"},
    }


def _qualifier(version: str) -> str | None:
    return None if version == LATEST else version


def environment_update(sent: Mapping[str, str], current: Mapping[str, str]) -> dict[str, str]:
    """The environment to store: a ``****`` sent back for a key keeps the stored value."""
    return {k: (current[k] if v == MASK and k in current else v) for k, v in sent.items()}


def alias_configuration(arns: Arns, name: str, alias: Alias) -> dict[str, Any]:
    """An AliasConfiguration. A native alias split over more than two versions shows its heaviest
    version as FunctionVersion and every other one in AdditionalVersionWeights (boto3 reads a map)."""
    routes = sorted(alias.routing.routes, key=lambda r: (-r.weight_bp, r.version or 0))
    primary, others = routes[0], routes[1:]
    found: dict[str, Any] = {
        "AliasArn": arns.function(name, alias.name),
        "Name": alias.name,
        "FunctionVersion": primary.label,
        "Description": alias.description,
        "RevisionId": alias.revision_id,
    }
    if others:
        weights = {r.label: round(r.weight_bp / BASIS_POINTS, 4) for r in others}
        found["RoutingConfig"] = {"AdditionalVersionWeights": weights}
    return found


def alias_routing(function_version: str, routing_config: Mapping[str, Any] | None) -> Routing:
    """A Lambda alias target as Turnout routing, under AWS's rules: at most one additional version, with
    a weight above 0 and below 1, different from FunctionVersion, and no split on $LATEST.

    >>> alias_routing("1", {"AdditionalVersionWeights": {"2": 0.3}}).describe()
    '1 (70%), 2 (30%)'
    """
    weights = dict((routing_config or {}).get("AdditionalVersionWeights") or {})
    primary = _version(function_version, "FunctionVersion")
    if not weights:
        return Routing.single(primary)
    if len(weights) > 1:
        raise InvalidInput("an alias routes to at most one additional version (AdditionalVersionWeights)")
    ((label, weight),) = weights.items()
    extra = _version(str(label), "AdditionalVersionWeights")
    if primary is None or extra is None:
        raise InvalidInput("an alias with a routing configuration cannot point at $LATEST")
    if extra == primary:
        raise InvalidInput("the additional version must differ from FunctionVersion")
    if not isinstance(weight, int | float) or isinstance(weight, bool) or not 0 < weight < 1:
        raise InvalidInput(f"an additional version's weight is between 0 and 1, not {weight!r}")
    extra_bp = min(BASIS_POINTS - 1, max(1, round(weight * BASIS_POINTS)))
    return Routing((Route(primary, BASIS_POINTS - extra_bp), Route(extra, extra_bp)))


def _version(label: str, field: str) -> int | None:
    if label == LATEST:
        return None
    if not looks_numeric(label):
        raise InvalidInput(f"{field}: {label!r} is not a version number or $LATEST")
    return parse_version_number(label, field)
