"""Async invocation configs (Lambda's EventInvokeConfig): destinations and retry limits per qualifier."""

from __future__ import annotations

from dataclasses import replace

from turnout.clock import Clock
from turnout.domain.destination import EventConfig, check_config
from turnout.domain.names import parse_qualifier, split_qualified
from turnout.errors import AliasNotFound, EventConfigNotFound, FunctionNotFound, VersionNotFound
from turnout.services.changes import ChangeFeed
from turnout.services.functions import load_function
from turnout.store import Store, Tx


class EventConfigService:
    def __init__(self, store: Store, clock: Clock, changes: ChangeFeed) -> None:
        self.store, self.clock, self.changes = store, clock, changes

    def put(self, function_name: str, config: EventConfig) -> EventConfig:
        """Set the qualifier's config (replacing any); the qualifier and the destinations must exist."""
        check_config(function_name, config)
        config = replace(config, qualifier=str(parse_qualifier(config.qualifier)))  # "" spells $LATEST
        with self.store.write() as tx:
            function = load_function(tx, function_name, lock=True)
            _check_qualifier(tx, function.id, function_name, config.qualifier)
            for target in (config.on_success, config.on_failure):
                destination = None if target is None else split_qualified(target)[0]
                if destination is not None and tx.functions.get(destination) is None:
                    raise FunctionNotFound(
                        f"the destination function {destination!r} does not exist", function=destination
                    )
            tx.event_configs.put(function.id, config, self.clock())
            tx.announce(function_name)
        return replace(config, updated_at=self.clock())

    def list(self, function_name: str) -> list[EventConfig]:
        with self.store.read() as tx:
            found = tx.event_configs.of(load_function(tx, function_name).id)
        return [found[q] for q in sorted(found)]

    def get(self, function_name: str, qualifier: str | None) -> EventConfig:
        wanted = str(parse_qualifier(qualifier))
        with self.store.read() as tx:
            found = tx.event_configs.of(load_function(tx, function_name).id).get(wanted)
        if found is None:
            raise EventConfigNotFound(f"function {function_name!r} has no async config for {wanted!r}")
        return found

    def delete(self, function_name: str, qualifier: str | None) -> None:
        wanted = str(parse_qualifier(qualifier))
        with self.store.write() as tx:
            function = load_function(tx, function_name, lock=True)
            if not tx.event_configs.remove(function.id, wanted):
                raise EventConfigNotFound(f"function {function_name!r} has no async config for {wanted!r}")
            tx.announce(function_name)


def _check_qualifier(tx: Tx, function_id: int, function_name: str, qualifier: str) -> None:
    parsed = parse_qualifier(qualifier)
    if parsed.alias is not None and tx.aliases.get(function_id, parsed.alias) is None:
        raise AliasNotFound(f"function {function_name!r} has no alias {parsed.alias!r}")
    if parsed.version is not None and tx.versions.get(function_id, parsed.version) is None:
        raise VersionNotFound(f"function {function_name!r} has no version {parsed.version}")
