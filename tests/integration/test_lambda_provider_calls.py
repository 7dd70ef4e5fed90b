"""The Lambda calls infrastructure-as-code tools make besides the core ones (issue 13), through boto3:
tags, resource policies, provisioned concurrency configs, code signing, runtime management, recursion,
account settings, the waiters, AWS's validation errors and ARN qualifiers.

The reference is the botocore Lambda model and the AWS Lambda API reference.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.lambda_support import (
    ACCOUNT,
    CONFLICT,
    INVALID,
    NOT_FOUND,
    PRECONDITION,
    VALIDATION,
    aws_error,
    create_function,
    function_arn,
    lambda_client,
    start_server,
    status,
)
from tests.support import Server, unique

pytestmark = pytest.mark.integration

NO_PROVISIONED = ("ProvisionedConcurrencyConfigNotFoundException", 404)


@pytest.fixture(scope="module")
def lam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory, "lambda-provider-calls")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def aws(lam: Server) -> Any:
    return lambda_client(lam.url)


@pytest.fixture(scope="module")
def unchecked(lam: Server) -> Any:
    """A client that sends what botocore would refuse, so the server is the one that says no."""
    return lambda_client(lam.url, parameter_validation=False)


@pytest.fixture
def fn(aws: Any) -> str:
    """A function with version 1 and alias ``live`` → 1."""
    name = unique("iac")
    create_function(aws, name, Publish=True)
    aws.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    return name


def expect_error(call: Any, **params: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    assert caught.value.response["Error"]["Message"]
    return aws_error(caught.value)


# --- tags -------------------------------------------------------------------------------------------


def test_tags_are_kept_from_create_and_changed_by_tag_and_untag(aws: Any) -> None:
    name = unique("tags")
    arn = create_function(aws, name, Tags={"team": "web", "env": "test"})["FunctionArn"]
    assert aws.list_tags(Resource=arn)["Tags"] == {"team": "web", "env": "test"}
    assert status(aws.tag_resource(Resource=arn, Tags={"env": "prod", "tier": "edge"})) == 204
    assert status(aws.untag_resource(Resource=arn, TagKeys=["team", "no-such-key"])) == 204
    assert aws.get_function(FunctionName=name)["Tags"] == {"env": "prod", "tier": "edge"}


def test_tag_errors_are_aws_errors_and_change_nothing(aws: Any, unchecked: Any, fn: str) -> None:
    arn = function_arn(fn)
    aws.tag_resource(Resource=arn, Tags={"keep": "me"})
    assert expect_error(aws.tag_resource, Resource=function_arn(fn, "live"), Tags={"a": "b"}) == INVALID
    assert expect_error(aws.tag_resource, Resource=arn, Tags={"aws:owner": "x"}) == INVALID
    too_many = {f"k{i}": "v" for i in range(51)}
    assert expect_error(aws.tag_resource, Resource=arn, Tags=too_many) == INVALID
    assert expect_error(unchecked.tag_resource, Resource=arn, Tags={"k": "v" * 257}) == VALIDATION
    assert expect_error(aws.list_tags, Resource=fn) == VALIDATION  # a name is not an ARN here
    assert expect_error(aws.list_tags, Resource=function_arn("no-such-fn")) == NOT_FOUND
    assert aws.list_tags(Resource=arn)["Tags"] == {"keep": "me"}


# --- resource policies ------------------------------------------------------------------------------


def test_permissions_are_stored_and_echoed_as_aws_shapes_them(aws: Any, fn: str) -> None:
    added = aws.add_permission(
        FunctionName=fn,
        StatementId="from-s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::my-bucket",
        SourceAccount=ACCOUNT,
    )
    assert status(added) == 201
    assert json.loads(added["Statement"]) == {
        "Sid": "from-s3",
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": function_arn(fn),
        "Condition": {
            "StringEquals": {"AWS:SourceAccount": ACCOUNT},
            "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::my-bucket"},
        },
    }
    aws.add_permission(FunctionName=fn, StatementId="acct", Action="lambda:*", Principal="111122223333")
    found = aws.get_policy(FunctionName=fn)
    policy = json.loads(found["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["from-s3", "acct"]
    assert policy["Statement"][1]["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert found["RevisionId"] == aws.get_function_configuration(FunctionName=fn)["RevisionId"]
    # an alias has a policy of its own, also when named by a qualified ARN
    aws.add_permission(FunctionName=function_arn(fn, "live"), StatementId="url", Action="*", Principal="*")
    (alias_statement,) = json.loads(aws.get_policy(FunctionName=fn, Qualifier="live")["Policy"])["Statement"]
    assert (alias_statement["Resource"], alias_statement["Principal"]) == (function_arn(fn, "live"), "*")

    assert status(aws.remove_permission(FunctionName=fn, StatementId="from-s3")) == 204
    assert [s["Sid"] for s in json.loads(aws.get_policy(FunctionName=fn)["Policy"])["Statement"]] == ["acct"]


def test_permission_errors(aws: Any, unchecked: Any, fn: str) -> None:
    assert expect_error(aws.get_policy, FunctionName=fn) == NOT_FOUND  # no statement yet
    grant = {"FunctionName": fn, "StatementId": "one", "Action": "lambda:InvokeFunction", "Principal": "*"}
    aws.add_permission(**grant)
    assert expect_error(aws.add_permission, **grant) == CONFLICT
    assert (
        expect_error(aws.add_permission, **{**grant, "StatementId": "two", "RevisionId": "stale"})
        == PRECONDITION
    )
    assert (
        expect_error(aws.remove_permission, FunctionName=fn, StatementId="one", RevisionId="stale")
        == PRECONDITION
    )
    assert expect_error(aws.remove_permission, FunctionName=fn, StatementId="nope") == NOT_FOUND
    assert expect_error(unchecked.add_permission, **{**grant, "StatementId": "bad id!"}) == VALIDATION
    assert (
        expect_error(unchecked.add_permission, **{**grant, "StatementId": "x", "Action": "s3:Get"})
        == VALIDATION
    )
    assert expect_error(aws.add_permission, **{**grant, "StatementId": "x", "Qualifier": "nope"}) == NOT_FOUND
    assert [s["Sid"] for s in json.loads(aws.get_policy(FunctionName=fn)["Policy"])["Statement"]] == ["one"]
    revision = aws.get_policy(FunctionName=fn)["RevisionId"]
    assert status(aws.remove_permission(FunctionName=fn, StatementId="one", RevisionId=revision)) == 204


# --- provisioned concurrency ------------------------------------------------------------------------


def test_provisioned_concurrency_configs(aws: Any, unchecked: Any, fn: str) -> None:
    assert (
        expect_error(aws.get_provisioned_concurrency_config, FunctionName=fn, Qualifier="live")
        == NO_PROVISIONED
    )
    put = aws.put_provisioned_concurrency_config(
        FunctionName=fn, Qualifier="live", ProvisionedConcurrentExecutions=2
    )
    assert status(put) == 202
    got = aws.get_provisioned_concurrency_config(FunctionName=fn, Qualifier="live")
    assert (got["Status"], got["RequestedProvisionedConcurrentExecutions"]) == ("READY", 2)
    assert got["AllocatedProvisionedConcurrentExecutions"] == 2
    listed = aws.list_provisioned_concurrency_configs(FunctionName=fn)["ProvisionedConcurrencyConfigs"]
    assert [(c["FunctionArn"], c["RequestedProvisionedConcurrentExecutions"]) for c in listed] == [
        (function_arn(fn, "live"), 2)
    ]
    for qualifier in ("$LATEST", "nope"):
        code = expect_error(
            aws.put_provisioned_concurrency_config,
            FunctionName=fn,
            Qualifier=qualifier,
            ProvisionedConcurrentExecutions=1,
        )
        assert code == (INVALID if qualifier == "$LATEST" else NOT_FOUND)
    zero = {"FunctionName": fn, "Qualifier": "live", "ProvisionedConcurrentExecutions": 0}
    assert expect_error(unchecked.put_provisioned_concurrency_config, **zero) == VALIDATION
    assert status(aws.delete_provisioned_concurrency_config(FunctionName=fn, Qualifier="live")) == 204
    assert (
        expect_error(aws.delete_provisioned_concurrency_config, FunctionName=fn, Qualifier="live")
        == NO_PROVISIONED
    )


# --- features Turnout does not have -----------------------------------------------------------------


def test_code_signing_runtime_management_recursion_and_account_settings(aws: Any, fn: str) -> None:
    assert aws.get_function_code_signing_config(FunctionName=fn)["CodeSigningConfigArn"] == ""
    csc = f"arn:aws:lambda:us-east-1:{ACCOUNT}:code-signing-config:csc-0123456789abcdef0"
    assert (
        expect_error(aws.put_function_code_signing_config, FunctionName=fn, CodeSigningConfigArn=csc)
        == INVALID
    )
    assert status(aws.delete_function_code_signing_config(FunctionName=fn)) == 204
    runtime = aws.get_runtime_management_config(FunctionName=fn, Qualifier="1")
    assert (runtime["UpdateRuntimeOn"], runtime["FunctionArn"]) == ("Auto", function_arn(fn, "1"))
    assert (
        aws.put_runtime_management_config(FunctionName=fn, UpdateRuntimeOn="Auto")["UpdateRuntimeOn"]
        == "Auto"
    )
    assert (
        expect_error(aws.put_runtime_management_config, FunctionName=fn, UpdateRuntimeOn="Manual") == INVALID
    )
    assert aws.get_function_recursion_config(FunctionName=fn)["RecursiveLoop"] == "Allow"
    assert (
        expect_error(aws.put_function_recursion_config, FunctionName=fn, RecursiveLoop="Terminate") == INVALID
    )
    assert expect_error(aws.get_function_code_signing_config, FunctionName="no-such-fn") == NOT_FOUND
    settings = aws.get_account_settings()
    assert settings["AccountUsage"]["FunctionCount"] >= 1
    assert settings["AccountLimit"]["CodeSizeZipped"] > 0


# --- waiters, validation, qualifiers ----------------------------------------------------------------


def test_waiters_finish_on_every_configuration_read(aws: Any) -> None:
    name = unique("waiters")
    create_function(aws, name)
    aws.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 3})
    aws.get_waiter("function_active").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 3})
    aws.update_function_configuration(FunctionName=name, Timeout=9)
    aws.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 3})
    version = aws.publish_version(FunctionName=name)["Version"]
    waiter = aws.get_waiter("published_version_active")
    waiter.wait(FunctionName=name, Qualifier=version, WaiterConfig={"Delay": 1, "MaxAttempts": 3})
    for config in (
        aws.get_function_configuration(FunctionName=name, Qualifier=version),
        *aws.list_functions()["Functions"],
    ):
        assert (config["State"], config["LastUpdateStatus"]) == ("Active", "Successful")


def test_model_constraints_answer_validation_exception_and_write_nothing(aws: Any, unchecked: Any) -> None:
    name = unique("valid")
    for bad in (
        {"Timeout": 0},
        {"MemorySize": 64},
        {"Description": "x" * 257},
        {"Handler": "app handler"},
        {"Role": "r"},
    ):
        with pytest.raises(ClientError) as caught:
            create_function(unchecked, name, **bad)
        assert aws_error(caught.value) == VALIDATION, bad
    assert expect_error(unchecked.create_function, FunctionName="bad.name", Role="r", Code={}) == VALIDATION
    assert expect_error(create_function, client=aws, name=name, Architectures=["arm64"]) == INVALID
    assert expect_error(aws.get_function, FunctionName=name) == NOT_FOUND
    create_function(aws, name)
    assert (
        expect_error(unchecked.update_function_configuration, FunctionName=name, MemorySize=99999)
        == VALIDATION
    )
    assert (
        expect_error(aws.update_function_configuration, FunctionName=name, Timeout=901) == INVALID
    )  # Turnout's limit
    assert (
        expect_error(unchecked.create_alias, FunctionName=name, Name="a b", FunctionVersion="$LATEST")
        == VALIDATION
    )
    assert aws.get_function_configuration(FunctionName=name)["Timeout"] == 3


def test_revision_id_mismatches_are_precondition_failures(aws: Any, fn: str) -> None:
    stale = "00000000-0000-0000-0000-000000000000"
    calls = [
        (aws.update_function_configuration, {"Timeout": 7}),
        (aws.update_function_code, {"ZipFile": b"unused"}),
        (aws.publish_version, {}),
        (aws.update_alias, {"Name": "live"}),
        (aws.add_permission, {"StatementId": "s", "Action": "*", "Principal": "*"}),
    ]
    for call, params in calls:
        assert expect_error(call, FunctionName=fn, RevisionId=stale, **params) == PRECONDITION, call


def test_qualifiers_as_arns_and_deleting_latest(aws: Any, fn: str) -> None:
    assert aws.get_function(FunctionName=function_arn(fn, "live"))["Configuration"]["Version"] == "1"
    partial = f"{ACCOUNT}:function:{fn}:1"
    assert aws.get_function_configuration(FunctionName=partial)["FunctionArn"] == function_arn(fn, "1")
    assert aws.get_function_configuration(FunctionName=function_arn(fn), Qualifier="live")["Version"] == "1"
    assert expect_error(aws.get_function, FunctionName=function_arn(fn, "live"), Qualifier="1") == INVALID
    assert expect_error(aws.delete_function, FunctionName=fn, Qualifier="$LATEST") == INVALID
    assert expect_error(aws.delete_function, FunctionName=f"{fn}:$LATEST") == INVALID
    assert aws.get_function(FunctionName=fn)["Configuration"]["Version"] == "$LATEST"
    assert status(aws.delete_function(FunctionName=function_arn(fn))) == 204
    assert expect_error(aws.get_function, FunctionName=fn) == NOT_FOUND
