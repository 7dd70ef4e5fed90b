"""The AWS Lambda API end to end: a live `turnout serve` driven only through boto3.

The reference is AWS's: the botocore service model (botocore/data/lambda/2015-03-31/service-2.json) and
the AWS Lambda API reference. Where Turnout decided something AWS leaves open (account id, region, how a
three-version alias made natively is shown) the test says so.
"""

from __future__ import annotations

import base64
import json
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import botocore
import pytest
from botocore.exceptions import ClientError

from tests.integration.lambda_support import (
    ACCOUNT,
    CONFLICT,
    INVALID,
    NOT_FOUND,
    PRECONDITION,
    ROLE,
    VALIDATION,
    app_zip,
    aws_error,
    code_sha256,
    create_function,
    function_arn,
    invoke,
    lambda_client,
    start_server,
    status,
)
from tests.support import Recorder, Server, unique, wait_for

pytestmark = pytest.mark.integration

SERVER_PYTHON = f"python3.{sys.version_info.minor}"  # the tests' server runs on this interpreter
OTHER_PYTHON = "python3.12" if SERVER_PYTHON != "python3.12" else "python3.11"


@pytest.fixture(scope="module")
def lam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory, "lambda-api")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def aws(lam: Server) -> Any:
    return lambda_client(lam.url)


@pytest.fixture(scope="module")
def versioned(aws: Any) -> str:
    """A function with versions 1, 2, 3 (code v1, v2, v3), $LATEST = v3, and alias ``prod`` → 1.

    Shared by tests that only read it or add aliases of their own."""
    name = unique("versioned")
    create_function(aws, name, "v1", Publish=True)
    for marker in ("v2", "v3"):
        aws.update_function_code(FunctionName=name, ZipFile=app_zip(marker), Publish=True)
    aws.create_alias(FunctionName=name, Name="prod", FunctionVersion="1")
    return name


def expect_error(call: Any, **params: Any) -> tuple[str, int]:
    """(error code, HTTP status) of a call that must fail; botocore must also have found a message."""
    with pytest.raises(ClientError) as caught:
        call(**params)
    assert caught.value.response["Error"].get("Message"), caught.value.response
    return aws_error(caught.value)


def weights_of(alias: dict[str, Any]) -> dict[str, float]:
    """An alias's AdditionalVersionWeights; none at all and an empty map read the same."""
    return dict(alias.get("RoutingConfig", {}).get("AdditionalVersionWeights") or {})


def is_uuid(text: str) -> bool:
    return str(uuid.UUID(text)) == text.lower()


# --- the whole story -------------------------------------------------------------------------------


def test_lifecycle_create_update_publish_split_invoke_update_delete(aws: Any) -> None:
    name = unique("life")
    v1, v2 = app_zip("v1"), app_zip("v2")

    created = create_function(aws, name, zip_bytes=v1)
    assert status(created) == 201
    assert created["FunctionName"] == name
    assert created["FunctionArn"] == function_arn(name)
    assert (created["Version"], created["State"], created["LastUpdateStatus"]) == (
        "$LATEST",
        "Active",
        "Successful",
    )
    assert (created["CodeSha256"], created["CodeSize"]) == (code_sha256(v1), len(v1))
    fast = {"Delay": 1, "MaxAttempts": 1}  # a waiter that has to wait fails at once
    aws.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=fast)

    first = aws.publish_version(FunctionName=name)
    assert status(first) == 201
    assert (first["Version"], first["FunctionArn"], first["CodeSha256"]) == (
        "1",
        function_arn(name, "1"),
        code_sha256(v1),
    )
    aws.get_waiter("published_version_active").wait(FunctionName=name, Qualifier="1", WaiterConfig=fast)

    updated = aws.update_function_code(FunctionName=name, ZipFile=v2)
    assert (updated["Version"], updated["CodeSha256"], updated["CodeSize"]) == (
        "$LATEST",
        code_sha256(v2),
        len(v2),
    )
    assert updated["LastUpdateStatus"] == "Successful"
    aws.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=fast)

    second = aws.publish_version(FunctionName=name, CodeSha256=code_sha256(v2), Description="second")
    assert (second["Version"], second["Description"]) == ("2", "second")
    assert aws.get_function_configuration(FunctionName=name, Qualifier="2")["Description"] == "second"

    alias = aws.create_alias(
        FunctionName=name,
        Name="prod",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}},
    )
    assert status(alias) == 201
    assert alias["AliasArn"] == function_arn(name, "prod")
    assert (alias["Name"], alias["FunctionVersion"]) == ("prod", "1")
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.3}

    seen: Counter[str] = Counter()
    for _ in range(300):
        response, result = invoke(aws, name, Qualifier="prod")
        executed = response["ExecutedVersion"]
        assert result["marker"] == {"1": "v1", "2": "v2"}[executed], (executed, result)
        seen[executed] += 1
    assert set(seen) == {"1", "2"}, seen
    assert 50 <= seen["2"] <= 130, seen  # 30 % of 300 is 90; ±5 standard deviations

    moved = aws.update_alias(
        FunctionName=name, Name="prod", FunctionVersion="2", RoutingConfig={"AdditionalVersionWeights": {}}
    )
    assert moved["FunctionVersion"] == "2"
    assert weights_of(moved) == {}
    assert moved["RevisionId"] != alias["RevisionId"]
    assert {invoke(aws, name, Qualifier="prod")[0]["ExecutedVersion"] for _ in range(20)} == {"2"}

    assert status(aws.delete_alias(FunctionName=name, Name="prod")) == 204
    assert expect_error(aws.get_alias, FunctionName=name, Name="prod") == NOT_FOUND
    assert status(aws.delete_function(FunctionName=name)) == 204
    assert expect_error(aws.get_function, FunctionName=name) == NOT_FOUND
    assert expect_error(aws.invoke, FunctionName=name) == NOT_FOUND


