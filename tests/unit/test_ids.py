"""Request ids: canonical UUID 4 strings, unique, and a forked child does not repeat its parent's."""

from __future__ import annotations

import os
import uuid

from turnout.domain.ids import new_request_id


def test_request_ids_are_canonical_random_uuids() -> None:
    ids = [new_request_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:2000]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # canonical: lower-case hex, 8-4-4-4-12
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_a_forked_child_makes_different_ids_from_its_parent() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked child, which coverage does not follow
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    assert child != new_request_id()
    uuid.UUID(child)
