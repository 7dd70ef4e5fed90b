"""The request bodies of the Lambda API's function, version and alias operations, with the constraints
the botocore Lambda model declares (ranges, lengths, patterns, enums): a body that breaks one is
answered ``ValidationException`` (400) before anything is read or written, as AWS answers it.

Unknown fields are ignored, not refused: AWS adds fields over time and clients send them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DescriptionText = Annotated[str, Field(max_length=256)]
HandlerText = Annotated[str, Field(max_length=128, pattern=r"^[^\s]+$")]
# the model's ranges; a function's narrower limits (900 s, 10240 MB) are Turnout's InvalidParameterValue
TimeoutSeconds = Annotated[int, Field(ge=1, le=5400)]
MemoryMb = Annotated[int, Field(ge=128, le=32768)]
ROLE_PATTERN = r"^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$"
RoleArn = Annotated[str, Field(max_length=10000, pattern=ROLE_PATTERN)]
AliasName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[a-zA-Z0-9_-]+$")]
VersionLabel = Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^(\$LATEST|[0-9]+)$")]
FUNCTION_NAME_PATTERN = (
    r"^(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?"
    r"(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?$"
)
FunctionNameText = Annotated[str, Field(min_length=1, max_length=140, pattern=FUNCTION_NAME_PATTERN)]
TagMap = dict[Annotated[str, Field(min_length=1, max_length=128)], Annotated[str, Field(max_length=256)]]
Architecture = Literal["x86_64", "arm64"]


class Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class CodeBody(Shape):
    ZipFile: str | None = None
    S3Bucket: str | None = None
    S3Key: str | None = None
    ImageUri: str | None = None


class EnvironmentBody(Shape):
    Variables: dict[str, str] = Field(default_factory=dict)


class CreateFunctionBody(Shape):
    FunctionName: FunctionNameText
    Runtime: str | None = None
    Role: RoleArn | None = None
    Handler: HandlerText | None = None
    Code: CodeBody
    Description: DescriptionText | None = None
    Timeout: TimeoutSeconds | None = None
    MemorySize: MemoryMb | None = None
    Publish: bool = False
    Environment: EnvironmentBody | None = None
    PackageType: Literal["Zip", "Image"] | None = None
    Layers: list[str] | None = None
    Tags: TagMap | None = None
    Architectures: list[Architecture] | None = Field(default=None, min_length=1, max_length=1)


class UpdateCodeBody(Shape):
    ZipFile: str | None = None
    S3Bucket: str | None = None
    ImageUri: str | None = None
    Publish: bool = False
    DryRun: bool = False
    RevisionId: str | None = None
    Architectures: list[Architecture] | None = Field(default=None, min_length=1, max_length=1)


class UpdateConfigurationBody(Shape):
    Handler: HandlerText | None = None
    Role: RoleArn | None = None
    Description: DescriptionText | None = None
    Timeout: TimeoutSeconds | None = None
    MemorySize: MemoryMb | None = None
    Environment: EnvironmentBody | None = None
    Runtime: str | None = None
    RevisionId: str | None = None
    Layers: list[str] | None = None


class PublishBody(Shape):
    CodeSha256: str | None = None
    Description: DescriptionText | None = None
    RevisionId: str | None = None


class AliasBody(Shape):
    Name: AliasName | None = None
    FunctionVersion: VersionLabel | None = None
    Description: DescriptionText | None = None
    RoutingConfig: dict[str, Any] | None = None
    RevisionId: str | None = None
