"""Terraform's AWS provider manages Turnout with only the endpoint changed (issue 13).

One workflow against one real server, with the configuration the README shows
(examples/terraform/main.tf): apply (function with publish, environment, tags and reserved concurrency;
an alias; a function URL on it; provisioned concurrency; an async invocation config; a permission; the
function, alias and invocation data sources), invoke through the URL; apply new code and a new
environment variable as a 90/10 canary on the alias; plan shows no changes; destroy leaves nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.lambda_support import lambda_client, start_server
from tests.support import Server, make_zip, wait_for

pytestmark = pytest.mark.integration
TERRAFORM = shutil.which("terraform")
PLUGINS = Path(os.environ.get("TURNOUT_TF_PLUGIN_DIR", "/opt/tf-plugins"))
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "terraform" / "main.tf"
NAME = "tf-hello"
APP = """\
import os


def handler(event, context):
    body = f"{marker} {{os.environ['GREETING']}} {{context.function_version}}"
    return {{"statusCode": 200, "body": body}}
"""

if TERRAFORM is None or not (PLUGINS / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
    pytest.skip(
        f"needs the terraform binary on PATH and the hashicorp/aws provider in {PLUGINS} "
        "(TURNOUT_TF_PLUGIN_DIR)",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def lam(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory, "terraform")
    yield running
    running.stop()


class Terraform:
    """``terraform`` in its own folder, with no configuration from this machine."""

    def __init__(self, folder: Path, server: Server) -> None:
        self.folder, self.server = folder, server
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
        self.env.update(
            TF_IN_AUTOMATION="1",
            TF_CLI_CONFIG_FILE=str(folder / "no-such-terraformrc"),
            HOME=str(folder),
            AWS_EC2_METADATA_DISABLED="true",
        )

    def __call__(self, *args: str, check: bool = True, **variables: str) -> subprocess.CompletedProcess[str]:
        command = [str(TERRAFORM), *args, "-input=false", "-no-color"]
        if args[0] != "init":
            merged = {"endpoint": self.server.url, **variables}
            command += [f"-var={k}={v}" for k, v in merged.items()]
        done = subprocess.run(
            command, cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=300
        )
        if check:
            assert done.returncode == 0, (args, done.stdout[-4000:], done.stderr[-4000:])
        return done

    def output(self) -> dict[str, Any]:
        done = subprocess.run(
            [str(TERRAFORM), "output", "-json"], cwd=self.folder, env=self.env, capture_output=True, text=True
        )
        return {k: v["value"] for k, v in json.loads(done.stdout).items()}


def _package(folder: Path, marker: str) -> str:
    path = folder / f"{marker}.zip"
    path.write_bytes(make_zip({"app.py": APP.format(marker=marker)}))
    return path.name


def test_apply_change_plan_and_destroy(lam: Server, tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "main.tf")
    tf, aws = Terraform(tmp_path, lam), lambda_client(lam.url)
    tf("init", f"-plugin-dir={PLUGINS}")

    # 1. everything is created as configured, and the URL serves the alias
    tf("apply", "-auto-approve", package=_package(tmp_path, "first"), greeting="hi")
    out = tf.output()
    assert (out["version"], out["alias_version"]) == ("1", "1")
    assert json.loads(out["invoked"])["body"] == "first hi 1"
    assert httpx.get(out["url"], timeout=30).text == "first hi 1"
    found = aws.get_function(FunctionName=NAME)
    assert found["Tags"] == {"team": "web", "env": "test"}
    assert found["Concurrency"] == {"ReservedConcurrentExecutions": 5}
    config = found["Configuration"]
    assert (config["Timeout"], config["MemorySize"], config["Description"]) == (
        5,
        256,
        "managed by Terraform",
    )
    provisioned = aws.get_provisioned_concurrency_config(FunctionName=NAME, Qualifier="live")
    assert (provisioned["Status"], provisioned["RequestedProvisionedConcurrentExecutions"]) == ("READY", 1)
    invoke_config = aws.get_function_event_invoke_config(FunctionName=NAME, Qualifier="live")
    assert (invoke_config["MaximumRetryAttempts"], invoke_config["MaximumEventAgeInSeconds"]) == (1, 600)
    policy = json.loads(aws.get_policy(FunctionName=NAME, Qualifier="live")["Policy"])
    # the permission, and the one the provider adds itself for a public (NONE) function URL
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert set(statements) == {"public-url", "FunctionURLAllowPublicAccess"}
    assert statements["public-url"]["Action"] == "lambda:InvokeFunctionUrl"
    assert statements["public-url"]["Condition"] == {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}

    # 2. new code and a new variable: version 2 is published and gets 10% of the alias, as configured
    tags = json.dumps({"team": "web", "tier": "edge"})  # HCL reads JSON objects
    tf(
        "apply",
        "-auto-approve",
        package=_package(tmp_path, "second"),
        greeting="bonjour",
        stable="1",
        tags=tags,
    )
    out = tf.output()
    assert (out["version"], json.loads(out["invoked"])["body"]) == ("2", "second bonjour 2")
    alias = aws.get_alias(FunctionName=NAME, Name="live")
    assert (alias["FunctionVersion"], alias["RoutingConfig"]) == (
        "1",
        {"AdditionalVersionWeights": {"2": 0.1}},
    )
    assert aws.list_tags(Resource=found["Configuration"]["FunctionArn"])["Tags"] == {
        "team": "web",
        "tier": "edge",
    }
    version_2 = aws.get_function_configuration(FunctionName=NAME, Qualifier="2")
    assert version_2["Environment"]["Variables"] == {"GREETING": "bonjour"}
    seen: set[str] = set()

    def both_versions_served() -> bool:
        seen.add(httpx.get(out["url"], timeout=30).text)
        return seen == {"first hi 1", "second bonjour 2"}

    wait_for(both_versions_served, timeout=120, interval=0, what=f"the 90/10 split through the URL ({seen})")

    # 3. what Terraform reads back is what it wrote: no drift
    plan = tf(
        "plan",
        "-detailed-exitcode",
        check=False,
        package="second.zip",
        greeting="bonjour",
        stable="1",
        tags=tags,
    )
    assert plan.returncode == 0, plan.stdout[-4000:] + plan.stderr[-4000:]
    assert "No changes." in plan.stdout

    # 4. destroy removes everything
    tf("destroy", "-auto-approve", package="second.zip", greeting="bonjour", stable="1", tags=tags)
    assert aws.list_functions()["Functions"] == []
    with lam.client() as api:
        assert api.get("/v1/functions").json()["functions"] == []
