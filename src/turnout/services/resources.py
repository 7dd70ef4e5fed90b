"""Shared resources: record and move their versions, and the compatibility guards both ways.

``guard_routing`` is what every alias move calls (``AliasService._save`` paths and ``route``): the versions
a move makes gain traffic must accept the current version of every resource they require. ``ResourceService.
set`` checks the other way round: the versions carrying traffic now (through aliases, running rollouts,
and triggers pinned to a version or ``$LATEST``) must accept the new version.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from turnout.clock import Clock
from turnout.domain.compat import (
    Clash,
    Resource,
    ResourceChange,
    allows,
    check_resource_name,
    clashes,
    gaining,
    parse_resource_version,
    refusal,
)
from turnout.domain.config import FunctionConfig
from turnout.domain.function import Function
from turnout.domain.names import LATEST
from turnout.domain.routing import Routing
from turnout.domain.version_number import is_version_text
from turnout.errors import Incompatible, InvalidInput, ResourceNotFound
from turnout.store import Store, Tx

log = logging.getLogger(__name__)
RESOURCE = "resource"  # the change-feed topic of resource moves
REASON_MAX = 1000


@dataclass(frozen=True)
class ResourceMove:
    """What ``resource set`` did (or, ``dry_run``, would do): the resource after it, its version before
    (``None``: new), the live versions outside the new range, and whether it went past them (forced)."""

    resource: Resource
    before: str | None
    clashes: tuple[Clash, ...] = ()
    changed: bool = True
    dry_run: bool = False
    forced: bool = False
    history: tuple[ResourceChange, ...] = field(default_factory=tuple)


Requirer = tuple[str, int | None, str, bool, tuple[str, ...]]  # function, version, range, in range, via


@dataclass(frozen=True)
class ResourceView:
    """A resource with its latest moves (newest first) and the live versions that require it, read in one
    transaction (the console's resource page)."""

    resource: Resource
    history: tuple[ResourceChange, ...]
    users: tuple[Requirer, ...]


def config_of(tx: Tx, function: Function, version: int | None) -> FunctionConfig | None:
    if version is None:
        return function.config
    found = tx.versions.get(function.id, version)
    return None if found is None else found.config


def guard_versions(
    tx: Tx, function: Function, versions: Iterable[int | None], via: Iterable[str] = ()
) -> builtins.list[Clash]:
    """The clashes of ``versions`` of ``function`` with the current resource versions. The resources read
    are held (``FOR SHARE``) until the transaction ends, so a concurrent resource move waits for it."""
    configs = [(v, config_of(tx, function, v)) for v in dict.fromkeys(versions)]
    wanted = sorted({name for _, c in configs if c is not None for name in c.requires})
    if not wanted:
        return []
    current = tx.resources.versions(wanted, share=True)
    found: builtins.list[Clash] = []
    for version, config in configs:
        if config is not None:
            found.extend(clashes(function.name, version, config.requires, current, via))
    return found


def guard_routing(
    tx: Tx, function: Function, before: Routing | None, after: Routing, via: Iterable[str] = ()
) -> builtins.list[Clash]:
    """The clashes of the versions that gain traffic when an alias goes from ``before`` to ``after``."""
    return guard_versions(tx, function, gaining(before, after), via)


def refuse(found: builtins.list[Clash], doing: str) -> Incompatible:
    first = found[0]
    return Incompatible(
        refusal(found, doing),
        function=first.function,
        version=first.label,
        resource=first.resource,
        current=first.current,
        requires=first.specifier,
        clashes=[c.to_json() for c in found],
    )


def forced_note(found: builtins.list[Clash]) -> str:
    return "forced past the compatibility guard: " + "; ".join(c.describe() for c in found)


def live_versions(tx: Tx, function: Function) -> dict[int | None, builtins.list[str]]:
    """The versions of ``function`` that carry traffic, each with what sends it (``alias prod``, ``rollout
    of prod``, ``route GET /x``, ``schedule nightly``, ``function URL $LATEST``); ``None`` is ``$LATEST``."""
    found: dict[int | None, builtins.list[str]] = {}

    def add(version: int | None, label: str) -> None:
        labels = found.setdefault(version, [])
        if label not in labels:
            labels.append(label)

    for alias in tx.aliases.list(function.id):
        for version in alias.routing.versions:
            add(version, f"alias {alias.name}")
    for number, labels in tx.rollouts.references(function.id).items():
        for label in labels:
            add(number, label)
    for route in tx.routes.list(function.id):
        if route.qualifier == LATEST or is_version_text(route.qualifier):
            add(None if route.qualifier == LATEST else int(route.qualifier), route.label)
    for schedule in tx.schedules.list(function.id):
        if schedule.qualifier == LATEST or is_version_text(schedule.qualifier):
            add(
                None if schedule.qualifier == LATEST else int(schedule.qualifier), f"schedule {schedule.name}"
            )
    for url in tx.function_urls.list(function.id, None, 1000):
        if url.qualifier == LATEST:
            add(None, f"function URL {LATEST}")
    return found


class ResourceService:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store, self.clock = store, clock

    def set(
        self,
        name: str,
        version: str,
        actor: str,
        reason: str = "",
        force: bool = False,
        dry_run: bool = False,
    ) -> ResourceMove:
        """Record ``name`` at ``version`` (creating it if new). Refused (``Incompatible``, listing them)
        when versions carrying traffic require the resource in a range that excludes ``version``, unless
        ``force``; ``dry_run`` computes that list and writes nothing."""
        check_resource_name(name)
        version = parse_resource_version(version, name)
        if not isinstance(reason, str) or len(reason) > REASON_MAX:
            raise InvalidInput(f"a reason has at most {REASON_MAX} characters")
        with self.store.write() as tx:
            current = tx.resources.get(name, lock=not dry_run)
            found = tuple(self._live_clashes(tx, name, version))
            now = self.clock()
            before = None if current is None else current.version
            after = Resource(
                name,
                version,
                actor,
                now,
                now if current is None else current.created_at,
            )
            if dry_run or before == version:
                return ResourceMove(
                    current or after, before, found, changed=before != version, dry_run=dry_run
                )
            if found and not force:
                doing = f"moving resource {name} from {before or '(new)'} to {version}"
                raise Incompatible(
                    f"{doing} refused: live versions require another range: "
                    + "; ".join(c.describe() for c in found)
                    + ". Move those aliases (or triggers) to compatible versions first, or force it",
                    resource=name,
                    version=version,
                    clashes=[c.to_json() for c in found],
                )
            shown = reason
            if found:
                note = forced_note(list(found))
                shown = f"{reason} [{note}]" if reason else note
                log.warning("resource %s moved to %s by %s: %s", name, version, actor, note)
            tx.resources.put(after, exists=current is not None)
            details = {"clashes": [c.to_json() for c in found]} if found else {}
            change = ResourceChange(name, before, version, actor, shown, now, bool(found), details=details)
            tx.resources.record(change)
            tx.announce(name, RESOURCE)
        return ResourceMove(after, before, found, forced=bool(found))

    def get(self, name: str) -> Resource:
        with self.store.read() as tx:
            return _load(tx, name)

    def list(self) -> builtins.list[Resource]:
        with self.store.read() as tx:
            return tx.resources.list()

    def history(self, name: str, limit: int = 100) -> builtins.list[ResourceChange]:
        with self.store.read() as tx:
            _load(tx, name)
            return tx.resources.history(name, max(1, min(limit, 1000)))

    def users(self, name: str) -> builtins.list[Requirer]:
        """Live versions requiring ``name``: (function, version, range, in range now, what routes to it)."""
        with self.store.read() as tx:
            return self._users(tx, _load(tx, name))

    def describe(self, name: str, limit: int = 100) -> ResourceView:
        """The resource, its last ``limit`` moves and :meth:`users`, in one read transaction."""
        with self.store.read() as tx:
            resource = _load(tx, name)
            history = tx.resources.history(name, max(1, min(limit, 1000)))
            return ResourceView(resource, tuple(history), tuple(self._users(tx, resource)))

    def _users(self, tx: Tx, resource: Resource) -> builtins.list[Requirer]:
        return [
            (function.name, version, spec, allows(spec, resource.version), tuple(via))
            for function, version, spec, via in self._requirers(tx, resource.name)
        ]

    def _requirers(self, tx: Tx, name: str) -> Iterable[tuple[Function, int | None, str, builtins.list[str]]]:
        for function_name in tx.functions.names():
            function = tx.functions.get(function_name)
            if function is None:
                continue
            for version, via in sorted(live_versions(tx, function).items(), key=lambda i: i[0] or 0):
                config = config_of(tx, function, version)
                if config is not None and name in config.requires:
                    yield function, version, config.requires[name], via

    def _live_clashes(self, tx: Tx, name: str, version: str) -> builtins.list[Clash]:
        return [
            Clash(function.name, number, name, version, spec, tuple(via))
            for function, number, spec, via in self._requirers(tx, name)
            if not allows(spec, version)
        ]


def _load(tx: Tx, name: str) -> Resource:
    found = tx.resources.get(check_resource_name(name))
    if found is None:
        raise ResourceNotFound(f"no resource {name!r}: record it with `turnout resource set`", resource=name)
    return found
