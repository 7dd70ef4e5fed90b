"""Dependency layers at run time: two versions with different versions of one package serve side by side,
a function may depend on a package the platform itself uses, and a function sees nothing it did not ask for.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.runtime_support import (
    invoke,
    ok,
    point,
    release,
    under,
    write_package_wheel,
)
from tests.support import Server, unique, write_wheel

pytestmark = pytest.mark.integration

REPORT = """\
import sys

import {package}


def handler(event, context):
    return {{
        "version": {package}.__version__,
        "file": {package}.__file__,
        "marker": getattr({package}, "MARKER", None),
        "path": list(sys.path),
    }}
"""

ISOLATED = """\
import sys


def handler(event, context):
    found = {}
    for name in event["modules"]:
        try:
            module = __import__(name)
        except ImportError as exc:
            found[name] = type(exc).__name__
        else:
            found[name] = getattr(module, "__file__", None) or "builtin"
    return {"imports": found, "path": list(sys.path)}
"""
PLATFORM_PACKAGES = ["fastapi", "rich", "httpx", "sqlalchemy", "turnout", "pydantic", "uvicorn"]


@pytest.fixture(scope="module")
def layered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that installs layers offline from a folder of wheels only."""
    wheels = tmp_path_factory.mktemp("wheelhouse")
    write_wheel(wheels, "tinydep", "1.0")
    write_wheel(wheels, "tinydep", "2.0")
    write_package_wheel(
        wheels, "rich", "0.0.1", '__version__ = "0.0.1"\nMARKER = "the function\'s own rich"\n'
    )
    running = Server(
        tmp_path_factory.mktemp("layered") / "data",
        extra_env={"TURNOUT_OFFLINE": "1", "TURNOUT_WHEEL_DIR": str(wheels)},
    ).start()
    yield running
    running.stop()


@pytest.fixture
def layered_api(layered: Server) -> Iterator[httpx.Client]:
    with layered.client() as client:
        yield client


def layer_of(api: httpx.Client, name: str, version: int) -> str:
    response = api.get(f"/v1/functions/{name}/versions/{version}")
    assert response.status_code == 200, response.text
    layer = response.json()["layer"]
    assert layer
    return str(layer)


def test_two_versions_with_different_dependency_versions_serve_side_by_side(
    layered: Server, layered_api: httpx.Client
) -> None:
    api, name = layered_api, unique("side")
    code = REPORT.format(package="tinydep")
    assert release(api, name, {"app.py": code, "requirements.txt": "tinydep==1.0\n"}) == 1
    assert release(api, name, {"app.py": code, "requirements.txt": "tinydep==2.0\n"}) == 2
    layers = {str(n): layered.data_dir / "layers" / layer_of(api, name, n) for n in (1, 2)}
    assert layers["1"] != layers["2"]
    point(api, name, "prod", weights={"1": 50, "2": 50})

    seen: Counter[str] = Counter()
    for _ in range(60):
        response = invoke(api, name, "prod")
        version, body = response.headers["X-Turnout-Version"], ok(response)
        seen[version] += 1
        assert body["version"] == {"1": "1.0", "2": "2.0"}[version]
        assert under(body["file"], layers[version]), (version, body["file"])
        assert [p for p in body["path"] if under(p, layered.data_dir / "layers")] == [str(layers[version])]
    assert seen["1"] >= 10 and seen["2"] >= 10, seen


def test_a_function_may_depend_on_a_package_the_platform_uses(
    layered: Server, layered_api: httpx.Client
) -> None:
    import rich  # the platform's own (Typer's)

    api, name = layered_api, unique("ownrich")
    release(api, name, {"app.py": REPORT.format(package="rich"), "requirements.txt": "rich==0.0.1\n"})
    body = ok(invoke(api, name, "1"))
    assert (body["version"], body["marker"]) == ("0.0.1", "the function's own rich")
    assert under(body["file"], layered.data_dir / "layers" / layer_of(api, name, 1))
    assert os.path.realpath(body["file"]) != os.path.realpath(str(rich.__file__))


def test_a_function_sees_only_the_standard_library_its_code_and_its_layer(
    layered: Server, layered_api: httpx.Client
) -> None:
    api, name = layered_api, unique("bare")
    release(api, name, {"app.py": ISOLATED})
    body = ok(invoke(api, name, "1", {"modules": [*PLATFORM_PACKAGES, "tinydep", "json"]}))
    imports = body["imports"]
    assert {m: imports[m] for m in PLATFORM_PACKAGES} == dict.fromkeys(
        PLATFORM_PACKAGES, "ModuleNotFoundError"
    )
    assert imports["tinydep"] == "ModuleNotFoundError"  # other functions' layers are not on the path
    assert under(imports["json"], sys.base_prefix)  # the standard library is

    code_dir = layered.data_dir / "code"
    own = [p for p in body["path"] if under(p, code_dir)]
    assert len(own) == 1 and body["path"][0] == own[0]
    stdlib = [p for p in body["path"] if p not in own]
    assert stdlib and all(under(p, sys.base_prefix) and "site-packages" not in p for p in stdlib), stdlib
