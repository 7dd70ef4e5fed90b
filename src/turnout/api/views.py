"""Domain objects as JSON. Secrets are masked unless an admin asks to reveal them.

``reveal`` is the opener of sealed values (``SecretService.reveal``), given only for an admin's
``?reveal=true``; without it every secret or sealed value shows as ``****``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from turnout.build.bundle import Manifest
from turnout.domain.alias import Alias, AliasChange
from turnout.domain.config import FunctionConfig
from turnout.domain.diff import SnapshotDiff
from turnout.domain.function import Function, Version
from turnout.domain.routing import Routing, bp_to_percent
from turnout.domain.secrets import mask
from turnout.services.versions import GcReport

Reveal = Callable[[Mapping[str, str]], dict[str, str]]


def config_json(config: FunctionConfig, reveal: Reveal | None = None) -> dict[str, Any]:
    data = config.to_json()
    data["environment"] = mask(config.environment) if reveal is None else reveal(config.environment)
    return data


def routing_json(routing: Routing) -> list[dict[str, Any]]:
    return [
        {"version": r.label, "weight": bp_to_percent(r.weight_bp), "weight_bp": r.weight_bp}
        for r in routing.routes
    ]


def function_json(fn: Function, reveal: Reveal | None = None) -> dict[str, Any]:
    return {
        "name": fn.name,
        "revision_id": fn.revision_id,
        "code_sha256": fn.bundle_sha256,
        "config": config_json(fn.config, reveal),
        "dependencies": list(fn.dependencies),
        "last_version": fn.last_version or None,
        "reserved_concurrency": fn.reserved_concurrency,
        "created_at": fn.created_at.isoformat(),
        "updated_at": fn.updated_at.isoformat(),
    }


def version_json(name: str, v: Version, reveal: Reveal | None = None) -> dict[str, Any]:
    return {
        "function": name,
        "version": v.number,
        "description": v.description,
        "code_sha256": v.bundle_sha256,
        "config": config_json(v.config, reveal),
        "dependencies": list(v.dependencies),
        "pinned_dependencies": list(v.pinned_dependencies),
        "layer": v.layer_hash,
        "fingerprint": v.fingerprint,
        "revision_id": v.revision_id,
        "created_at": v.created_at.isoformat(),
    }


def alias_json(name: str, a: Alias, reveal: Reveal | None = None) -> dict[str, Any]:
    settings = mask(a.settings, a.secret_keys) if reveal is None else reveal(a.settings)
    return {
        "function": name,
        "name": a.name,
        "routing": routing_json(a.routing),
        "target": a.routing.describe(),
        "description": a.description,
        "settings": settings,
        "secret_keys": sorted(a.secret_keys),
        "revision_id": a.revision_id,
        "created_at": a.created_at.isoformat(),
        "updated_at": a.updated_at.isoformat(),
    }


def change_json(c: AliasChange) -> dict[str, Any]:
    return {
        "alias": c.alias,
        "action": c.action.value,
        "before": None if c.before is None else routing_json(c.before),
        "after": None if c.after is None else routing_json(c.after),
        "before_target": None if c.before is None else c.before.describe(),
        "after_target": None if c.after is None else c.after.describe(),
        "actor": c.actor,
        "reason": c.reason,
        "details": dict(c.details),
        "at": c.at.isoformat(),
    }


def manifest_json(m: Manifest) -> dict[str, Any]:
    return {
        "sha256": m.sha256,
        "zipped_bytes": m.zipped_bytes,
        "unpacked_bytes": m.unpacked_bytes,
        "files": len(m.files),
        "dependencies": list(m.dependencies),
    }


def diff_json(name: str, d: SnapshotDiff) -> dict[str, Any]:
    return {
        "function": name,
        "from": d.labels[0],
        "to": d.labels[1],
        "identical": d.empty,
        "code": [asdict(c) for c in d.code],
        "config": [asdict(c) for c in d.config],
        "environment": [asdict(c) for c in d.environment],
        "dependencies": [asdict(c) for c in d.dependencies],
    }


def gc_json(r: GcReport) -> dict[str, Any]:
    return {
        "function": r.function,
        "dry_run": r.dry_run,
        "deleted_versions": list(r.deleted_versions),
        "kept_versions": list(r.kept_versions),
        "pinned": {str(v): list(a) for v, a in r.pinned.items()},
        "deleted_blobs": list(r.deleted_blobs),
        "deleted_layers": list(r.deleted_layers),
    }
