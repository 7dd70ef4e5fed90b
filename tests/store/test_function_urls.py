"""Function URL configs in the store, through the service: one per alias or $LATEST, never a version;
create, get, update, delete, list with pages; resolving a url id for serving; deleting the function
deletes its URLs. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
import threading

import pytest

from tests.store.conftest import Kit, code
from turnout.domain.http_event import Cors
from turnout.errors import (
    AliasNotFound,
    AlreadyExists,
    Conflict,
    FunctionNotFound,
    InvalidInput,
    InvalidName,
    NotFound,
)
from turnout.services.function_urls import FunctionUrlService

FN = "thumbs"
CORS = {"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"], "MaxAge": 300}


@pytest.fixture
def urls(kit: Kit) -> FunctionUrlService:
    """FN with versions 1 and 2, alias ``prod`` on 1 and ``staging`` on 2."""
    for n in (1, 2):
        kit.deploy(FN, code(n))
        kit.publish(FN)
    kit.alias(FN, "prod", 1)
    kit.alias(FN, "staging", 2)
    return kit.services.function_urls


def test_a_url_on_an_alias_is_created_read_and_resolved(urls: FunctionUrlService, kit: Kit) -> None:
    made = urls.create(FN, "prod", "NONE", CORS)
    assert re.fullmatch(r"[a-z0-9]{32}", made.url_id)
    assert (made.function, made.qualifier, made.auth_type, made.invoke_mode) == (
        FN,
        "prod",
        "NONE",
        "BUFFERED",
    )
    assert made.cors == CORS
    assert made.created_at == made.updated_at == kit.clock()

    assert urls.get(FN, "prod") == made
    resolved = urls.resolve(made.url_id)
    assert (resolved.function, resolved.qualifier, resolved.auth_type) == (FN, "prod", "NONE")
    assert resolved.invoke_qualifier == "prod"
    assert resolved.cors == Cors.from_json(CORS)


def test_without_a_qualifier_the_url_is_bound_to_latest(urls: FunctionUrlService) -> None:
    made = urls.create(FN, None, "AWS_IAM")
    assert made.qualifier == "$LATEST" and made.cors is None
    assert urls.get(FN, "$LATEST") == urls.get(FN, None) == made
    assert urls.resolve(made.url_id).invoke_qualifier is None


def test_one_url_per_qualifier_and_every_url_id_is_its_own(urls: FunctionUrlService, kit: Kit) -> None:
    prod = urls.create(FN, "prod", "NONE")
    with pytest.raises(AlreadyExists) as refused:
        urls.create(FN, "prod", "AWS_IAM")
    assert isinstance(refused.value, Conflict)  # ResourceConflictException on the Lambda API
    assert urls.get(FN, "prod") == prod

    kit.deploy("other", code("o"))
    ids = {prod.url_id, urls.create(FN, "staging", "NONE").url_id, urls.create(FN, None, "NONE").url_id}
    ids.add(urls.create("other", None, "NONE").url_id)
    assert len(ids) == 4


def test_two_creates_at_once_make_one_url(urls: FunctionUrlService) -> None:
    outcomes: list[object] = []
    barrier = threading.Barrier(2)

    def create() -> None:
        barrier.wait()
        try:
            outcomes.append(urls.create(FN, "prod", "NONE"))
        except Conflict as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=create) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(type(o).__name__ for o in outcomes) == ["AlreadyExists", "FunctionUrlRecord"]
    assert len(urls.list(FN)[0]) == 1


@pytest.mark.parametrize(
    ("qualifier", "error"),
    [("1", InvalidInput), ("2", InvalidInput), ("nope", AliasNotFound), ("bad name!", InvalidName)],
)
def test_a_url_needs_an_existing_alias_or_latest_never_a_version(
    urls: FunctionUrlService, qualifier: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        urls.create(FN, qualifier, "NONE")
    assert urls.list(FN) == ([], None)


def test_reading_a_url_by_version_is_refused_like_creating_one(urls: FunctionUrlService) -> None:
    with pytest.raises(InvalidInput, match="not to version 1"):
        urls.get(FN, "1")


@pytest.mark.parametrize(
    ("auth_type", "cors", "mode", "message"),
    [
        ("OPEN", None, None, "AuthType"),
        ("NONE", None, "RESPONSE_STREAM", "RESPONSE_STREAM is not supported"),
        ("NONE", None, "FAST", "InvokeMode"),
        ("NONE", {"MaxAge": 86401}, None, "MaxAge"),
        ("NONE", {"AllowMethods": ["GET"] * 7}, None, "at most 6"),
        ("NONE", {"AllowOrigins": [""]}, None, "1-253"),
        ("NONE", {"Origins": ["*"]}, None, "unknown Cors field"),
    ],
)
def test_invalid_settings_are_refused_and_store_nothing(
    urls: FunctionUrlService, auth_type: str, cors: dict[str, object] | None, mode: str | None, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        urls.create(FN, "prod", auth_type, cors, mode)  # type: ignore[arg-type]
    assert urls.list(FN) == ([], None)


def test_unknown_functions_and_missing_urls_are_not_found(urls: FunctionUrlService) -> None:
    with pytest.raises(FunctionNotFound):
        urls.create("ghost", None, "NONE")
    for call in (urls.get, urls.delete, urls.update):
        with pytest.raises(NotFound, match="has no function URL for alias 'prod'"):
            call(FN, "prod")
    with pytest.raises(NotFound, match="has no function URL$"):
        urls.get(FN, None)


def test_update_changes_what_it_is_given_and_keeps_the_rest(urls: FunctionUrlService, kit: Kit) -> None:
    made = urls.create(FN, "prod", "NONE", CORS)
    kit.clock.advance(60)

    updated = urls.update(FN, "prod", auth_type="AWS_IAM")
    assert (updated.auth_type, updated.cors, updated.url_id) == ("AWS_IAM", CORS, made.url_id)
    assert updated.created_at == made.created_at and updated.updated_at == kit.clock()
    assert urls.resolve(made.url_id).auth_type == "AWS_IAM"  # the change is served at once

    replaced = urls.update(FN, "prod", cors={"AllowOrigins": ["*"]}, invoke_mode="BUFFERED")
    assert (replaced.auth_type, replaced.cors) == ("AWS_IAM", {"AllowOrigins": ["*"]})
    assert urls.resolve(made.url_id).cors == Cors(allow_origins=("*",))
    with pytest.raises(InvalidInput):
        urls.update(FN, "prod", invoke_mode="RESPONSE_STREAM")
    assert urls.get(FN, "prod") == replaced


def test_a_deleted_url_is_gone_and_a_new_one_gets_a_new_id(urls: FunctionUrlService) -> None:
    made = urls.create(FN, "prod", "NONE")
    urls.resolve(made.url_id)  # cached
    urls.delete(FN, "prod")
    with pytest.raises(NotFound):
        urls.get(FN, "prod")
    with pytest.raises(NotFound):
        urls.resolve(made.url_id)
    with pytest.raises(NotFound):
        urls.delete(FN, "prod")
    assert urls.create(FN, "prod", "NONE").url_id != made.url_id


def test_the_list_comes_in_pages_ordered_by_qualifier(urls: FunctionUrlService, kit: Kit) -> None:
    kit.alias(FN, "canary", 2)
    for qualifier in ("staging", None, "prod", "canary"):
        urls.create(FN, qualifier, "NONE")
    everything, marker = urls.list(FN)
    assert [u.qualifier for u in everything] == ["$LATEST", "canary", "prod", "staging"] and marker is None

    first, marker = urls.list(FN, max_items=3)
    assert [u.qualifier for u in first] == ["$LATEST", "canary", "prod"] and marker == "prod"
    rest, marker = urls.list(FN, marker=marker, max_items=3)
    assert [u.qualifier for u in rest] == ["staging"] and marker is None
    exact, marker = urls.list(FN, max_items=4)
    assert len(exact) == 4 and marker is None
    for bad in (0, 51):
        with pytest.raises(InvalidInput, match="MaxItems"):
            urls.list(FN, max_items=bad)


def test_unknown_or_malformed_url_ids_resolve_to_not_found(urls: FunctionUrlService) -> None:
    for url_id in ("a" * 32, "short", "A" * 32, "../" + "a" * 29):
        with pytest.raises(NotFound):
            urls.resolve(url_id)


def test_deleting_the_function_deletes_its_urls(urls: FunctionUrlService, kit: Kit) -> None:
    watching = FunctionUrlService(kit.store, kit.clock, kit.services.changes, cache_seconds=60)
    made = [urls.create(FN, q, "NONE") for q in ("prod", None)]
    for url in made:
        watching.resolve(url.url_id)  # cached for a minute

    kit.services.functions.delete(FN)
    with kit.store.read() as tx:
        assert [tx.function_urls.by_url_id(u.url_id) for u in made] == [None, None]
    for url in made:  # the change feed made it forget at once
        with pytest.raises(NotFound):
            watching.resolve(url.url_id)

    kit.deploy(FN, code("again"))  # a new function of the same name starts without URLs
    assert urls.list(FN) == ([], None)


def test_a_cached_resolution_is_served_without_the_store_until_it_runs_out(
    urls: FunctionUrlService, kit: Kit
) -> None:
    made = urls.create(FN, "prod", "NONE")
    cached = FunctionUrlService(kit.store, kit.clock, cache_seconds=60)
    uncached = FunctionUrlService(kit.store, kit.clock, cache_seconds=0)
    assert cached.peek(made.url_id) is None
    first = cached.resolve(made.url_id)
    assert cached.peek(made.url_id) == first
    urls.delete(FN, "prod")  # through another service instance (another node)
    assert cached.resolve(made.url_id) == first
    with pytest.raises(NotFound):
        uncached.resolve(made.url_id)


def test_deleting_the_alias_deletes_its_url_but_not_the_others(urls: FunctionUrlService, kit: Kit) -> None:
    prod = urls.create(FN, "prod", "NONE")
    staging = urls.create(FN, "staging", "NONE")
    kit.services.aliases.delete(FN, "prod", "ci")
    with pytest.raises(NotFound):
        urls.get(FN, "prod")
    with pytest.raises(NotFound):
        urls.resolve(prod.url_id)
    assert urls.get(FN, "staging") == staging
