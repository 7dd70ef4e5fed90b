"""The Lambda API's validation: the botocore model's constraints on bodies, AWS's statement shape for
AddPermission, the ARN forms TagResource takes, tag rules and which error type each failure is."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from turnout.errors import InvalidInput
from turnout.lambda_api.bodies import AliasBody, CreateFunctionBody, UpdateConfigurationBody
from turnout.lambda_api.errors import AwsValidation, aws_type
from turnout.lambda_api.names import parse_function_arn, parse_function_name
from turnout.lambda_api.policies import PermissionBody, statement
from turnout.services.tags import check_tags

ROLE = "arn:aws:iam::000000000000:role/x"
CREATE = {"FunctionName": "hello", "Role": ROLE, "Handler": "app.handler", "Code": {"ZipFile": "UEs="}}


@pytest.mark.parametrize(
    "bad",
    [
        {"FunctionName": "bad.name"},
        {"FunctionName": "x" * 141},
        {"Timeout": 0},
        {"Timeout": 5401},
        {"MemorySize": 127},
        {"MemorySize": 32769},
        {"Description": "d" * 257},
        {"Handler": "app handler"},
        {"Role": "not-a-role"},
        {"PackageType": "Tar"},
        {"Tags": {"k": "v" * 257}},
        {"Architectures": ["x86_64", "arm64"]},
    ],
)
def test_create_function_bodies_outside_the_model_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CreateFunctionBody.model_validate({**CREATE, **bad})


def test_bodies_inside_the_model_pass_and_unknown_fields_are_ignored() -> None:
    body = CreateFunctionBody.model_validate(
        {
            **CREATE,
            "FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:hello",
            "Timeout": 900,
            "New": 1,
        }
    )
    assert (body.Timeout, body.MemorySize) == (900, None)
    assert UpdateConfigurationBody.model_validate({"MemorySize": 10240}).MemorySize == 10240
    assert AliasBody.model_validate({"Name": "prod", "FunctionVersion": "$LATEST"}).Name == "prod"
    with pytest.raises(ValidationError):
        AliasBody.model_validate({"Name": "prod", "FunctionVersion": "v1"})


def test_add_permission_builds_the_statement_aws_builds() -> None:
    body = PermissionBody(
        StatementId="url",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
        PrincipalOrgID="o-abcdefghij",
    )
    assert statement(body, "arn:fn") == {
        "Sid": "url",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "lambda:InvokeFunctionUrl",
        "Resource": "arn:fn",
        "Condition": {
            "StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij", "lambda:FunctionUrlAuthType": "NONE"}
        },
    }
    role = "arn:aws:iam::111122223333:role/caller"
    assert statement(PermissionBody(StatementId="a", Action="*", Principal=role), "r")["Principal"] == {
        "AWS": role
    }
    assert "Condition" not in statement(PermissionBody(StatementId="a", Action="*", Principal=role), "r")


@pytest.mark.parametrize(
    "bad",
    [
        {"StatementId": "has space"},
        {"StatementId": ""},
        {"Action": "s3:GetObject"},
        {"Principal": "two words"},
        {"SourceAccount": "123"},
        {"SourceArn": "not-an-arn"},
        {"FunctionUrlAuthType": "OPEN"},
    ],
)
def test_add_permission_bodies_outside_the_model_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PermissionBody.model_validate(
            {"StatementId": "s", "Action": "lambda:InvokeFunction", "Principal": "*", **bad}
        )


def test_tag_resources_are_full_function_arns() -> None:
    assert parse_function_arn("arn:aws:lambda:eu-west-1:123456789012:function:f:prod") == ("f", "prod")
    for bad in (
        "f",
        "000000000000:function:f",
        "arn:aws:s3:::bucket",
        "arn:aws:lambda:us-east-1:1:function:f",
    ):
        with pytest.raises(AwsValidation):
            parse_function_arn(bad)


def test_function_names_outside_the_pattern_are_validation_errors_and_conflicts_are_not() -> None:
    with pytest.raises(AwsValidation):
        parse_function_name("bad.name")
    with pytest.raises(InvalidInput) as conflict:
        parse_function_name("hello:prod", "1")
    assert not isinstance(conflict.value, AwsValidation)
    assert aws_type(AwsValidation("x")) == ("ValidationException", 400)
    assert aws_type(conflict.value) == ("InvalidParameterValueException", 400)


def test_tag_rules() -> None:
    check_tags({f"k{i}": "v" for i in range(50)})
    for bad in ({f"k{i}": "v" for i in range(51)}, {"aws:createdBy": "me"}, {"AWS:x": "y"}):
        with pytest.raises(InvalidInput):
            check_tags(bad)