# --- CreateFunction --------------------------------------------------------------------------------


def test_create_function_keeps_lambda_settings_and_the_function_sees_them(aws: Any) -> None:
    name = unique("settings")
    package = app_zip("settings")
    created = create_function(
        aws,
        name,
        zip_bytes=package,
        Runtime=OTHER_PYTHON,
        Timeout=30,
        MemorySize=256,
        Description="a described function",
        Environment={"Variables": {"GREETING": "hi"}},
    )
    expected = {
        "FunctionName": name,
        "FunctionArn": function_arn(name),
        "Runtime": OTHER_PYTHON,  # echoed as declared (functions run on the server's Python regardless)
        "Handler": "app.handler",
        "Timeout": 30,
        "MemorySize": 256,
        "Description": "a described function",
        "Environment": {"Variables": {"GREETING": "hi"}},
        "CodeSha256": code_sha256(package),
        "CodeSize": len(package),
        "Version": "$LATEST",
        "State": "Active",
        "LastUpdateStatus": "Successful",
    }
    assert {k: created.get(k) for k in expected} == expected
    assert is_uuid(created["RevisionId"])
    configuration = aws.get_function_configuration(FunctionName=name)
    assert {k: configuration.get(k) for k in expected} == expected
    assert configuration["RevisionId"] == created["RevisionId"]

    _, result = invoke(aws, name)
    assert (result["greeting"], result["memory_limit_in_mb"], result["function_name"]) == ("hi", 256, name)


def test_create_function_defaults_are_lambdas(aws: Any) -> None:
    # CreateFunction: "Timeout ... The default is 3 seconds", "MemorySize ... The default value is 128 MB"
    name = unique("defaults")
    created = create_function(aws, name)
    assert (created["Timeout"], created["MemorySize"]) == (3, 128)
    _, result = invoke(aws, name)
    assert result["memory_limit_in_mb"] == 128


def test_create_function_with_publish_returns_version_1(aws: Any) -> None:
    name = unique("publish-on-create")
    created = create_function(aws, name, Publish=True)
    assert status(created) == 201
    assert (created["Version"], created["FunctionArn"]) == ("1", function_arn(name, "1"))
    versions = aws.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]


def test_creating_an_existing_function_is_a_conflict(aws: Any) -> None:
    name = unique("twice")
    create_function(aws, name)
    assert expect_error(create_function, client=aws, name=name) == CONFLICT


@pytest.mark.parametrize("runtime", ["python3.8", "python3.13"])
def test_python_runtimes_are_accepted(aws: Any, runtime: str) -> None:
    created = create_function(aws, unique("rt"), Runtime=runtime)
    assert (status(created), created["Runtime"]) == (201, runtime)


@pytest.mark.parametrize("runtime", ["nodejs20.x", "java21", "provided.al2023"])
def test_other_runtimes_are_refused(aws: Any, runtime: str) -> None:
    name = unique("rt")
    assert expect_error(create_function, client=aws, name=name, Runtime=runtime) == INVALID
    assert expect_error(aws.get_function, FunctionName=name) == NOT_FOUND


