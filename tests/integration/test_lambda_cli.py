"""The real AWS CLI drives Turnout with nothing changed but ``--endpoint-url``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.lambda_support import (
    ACCESS_KEY,
    REGION,
    ROLE,
    SECRET_KEY,
    app_zip,
    code_sha256,
    function_arn,
    start_server,
)
from tests.support import Server, unique

pytestmark = pytest.mark.integration
AWS = Path(sys.executable).parent / "aws"


@pytest.fixture(scope="module")
def lam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory, "lambda-cli")
    yield running
    running.stop()


class Cli:
    """``aws lambda …`` as a subprocess, with no configuration or credentials from this machine."""

    def __init__(self, server: Server, home: Path) -> None:
        self.server = server
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.env.update(
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_CONFIG_FILE=str(home / "no-such-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(home / "no-such-credentials"),
            AWS_MAX_ATTEMPTS="1",
            HOME=str(home),
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(AWS), "lambda", *args, "--endpoint-url", self.server.url, "--region", REGION]
        return subprocess.run(
            [*command, "--output", "json"], env=self.env, capture_output=True, text=True, timeout=60
        )

    def __call__(self, *args: str) -> Any:
        done = self.run(*args)
        assert done.returncode == 0, (args, done.returncode, done.stderr)
        return json.loads(done.stdout) if done.stdout.strip() else None


def test_the_aws_cli_creates_publishes_aliases_invokes_lists_and_deletes(lam: Server, tmp_path: Path) -> None:
    aws = Cli(lam, tmp_path)
    name = unique("cli")
    package = tmp_path / "function.zip"
    package.write_bytes(app_zip("cli-v1"))

    created = aws(
        "create-function",
        "--function-name",
        name,
        "--runtime",
        "python3.12",
        "--role",
        ROLE,
        "--handler",
        "app.handler",
        "--timeout",
        "15",
        "--zip-file",
        f"fileb://{package}",
    )
    assert (created["FunctionArn"], created["Version"], created["State"]) == (
        function_arn(name),
        "$LATEST",
        "Active",
    )
    assert created["CodeSha256"] == code_sha256(package.read_bytes())

    published = aws("publish-version", "--function-name", name, "--description", "first")
    assert (published["Version"], published["Description"]) == ("1", "first")

    alias = aws("create-alias", "--function-name", name, "--name", "prod", "--function-version", "1")
    assert (alias["AliasArn"], alias["FunctionVersion"]) == (function_arn(name, "prod"), "1")

    event = tmp_path / "event.json"
    event.write_text(json.dumps({"print": "from the cli"}))
    outfile = tmp_path / "out.json"
    invoked = aws(
        "invoke",
        "--function-name",
        name,
        "--qualifier",
        "prod",
        "--payload",
        f"fileb://{event}",
        str(outfile),
    )
    assert (invoked["StatusCode"], invoked["ExecutedVersion"]) == (200, "1")
    assert "FunctionError" not in invoked
    result = json.loads(outfile.read_text())
    assert (result["marker"], result["function_version"]) == ("cli-v1", "1")
    assert result["invoked_function_arn"] == function_arn(name, "prod")

    got = aws("get-alias", "--function-name", name, "--name", "prod")
    assert (got["Name"], got["FunctionVersion"], got["RevisionId"]) == ("prod", "1", alias["RevisionId"])

    versions = aws("list-versions-by-function", "--function-name", name)
    assert [v["Version"] for v in versions["Versions"]] == ["$LATEST", "1"]

    assert aws("delete-function", "--function-name", name) in (None, {"StatusCode": 204})
    missing = aws.run("get-function", "--function-name", name)
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr, missing.stderr


def test_the_cli_waiters_and_queries_see_an_active_function(lam: Server, tmp_path: Path) -> None:
    aws = Cli(lam, tmp_path)
    name = unique("cli-wait")
    package = tmp_path / "function.zip"
    package.write_bytes(app_zip("cli-wait"))
    create = ["--runtime", "python3.12", "--role", ROLE, "--handler", "app.handler"]
    aws("create-function", "--function-name", name, *create, "--zip-file", f"fileb://{package}")
    for waiter in ("function-active-v2", "function-exists"):
        done = aws.run("wait", waiter, "--function-name", name)
        assert done.returncode == 0, (waiter, done.stderr)
    aws("update-function-configuration", "--function-name", name, "--timeout", "9")
    assert aws.run("wait", "function-updated-v2", "--function-name", name).returncode == 0
    state = aws(
        "get-function", "--function-name", name, "--query", "Configuration.[State,LastUpdateStatus,Timeout]"
    )
    assert state == ["Active", "Successful", 9]
    version = aws("publish-version", "--function-name", name)["Version"]
    done = aws.run("wait", "published-version-active", "--function-name", name, "--qualifier", version)
    assert done.returncode == 0, done.stderr
