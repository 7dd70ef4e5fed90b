"""Function tags (Lambda's TagResource, UntagResource, ListTags): kept and echoed, never acted on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from turnout.errors import InvalidInput
from turnout.services.functions import load_function
from turnout.store import Store

MAX_TAGS = 50  # AWS's limit per resource


class TagService:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, function_name: str) -> dict[str, str]:
        with self.store.read() as tx:
            return tx.tags.of(load_function(tx, function_name).id)

    def tag(self, function_name: str, tags: Mapping[str, str]) -> dict[str, str]:
        """Add or replace tags; a function keeps at most :data:`MAX_TAGS`. Returns them all."""
        check_tags(tags)
        with self.store.write() as tx:
            function = load_function(tx, function_name, lock=True)
            merged = {**tx.tags.of(function.id), **tags}
            if len(merged) > MAX_TAGS:
                raise InvalidInput(f"a function has at most {MAX_TAGS} tags; this would make {len(merged)}")
            tx.tags.put(function.id, tags)
        return merged

    def untag(self, function_name: str, keys: Iterable[str]) -> None:
        with self.store.write() as tx:
            tx.tags.remove(load_function(tx, function_name, lock=True).id, keys)


def check_tags(tags: Mapping[str, str]) -> None:
    """AWS's rules on tags that the API model does not carry: at most 50, no ``aws:`` keys."""
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"a function has at most {MAX_TAGS} tags, not {len(tags)}")
    for key in tags:
        if key.lower().startswith("aws:"):
            raise InvalidInput(f"tag keys starting with 'aws:' are reserved: {key!r}")
