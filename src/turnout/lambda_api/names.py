"""Lambda's ways of naming a function: ``my-function``, ``my-function:v1``,
``123456789012:function:my-function`` and ``arn:aws:lambda:us-west-2:123456789012:function:my-function[:q]``;
and the ARNs Turnout answers with."""

from __future__ import annotations

import re
from dataclasses import dataclass

from turnout.domain.names import check_function_name
from turnout.errors import InvalidInput
from turnout.lambda_api.errors import AwsValidation

_ARN = re.compile(
    r"(?:arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):)?(?:(?P<account>\d{12}):)?(?:function:)?"
    r"(?P<name>[a-zA-Z0-9_-]+)(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?"
)


@dataclass(frozen=True)
class Arns:
    region: str
    account_id: str

    def function(self, name: str, qualifier: str | None = None) -> str:
        """
        >>> Arns("us-east-1", "000000000000").function("hello", "prod")
        'arn:aws:lambda:us-east-1:000000000000:function:hello:prod'
        """
        base = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
        return f"{base}:{qualifier}" if qualifier else base


def parse_function_name(text: str, qualifier: str | None = None) -> tuple[str, str | None]:
    """(name, qualifier) from any of Lambda's forms; a qualifier both in the name and in ``Qualifier``
    must agree.

    >>> parse_function_name("arn:aws:lambda:us-east-1:000000000000:function:hello:7")
    ('hello', '7')
    >>> parse_function_name("000000000000:function:hello", "prod")
    ('hello', 'prod')
    """
    match = _ARN.fullmatch(text)
    if match is None:
        raise AwsValidation(f"{text!r} is not a function name, qualified name or function ARN")
    name, inline = check_function_name(match["name"]), match["qualifier"]
    if inline is not None and qualifier is not None and inline != qualifier:
        raise InvalidInput(f"the qualifier {qualifier!r} does not match {inline!r} in the function name")
    return name, inline if inline is not None else qualifier


_FULL_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:(?P<name>[a-zA-Z0-9_-]+)"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?"
)


def parse_function_arn(text: str) -> tuple[str, str | None]:
    """(name, qualifier) of a full function ARN, the only form TagResource and ListTags take.

    >>> parse_function_arn("arn:aws:lambda:us-east-1:000000000000:function:hello")
    ('hello', None)
    """
    match = _FULL_ARN.fullmatch(text)
    if match is None:
        raise AwsValidation(f"{text!r} is not a Lambda function ARN")
    return check_function_name(match["name"]), match["qualifier"]
