from __future__ import annotations

import httpx

from tests.support import deploy, publish, unique


def test_deploy_publish_and_point_an_alias(api: httpx.Client) -> None:
    name = unique()
    deploy(api, name)
    assert publish(api, name)["version"] == 1
    response = api.put(f"/v1/functions/{name}/aliases/prod", json={"version": 1})
    assert response.status_code == 201
    assert response.json()["target"] == "1"