def test_code_from_s3_is_refused(aws: Any) -> None:
    name = unique("s3")
    code = {"S3Bucket": "my-bucket", "S3Key": "function.zip"}
    with pytest.raises(ClientError) as caught:
        aws.create_function(
            FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler", Code=code
        )
    assert aws_error(caught.value) == INVALID


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # what breaks the botocore model's constraints is AWS's ValidationException ...
        pytest.param({"FunctionName": "bad.name"}, VALIDATION, id="name-with-a-dot"),
        pytest.param({"FunctionName": "bad name"}, VALIDATION, id="name-with-a-space"),
        pytest.param({"Timeout": 0}, VALIDATION, id="timeout-0"),
        pytest.param({"MemorySize": 64}, VALIDATION, id="memory-64"),
        pytest.param({"Role": "r"}, VALIDATION, id="role-not-an-arn"),
        # ... and what breaks Lambda's (and Turnout's) own rules is InvalidParameterValueException
        pytest.param({"Timeout": 901}, INVALID, id="timeout-901"),
        pytest.param({"Code": {"ZipFile": b"this is not a zip file"}}, INVALID, id="malformed-zip"),
    ],
)
def test_invalid_create_parameters_are_refused_by_the_server(
    lam: Server, params: dict[str, Any], expected: tuple[str, int]
) -> None:
    # botocore would refuse some of these itself; switched off, the server is the one that says no
    unchecked = lambda_client(lam.url, parameter_validation=False)
    request = {
        "FunctionName": unique("invalid"),
        "Runtime": "python3.11",
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": app_zip()},
        **params,
    }
    assert expect_error(unchecked.create_function, **request) == expected
    assert expect_error(unchecked.get_function, FunctionName=request["FunctionName"])[1] in (400, 404)


# --- RevisionId and CodeSha256 preconditions --------------------------------------------------------


def test_revision_id_changes_on_every_update_and_a_stale_one_is_refused(aws: Any) -> None:
    name = unique("revisions")
    r0 = create_function(aws, name)["RevisionId"]
    r1 = aws.update_function_configuration(FunctionName=name, Timeout=10, RevisionId=r0)["RevisionId"]
    r2 = aws.update_function_code(FunctionName=name, ZipFile=app_zip("v2"), RevisionId=r1)["RevisionId"]
    assert len({r0, r1, r2}) == 3 and all(is_uuid(r) for r in (r0, r1, r2))
    assert aws.get_function_configuration(FunctionName=name)["RevisionId"] == r2

    stale = [
        (aws.update_function_configuration, {"Description": "late", "RevisionId": r0}),
        (aws.update_function_code, {"ZipFile": app_zip("v3"), "RevisionId": r1}),
        (aws.publish_version, {"RevisionId": r1}),
    ]
    for call, params in stale:
        assert expect_error(call, FunctionName=name, **params) == PRECONDITION, call
    configuration = aws.get_function_configuration(FunctionName=name)
    assert (configuration["RevisionId"], configuration.get("Description", "")) == (r2, "")
    assert configuration["CodeSha256"] == code_sha256(app_zip("v2"))
    assert [v["Version"] for v in aws.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST"]

    published = aws.publish_version(FunctionName=name, RevisionId=r2)
    assert (status(published), published["Version"]) == (201, "1")


def test_publish_version_with_another_code_sha256_is_refused(aws: Any) -> None:
    # PublishVersion CodeSha256: "Only publish a version if the hash value matches the value that's
    # specified"; AWS answers InvalidParameterValueException ("CodeSHA256 ... is different from current
    # CodeSHA256 in $LATEST")
    name = unique("sha")
    create_function(aws, name, zip_bytes=app_zip("v1"))
    wrong = code_sha256(app_zip("something else"))
    assert expect_error(aws.publish_version, FunctionName=name, CodeSha256=wrong) == INVALID
    assert [v["Version"] for v in aws.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST"]
    published = aws.publish_version(FunctionName=name, CodeSha256=code_sha256(app_zip("v1")))
    assert published["Version"] == "1"


def test_publish_is_idempotent_until_code_or_configuration_changes(aws: Any) -> None:
    name = unique("idem")
    create_function(aws, name)
    assert aws.publish_version(FunctionName=name)["Version"] == "1"
    assert aws.publish_version(FunctionName=name)["Version"] == "1"

    aws.update_function_configuration(FunctionName=name, Timeout=12)
    again = aws.publish_version(FunctionName=name)
    assert (again["Version"], again["Timeout"]) == ("2", 12)

    package = app_zip("v3")
    published = aws.update_function_code(FunctionName=name, ZipFile=package, Publish=True)
    assert (published["Version"], published["CodeSha256"]) == ("3", code_sha256(package))
    assert published["FunctionArn"] == function_arn(name, "3")
    versions = aws.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2", "3"]
    assert aws.publish_version(FunctionName=name)["Version"] == "3"


def test_update_function_configuration_changes_what_the_function_sees(aws: Any) -> None:
    name = unique("reconfigure")
    first = {"Variables": {"GREETING": "first"}}
    create_function(aws, name, Environment=first, Timeout=3, MemorySize=128, Publish=True)
    updated = aws.update_function_configuration(
        FunctionName=name,
        Handler="app.handler",
        Description="now described",
        Timeout=20,
        MemorySize=512,
        Environment={"Variables": {"GREETING": "hello again"}},
    )
    assert (updated["Description"], updated["Timeout"], updated["MemorySize"]) == ("now described", 20, 512)
    assert updated["Environment"] == {"Variables": {"GREETING": "hello again"}}
    assert updated["LastUpdateStatus"] == "Successful"
    _, result = invoke(aws, name)
    assert (result["greeting"], result["memory_limit_in_mb"]) == ("hello again", 512)
    # a published version keeps the configuration it was published with
    _, published = invoke(aws, name, Qualifier="1")
    assert (published["greeting"], published["memory_limit_in_mb"]) == ("first", 128)
    assert aws.get_function_configuration(FunctionName=name, Qualifier="1")["Timeout"] == 3


# --- reading functions: qualifiers, names and ARNs ---------------------------------------------------


def test_get_function_and_configuration_follow_qualifiers_names_and_arns(aws: Any, versioned: str) -> None:
    name = versioned
    # (FunctionName, Qualifier) → (Version, FunctionArn, code marker)
    cases: list[tuple[str, str | None, str, str, str]] = [
        (name, None, "$LATEST", function_arn(name), "v3"),
        (name, "$LATEST", "$LATEST", function_arn(name), "v3"),
        (name, "1", "1", function_arn(name, "1"), "v1"),
        (name, "2", "2", function_arn(name, "2"), "v2"),
        # an alias qualifier: the alias's ARN and the configuration of the version it points at
        (name, "prod", "1", function_arn(name, "prod"), "v1"),
        (f"{name}:2", None, "2", function_arn(name, "2"), "v2"),
        (f"{name}:prod", None, "1", function_arn(name, "prod"), "v1"),
        (function_arn(name), None, "$LATEST", function_arn(name), "v3"),
        (function_arn(name), "2", "2", function_arn(name, "2"), "v2"),
        (function_arn(name, "1"), None, "1", function_arn(name, "1"), "v1"),
        (function_arn(name, "prod"), None, "1", function_arn(name, "prod"), "v1"),
        (f"{ACCOUNT}:function:{name}:2", None, "2", function_arn(name, "2"), "v2"),
    ]
    for function_name, qualifier, version, arn, marker in cases:
        params = {"FunctionName": function_name, **({"Qualifier": qualifier} if qualifier else {})}
        configuration = aws.get_function_configuration(**params)
        got = (configuration["Version"], configuration["FunctionArn"], configuration["CodeSha256"])
        assert got == (version, arn, code_sha256(app_zip(marker))), params
        whole = aws.get_function(**params)
        assert (whole["Configuration"]["Version"], whole["Configuration"]["FunctionArn"]) == (version, arn)
        assert whole["Code"]["RepositoryType"] == "S3"
        assert whole["Code"]["Location"].startswith(("http://", "https://")), whole["Code"]


def test_get_function_code_location_downloads_the_package(lam: Server, aws: Any, versioned: str) -> None:
    # AWS gives a presigned URL; Turnout's decision: a URL on this server that needs a token
    location = aws.get_function(FunctionName=versioned, Qualifier="2")["Code"]["Location"]
    with lam.client() as native:
        downloaded = native.get(location)
    assert downloaded.status_code == 200, downloaded.text
    assert code_sha256(downloaded.content) == code_sha256(app_zip("v2"))


def test_unknown_functions_versions_and_aliases_are_not_found(aws: Any, versioned: str) -> None:
    for params in (
        {"FunctionName": unique("missing")},
        {"FunctionName": versioned, "Qualifier": "99"},
        {"FunctionName": versioned, "Qualifier": "nope"},
        {"FunctionName": f"{versioned}:99"},
        {"FunctionName": function_arn(versioned, "nope")},
    ):
        assert expect_error(aws.get_function, **params) == NOT_FOUND, params
        assert expect_error(aws.get_function_configuration, **params) == NOT_FOUND, params
        assert expect_error(aws.invoke, **params) == NOT_FOUND, params
    assert expect_error(aws.list_versions_by_function, FunctionName=unique("missing")) == NOT_FOUND
    assert expect_error(aws.list_aliases, FunctionName=unique("missing")) == NOT_FOUND
    assert expect_error(aws.get_alias, FunctionName=versioned, Name="nope") == NOT_FOUND
    assert expect_error(aws.publish_version, FunctionName=unique("missing")) == NOT_FOUND
    missing_code = {"FunctionName": unique("missing"), "ZipFile": app_zip()}
    assert expect_error(aws.update_function_code, **missing_code) == NOT_FOUND


def test_list_functions_pages_through_every_function_once(aws: Any) -> None:
    prefix = unique("listed")
    names = [f"{prefix}-{i}" for i in range(3)]
    for name in names:
        create_function(aws, name)
    aws.publish_version(FunctionName=names[0])

    seen: list[str] = []
    marker: str | None = None
    pages = 0
    while True:
        page = aws.list_functions(MaxItems=2, **({"Marker": marker} if marker else {}))
        assert len(page["Functions"]) <= 2
        assert all(f["Version"] == "$LATEST" for f in page["Functions"])
        seen += [f["FunctionName"] for f in page["Functions"]]
        pages += 1
        marker = page.get("NextMarker")
        if not marker:
            break
        assert pages < 500, "ListFunctions never stops paging"
    assert len(seen) == len(set(seen)), "a function shows on two pages"
    assert set(names) <= set(seen)
    mine = next(f for f in aws.list_functions()["Functions"] if f["FunctionName"] == names[0])
    assert (mine["FunctionArn"], mine["Runtime"], mine["Handler"]) == (
        function_arn(names[0]),
        SERVER_PYTHON,
        "app.handler",
    )

    everything = aws.get_paginator("list_functions").paginate(FunctionVersion="ALL", MaxItems=1000)
    entries = [f for page in everything for f in page["Functions"] if f["FunctionName"] in names]
    assert sorted((f["FunctionName"], f["Version"]) for f in entries) == sorted(
        [(names[0], "$LATEST"), (names[0], "1"), (names[1], "$LATEST"), (names[2], "$LATEST")]
    )


def test_list_versions_by_function_puts_latest_first_and_pages(aws: Any, versioned: str) -> None:
    versions = aws.list_versions_by_function(FunctionName=versioned)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2", "3"]
    assert [v["FunctionArn"] for v in versions] == [
        function_arn(versioned),
        *(function_arn(versioned, n) for n in "123"),
    ]
    assert [v["CodeSha256"] for v in versions] == [code_sha256(app_zip(m)) for m in ("v3", "v1", "v2", "v3")]

    first = aws.list_versions_by_function(FunctionName=versioned, MaxItems=2)
    assert [v["Version"] for v in first["Versions"]] == ["$LATEST", "1"]
    assert first.get("NextMarker")
    rest = aws.list_versions_by_function(FunctionName=versioned, MaxItems=2, Marker=first["NextMarker"])
    assert [v["Version"] for v in rest["Versions"]] == ["2", "3"]
    assert not rest.get("NextMarker")
    paged = aws.get_paginator("list_versions_by_function").paginate(
        FunctionName=versioned, PaginationConfig={"PageSize": 1}
    )
    assert [v["Version"] for page in paged for v in page["Versions"]] == ["$LATEST", "1", "2", "3"]


# --- aliases ---------------------------------------------------------------------------------------


def test_alias_create_get_update_list_delete(aws: Any, versioned: str) -> None:
    name = versioned
    created = aws.create_alias(FunctionName=name, Name="live", FunctionVersion="1", Description="first")
    assert status(created) == 201
    expected = {
        "AliasArn": function_arn(name, "live"),
        "Name": "live",
        "FunctionVersion": "1",
        "Description": "first",
    }
    assert {k: created.get(k) for k in expected} == expected
    assert is_uuid(created["RevisionId"])
    got = aws.get_alias(FunctionName=name, Name="live")
    assert {k: got.get(k) for k in expected} == expected
    assert got["RevisionId"] == created["RevisionId"]
    assert expect_error(aws.create_alias, FunctionName=name, Name="live", FunctionVersion="2") == CONFLICT

    split = aws.update_alias(
        FunctionName=name,
        Name="live",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}},
        RevisionId=created["RevisionId"],
    )
    assert (split["FunctionVersion"], split["Description"]) == ("1", "first")
    assert split["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}
    assert split["RevisionId"] != created["RevisionId"]
    stale = {"Name": "live", "FunctionVersion": "3", "RevisionId": created["RevisionId"]}
    assert expect_error(aws.update_alias, FunctionName=name, **stale) == PRECONDITION
    assert aws.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"

    described = aws.update_alias(FunctionName=name, Name="live", Description="second")
    assert (described["Description"], described["FunctionVersion"]) == ("second", "1")
    assert described["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}

    aws.create_alias(FunctionName=name, Name="beta", FunctionVersion="3")
    listed = {a["Name"]: a for a in aws.list_aliases(FunctionName=name)["Aliases"]}
    assert {"prod", "live", "beta"} <= set(listed)
    assert listed["live"]["AliasArn"] == function_arn(name, "live")
    assert listed["live"]["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}
    on_three = {a["Name"] for a in aws.list_aliases(FunctionName=name, FunctionVersion="3")["Aliases"]}
    assert "beta" in on_three and not on_three & {"prod", "live"}, on_three
    paged = aws.get_paginator("list_aliases").paginate(FunctionName=name, PaginationConfig={"PageSize": 1})
    pages = list(paged)
    assert all(len(page["Aliases"]) <= 1 for page in pages)
    names = [a["Name"] for page in pages for a in page["Aliases"]]
    assert sorted(names) == sorted(listed), "ListAliases pages miss or repeat an alias"

    for alias in ("live", "beta"):
        assert status(aws.delete_alias(FunctionName=name, Name=alias)) == 204
        assert expect_error(aws.get_alias, FunctionName=name, Name=alias) == NOT_FOUND


def test_an_alias_must_point_at_an_existing_version(aws: Any, versioned: str) -> None:
    missing = {"FunctionName": versioned, "Name": "nowhere", "FunctionVersion": "42"}
    assert expect_error(aws.create_alias, **missing) == NOT_FOUND
    missing_alias = {"FunctionName": versioned, "Name": "never-made", "FunctionVersion": "1"}
    assert expect_error(aws.update_alias, **missing_alias) == NOT_FOUND


@pytest.mark.parametrize(
    ("version", "weights"),
    [
        pytest.param("1", {"2": 0.2, "3": 0.1}, id="two-additional-versions"),
        pytest.param("1", {"2": 1.5}, id="weight-above-1"),
        pytest.param("1", {"1": 0.5}, id="additional-is-the-primary"),
        pytest.param("$LATEST", {"1": 0.5}, id="latest-with-routing"),
        pytest.param("1", {"$LATEST": 0.5}, id="latest-as-additional"),
    ],
)
def test_alias_routing_keeps_aws_rules(aws: Any, versioned: str, version: str, weights: dict) -> None:
    alias = f"bad-{uuid.uuid4().hex[:6]}"
    routing = {"AdditionalVersionWeights": weights}
    params = {"FunctionName": versioned, "Name": alias, "FunctionVersion": version, "RoutingConfig": routing}
    assert expect_error(aws.create_alias, **params) == INVALID
    assert expect_error(aws.get_alias, FunctionName=versioned, Name=alias) == NOT_FOUND
    aws.create_alias(FunctionName=versioned, Name=alias, FunctionVersion="2")
    assert expect_error(aws.update_alias, **params) == INVALID
    kept = aws.get_alias(FunctionName=versioned, Name=alias)
    assert (kept["FunctionVersion"], weights_of(kept)) == ("2", {})
    aws.delete_alias(FunctionName=versioned, Name=alias)


def test_a_three_version_alias_made_natively_is_shown_without_breaking_boto3(
    lam: Server, aws: Any, versioned: str
) -> None:
    # Turnout's decision: FunctionVersion is the version with the largest weight, the others are in
    # AdditionalVersionWeights (which then holds two entries, more than AWS itself ever shows)
    with lam.client() as native:
        made = native.put(
            f"/v1/functions/{versioned}/aliases/three", json={"weights": {"1": 50, "2": 30, "3": 20}}
        )
        assert made.status_code in (200, 201), made.text
    shown = aws.get_alias(FunctionName=versioned, Name="three")
    assert (shown["AliasArn"], shown["FunctionVersion"]) == (function_arn(versioned, "three"), "1")
    assert shown["RoutingConfig"]["AdditionalVersionWeights"] == pytest.approx({"2": 0.3, "3": 0.2})
    listed = {a["Name"]: a for a in aws.list_aliases(FunctionName=versioned)["Aliases"]}
    assert listed["three"]["FunctionVersion"] == "1"
    assert listed["three"]["RoutingConfig"]["AdditionalVersionWeights"] == pytest.approx({"2": 0.3, "3": 0.2})
    executed = {invoke(aws, versioned, Qualifier="three")[0]["ExecutedVersion"] for _ in range(60)}
    assert executed <= {"1", "2", "3"} and "1" in executed


# --- Invoke ----------------------------------------------------------------------------------------


def test_invoke_reports_the_executed_version_and_the_context_keeps_the_qualifier(
    aws: Any, versioned: str
) -> None:
    name = versioned
    # (FunctionName, Qualifier) → (ExecutedVersion, context.invoked_function_arn, marker)
    cases: list[tuple[str, str | None, str, str, str]] = [
        (name, None, "$LATEST", function_arn(name), "v3"),
        (name, "$LATEST", "$LATEST", function_arn(name, "$LATEST"), "v3"),
        (name, "2", "2", function_arn(name, "2"), "v2"),
        (name, "prod", "1", function_arn(name, "prod"), "v1"),
        (f"{name}:prod", None, "1", function_arn(name, "prod"), "v1"),
        (function_arn(name, "prod"), None, "1", function_arn(name, "prod"), "v1"),
        (function_arn(name), "2", "2", function_arn(name, "2"), "v2"),
    ]
    for function_name, qualifier, version, arn, marker in cases:
        params = {"Qualifier": qualifier} if qualifier else {}
        response, result = invoke(aws, function_name, {"name": "x"}, **params)
        where = (function_name, params)
        assert (response["StatusCode"], response["ExecutedVersion"]) == (200, version), where
        assert "FunctionError" not in response
        assert result["marker"] == marker
        assert result["function_version"] == version
        assert result["function_name"] == name
        if qualifier == "$LATEST":  # AWS shows $LATEST either way; Turnout may keep or drop it
            assert result["invoked_function_arn"] in (function_arn(name), arn)
        else:
            assert result["invoked_function_arn"] == arn, where


def test_an_unhandled_error_comes_back_in_lambdas_shape(aws: Any, versioned: str) -> None:
    response, result = invoke(aws, versioned, {"fail": "boom"}, Qualifier="2")
    assert (response["StatusCode"], response["FunctionError"], response["ExecutedVersion"]) == (
        200,
        "Unhandled",
        "2",
    )
    assert (result["errorMessage"], result["errorType"]) == ("boom", "ValueError")
    assert isinstance(result["stackTrace"], list) and result["stackTrace"]
    assert all(isinstance(line, str) for line in result["stackTrace"])
    assert any("app.py" in line for line in result["stackTrace"]), result["stackTrace"]


def test_log_type_tail_returns_the_last_4_kb_of_the_log(aws: Any, versioned: str) -> None:
    marker = f"printed-{uuid.uuid4().hex}"
    response, _ = invoke(aws, versioned, {"print": marker}, LogType="Tail")
    assert marker in base64.b64decode(response["LogResult"]).decode()

    tail_marker = f"after-the-spam-{uuid.uuid4().hex}"
    response, _ = invoke(aws, versioned, {"spam": 10_000, "print": tail_marker}, LogType="Tail")
    tail = base64.b64decode(response["LogResult"])
    assert len(tail) <= 4096
    assert tail_marker in tail.decode(errors="replace")

    response, _ = invoke(aws, versioned, {"print": "not asked for"})
    assert "LogResult" not in response


def test_a_payload_that_is_not_json_is_refused(aws: Any, versioned: str) -> None:
    # Invoke: InvalidRequestContentException (400), "The request body could not be parsed as JSON"
    refused = expect_error(aws.invoke, FunctionName=versioned, Payload=b"{not json")
    assert refused == ("InvalidRequestContentException", 400)


def test_a_payload_over_6_mb_is_refused(aws: Any, versioned: str) -> None:
    # Invoke: RequestTooLargeException (413), the request payload exceeded the 6 MB limit
    too_big = json.dumps({"blob": "x" * (6 * 1024 * 1024)}).encode()
    assert expect_error(aws.invoke, FunctionName=versioned, Payload=too_big) == (
        "RequestTooLargeException",
        413,
    )


def test_dry_run_checks_the_function_without_running_it(aws: Any, versioned: str) -> None:
    touched = Recorder("dry-run")
    response = aws.invoke(
        FunctionName=versioned,
        InvocationType="DryRun",
        Payload=json.dumps({"record_to": str(touched)}).encode(),
    )
    assert response["StatusCode"] == 204
    assert response["Payload"].read() == b""
    missing = {"FunctionName": unique("missing"), "InvocationType": "DryRun"}
    assert expect_error(aws.invoke, **missing) == NOT_FOUND
    assert touched.records() == []


def test_an_event_invocation_is_accepted_and_runs_in_the_background(aws: Any, versioned: str) -> None:
    touched = Recorder("event")
    event = {"record_to": str(touched)}
    response, result = invoke(aws, versioned, event, InvocationType="Event", Qualifier="prod")
    assert (response["StatusCode"], result) == (202, None)
    ran = wait_for(touched.records, timeout=20, what="the event invocation to run")
    assert ran == [{"marker": "v1", "version": "1"}]


# --- DeleteFunction --------------------------------------------------------------------------------


def test_delete_function_removes_one_version_or_the_whole_function(aws: Any) -> None:
    name = unique("delete")
    create_function(aws, name, "v1", Publish=True)
    aws.update_function_code(FunctionName=name, ZipFile=app_zip("v2"), Publish=True)
    aws.create_alias(FunctionName=name, Name="prod", FunctionVersion="1")

    assert expect_error(aws.delete_function, FunctionName=name, Qualifier="1") == CONFLICT
    assert status(aws.delete_function(FunctionName=name, Qualifier="2")) == 204
    assert expect_error(aws.get_function, FunctionName=name, Qualifier="2") == NOT_FOUND
    assert expect_error(aws.delete_function, FunctionName=name, Qualifier="2") == NOT_FOUND
    assert aws.get_function(FunctionName=name, Qualifier="1")["Configuration"]["Version"] == "1"
    assert [v["Version"] for v in aws.list_versions_by_function(FunctionName=name)["Versions"]] == [
        "$LATEST",
        "1",
    ]
    assert invoke(aws, name, Qualifier="prod")[0]["ExecutedVersion"] == "1"

    # DeleteFunction without a qualifier deletes the function with all its versions and aliases
    assert status(aws.delete_function(FunctionName=name)) == 204
    for params in ({}, {"Qualifier": "1"}):
        assert expect_error(aws.get_function, FunctionName=name, **params) == NOT_FOUND
    assert expect_error(aws.get_alias, FunctionName=name, Name="prod") == NOT_FOUND
    assert expect_error(aws.delete_function, FunctionName=name) == NOT_FOUND


def test_delete_function_by_arn_and_qualified_name(aws: Any) -> None:
    name = unique("delete-arn")
    create_function(aws, name, Publish=True)
    aws.update_function_code(FunctionName=name, ZipFile=app_zip("v2"), Publish=True)
    assert status(aws.delete_function(FunctionName=f"{name}:1")) == 204
    assert [v["Version"] for v in aws.list_versions_by_function(FunctionName=name)["Versions"]] == [
        "$LATEST",
        "2",
    ]
    assert status(aws.delete_function(FunctionName=function_arn(name))) == 204
    assert expect_error(aws.get_function, FunctionName=name) == NOT_FOUND


# --- who may call ----------------------------------------------------------------------------------


def test_an_unsigned_request_is_refused(lam: Server) -> None:
    unsigned = lambda_client(lam.url, signature_version=botocore.UNSIGNED)
    # not ResourceNotFoundException: who asks is checked before what is asked for
    refused = expect_error(unsigned.get_function, FunctionName=unique("missing"))
    assert refused == ("UnrecognizedClientException", 403)


@pytest.fixture(scope="module")
def tokened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """TURNOUT_LAMBDA_AUTH=token, and another account id and region in the ARNs."""
    running = start_server(
        tmp_path_factory,
        "lambda-token",
        TURNOUT_LAMBDA_AUTH="token",
        TURNOUT_ACCOUNT_ID="123456789012",
        TURNOUT_REGION="eu-west-1",
    )
    yield running
    running.stop()


def make_token(server: Server, scopes: list[str]) -> str:
    with server.client() as native:
        response = native.post("/v1/tokens", json={"name": unique("key"), "scopes": scopes})
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def test_with_token_auth_the_access_key_is_a_turnout_token_and_its_scopes_count(tokened: Server) -> None:
    stranger = lambda_client(tokened.url, region="eu-west-1")
    refused = expect_error(stranger.get_function, FunctionName=unique("missing"))
    assert refused == ("UnrecognizedClientException", 403)

    reader = lambda_client(tokened.url, access_key=make_token(tokened, ["read"]), region="eu-west-1")
    assert status(reader.list_functions()) == 200
    name = unique("scoped")
    assert expect_error(create_function, client=reader, name=name) == ("AccessDeniedException", 403)

    deployer_key = make_token(tokened, ["deploy", "invoke"])
    deployer = lambda_client(tokened.url, access_key=deployer_key, region="eu-west-1")
    created = create_function(deployer, name, Publish=True)
    assert created["FunctionArn"] == function_arn(name, "1", region="eu-west-1", account="123456789012")
    alias = deployer.create_alias(FunctionName=name, Name="prod", FunctionVersion="1")
    assert alias["AliasArn"] == function_arn(name, "prod", region="eu-west-1", account="123456789012")
    _, result = invoke(deployer, name, Qualifier="prod")
    assert result["invoked_function_arn"] == alias["AliasArn"]
    assert [f["FunctionName"] for f in reader.list_functions()["Functions"]] == [name]
    assert expect_error(reader.delete_function, FunctionName=name) == ("AccessDeniedException", 403)
    assert expect_error(reader.invoke, FunctionName=name) == ("AccessDeniedException", 403)
