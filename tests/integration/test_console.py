"""The web console in a real headless Chromium (Debian's ``chromium`` driven by Playwright): sign in, see
a 90/10 split drawn as bars, open a diff, roll an alias back from the page and see the CLI agree, bad input
shown with the API's error code, a read-only token that sees no action and whose forged posts get 403, and
a shared resource (a version OUT OF RANGE) and a release seen and the release rolled back from its page.

One server and one browser for the module. With ``TURNOUT_SCREENSHOTS=1`` the tests also save screenshots
of the main pages to docs/console/ (the ones docs/console.md shows); otherwise a test run leaves the
checkout as it was.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import FAST_ROLLOUTS
from tests.integration.rollout_support import alias_target, load, two_versions, versioned
from tests.support import Server, deploy, publish, unique, wait_for

pytestmark = pytest.mark.integration
playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("TURNOUT_TEST_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
TIMEOUT_MS = 20_000
V2 = "def handler(event, context):\n    return {'hello': 'v2'}\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("console") / "data", extra_env=FAST_ROLLOUTS).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (scripts/ensure-system-packages installs it)")
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def split(server: Server) -> str:
    """A function with versions 1 and 2 and alias prod at 1=90 2=10 (moved there from 1)."""
    name = unique("console")
    with server.client() as api:
        deploy(api, name, description="says hello")
        publish(api, name, description="first")
        deploy(api, name, {"app.py": V2}, environment={"GREETING": "hi", "DB_PASSWORD": "hunter2"})
        publish(api, name, description="second")
        _point(api, name, {"version": 1})
        _point(api, name, {"weights": {"1": 90, "2": 10}})
    return name


def _point(api: httpx.Client, name: str, body: dict[str, Any]) -> None:
    response = api.put(f"/v1/functions/{name}/aliases/prod", json=body)
    assert response.status_code in (200, 201), response.text


def _signed_in(browser: Any, server: Server, token: str) -> Any:
    context = browser.new_context(viewport={"width": 1100, "height": 720}, base_url=server.url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/ui/")
    playwright_api.expect(page).to_have_url(re.compile(r"/ui/signin"))
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    playwright_api.expect(page).to_have_url(re.compile(r"/ui/functions$"))
    return page


def _shot(page: Any, name: str) -> None:
    """Save the page as docs/console/NAME.png when asked to (``TURNOUT_SCREENSHOTS=1``)."""
    if os.environ.get("TURNOUT_SCREENSHOTS") != "1":
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _read_token(server: Server) -> str:
    with server.client() as api:
        made = api.post("/v1/tokens", json={"name": unique("viewer"), "scopes": ["read"]})
    assert made.status_code == 201, made.text
    return str(made.json()["token"])


def test_sign_in_find_a_function_and_see_its_90_10_split_as_bars(
    browser: Any, server: Server, split: str
) -> None:
    page = _signed_in(browser, server, server.token)
    page.get_by_label("Search").fill(split)
    row = page.locator("#list tbody tr", has_text=split)
    playwright_api.expect(row).to_contain_text("prod → 1 (90%), 2 (10%)")
    _shot(page, "functions")
    row.get_by_role("link", name=split).click()
    bar = page.locator("#alias-prod .bar")
    playwright_api.expect(bar).to_have_attribute("aria-label", "traffic of prod: 1 (90%), 2 (10%)")
    widths = {
        seg.get_attribute("data-version"): seg.bounding_box()["width"] for seg in bar.locator(".seg").all()
    }
    assert set(widths) == {"1", "2"}
    assert widths["1"] / (widths["1"] + widths["2"]) == pytest.approx(0.9, abs=0.02)
    playwright_api.expect(bar.locator(".seg").first).to_have_text("v1 90%")
    _shot(page, "function")
    page.context.close()


def test_a_diff_shows_code_side_by_side_and_masks_secrets(browser: Any, server: Server, split: str) -> None:
    page = _signed_in(browser, server, server.token)
    page.goto(f"/ui/functions/{split}")
    page.get_by_label("Compare").select_option("1")
    page.get_by_label("with").first.select_option("2")
    page.get_by_role("button", name="Diff").click()
    playwright_api.expect(page.locator("h1")).to_have_text(f"{split}: version 1 → 2")
    changed = page.locator("table.sbs tr.changed").first
    playwright_api.expect(changed.locator("td").last).to_contain_text("return {'hello': 'v2'}")
    environment = page.locator("section", has_text="Environment")
    playwright_api.expect(environment).to_contain_text("GREETING")
    playwright_api.expect(environment).to_contain_text("****")
    assert "hunter2" not in page.content()
    _shot(page, "diff")
    page.context.close()


def test_rolling_back_from_the_page_says_what_changes_and_the_cli_agrees(
    browser: Any, server: Server, split: str
) -> None:
    page = _signed_in(browser, server, server.token)
    page.goto(f"/ui/functions/{split}")
    page.locator("#alias-prod").get_by_role("link", name="Roll back…").click()
    plan = page.locator("#plan tbody tr td")
    playwright_api.expect(plan).to_have_text(["prod", "1 (90%), 2 (10%)", "1"])
    _shot(page, "confirm")
    page.get_by_label("Reason").fill("bad canary")
    page.get_by_role("button", name="Confirm").click()
    playwright_api.expect(page.locator("#alias-prod .bar")).to_have_attribute(
        "aria-label", "traffic of prod: 1"
    )
    assert _cli(server, "alias", "ls", split, "-o", "json")["aliases"][0]["target"] == "1"
    history = _cli(server, "alias", "history", split, "prod", "-o", "json")["history"][0]
    assert (history["action"], history["reason"]) == ("rollback", "bad canary")
    page.context.close()


def test_bad_input_shows_the_api_error_code_and_changes_nothing(
    browser: Any, server: Server, split: str
) -> None:
    page = _signed_in(browser, server, server.token)
    page.goto(f"/ui/functions/{split}")
    before = page.locator("#alias-prod .bar").get_attribute("aria-label")
    page.get_by_label("Point or split").fill("1=50 2=20")
    page.get_by_role("button", name="Review…").first.click()
    playwright_api.expect(page.get_by_role("alert")).to_contain_text("InvalidWeights")
    page.goto(f"/ui/functions/{split}")
    playwright_api.expect(page.locator("#alias-prod .bar")).to_have_attribute("aria-label", str(before))
    page.context.close()


def test_a_read_token_sees_no_action_and_its_forged_post_is_refused(
    browser: Any, server: Server, split: str
) -> None:
    page = _signed_in(browser, server, _read_token(server))
    page.goto(f"/ui/functions/{split}")
    playwright_api.expect(page.locator("#alias-prod .bar")).to_be_visible()
    assert page.get_by_role("button", name="Review…").count() == 0
    assert page.get_by_role("link", name="Roll back…").count() == 0
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    forged = page.request.post(
        f"/ui/functions/{split}/aliases/prod/point", form={"target": "2", "csrf": str(csrf)}, max_redirects=0
    )
    assert forged.status == 403 and "Forbidden" in forged.text()
    page.context.close()
    admin = _signed_in(browser, server, server.token)
    no_csrf = admin.request.post(
        f"/ui/functions/{split}/aliases/prod/point", form={"target": "2"}, max_redirects=0
    )
    assert no_csrf.status == 403
    form = admin.locator("form[action='/ui/signout'] input[name=csrf]").get_attribute("value")
    cross_site = admin.request.post(
        f"/ui/functions/{split}/aliases/prod/point",
        form={"target": "2", "csrf": str(form)},
        headers={"Origin": "http://evil.example"},
        max_redirects=0,
    )
    assert cross_site.status == 403 and "another site" in cross_site.text()
    with server.client() as api:
        assert api.get(f"/v1/functions/{split}/aliases/prod").json()["target"] == "1"
    admin.context.close()


def test_the_session_cookie_is_http_only_and_same_site_strict(browser: Any, server: Server) -> None:
    page = _signed_in(browser, server, server.token)
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "turnout_console"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert server.token not in cookie["value"]
    page.get_by_role("button", name="Sign out").click()
    playwright_api.expect(page).to_have_url(re.compile(r"/ui/signin"))
    page.goto("/ui/functions")
    playwright_api.expect(page).to_have_url(re.compile(r"/ui/signin"))
    page.context.close()


def test_a_failing_canary_started_from_the_page_is_seen_failing_and_rolled_back_live(
    browser: Any, server: Server
) -> None:
    name = unique("canary")
    with server.client() as api:
        _, candidate = two_versions(api, name, versioned("v2", fail_rate=0.3))
    page = _signed_in(browser, server, server.token)
    with load(server, name):
        page.goto(f"/ui/functions/{name}/aliases/prod/rollout")
        for label, value in (("Canary share (%)", "30"), ("Bake (s)", "60"), ("Window (s)", "30")):
            page.get_by_label(label).fill(value)
        page.get_by_label("max error rate increase").fill("0.01")
        page.get_by_label("min invocations").fill("40")
        page.get_by_label("Candidate version").select_option(str(candidate))
        page.get_by_role("button", name="Review…").click()
        playwright_api.expect(page.locator("#plan tbody td").nth(2)).to_contain_text(
            f"{candidate} step by step, judged by max_error_rate_increase 0.01, min_invocations 40"
        )
        page.get_by_role("button", name="Confirm").click()
        playwright_api.expect(page).to_have_url(re.compile(r"/aliases/prod/rollout$"))
        page.evaluate("window.sameDocument = true")
        playwright_api.expect(page.locator("#chart-invocations canvas")).to_be_visible()
        playwright_api.expect(page.locator("#gates tr[data-gate=max_error_rate_increase]")).to_be_visible()
        playwright_api.expect(page.locator("#state")).to_have_attribute(
            "data-state", "rolled-back", timeout=90_000
        )
    verdict = page.locator("#verdict")
    playwright_api.expect(verdict).to_be_visible()
    playwright_api.expect(verdict).to_contain_text("Rolled back automatically")
    playwright_api.expect(verdict).to_contain_text("candidate.error_rate")
    assert page.evaluate("window.sameDocument") is True  # the page followed it without a reload
    _shot(page, "rolled-back")
    with server.client() as api:
        assert alias_target(api, name) == "1"
    page.context.close()


FLAKY = """\
def handler(event, context):
    print("seen", event["n"])
    if event.get("fail"):
        raise ValueError("asked to fail")
    return event["n"]
"""


def test_the_log_tail_follows_live_and_shows_only_errors_when_asked(browser: Any, server: Server) -> None:
    name = unique("logs")
    with server.client() as api:
        deploy(api, name, {"app.py": FLAKY})
        publish(api, name)
    page = _signed_in(browser, server, server.token)
    page.goto(f"/ui/functions/{name}")
    page.get_by_role("link", name="Logs (live)").click()
    page.get_by_label("errors only").check()
    page.get_by_role("button", name="Filter").click()
    playwright_api.expect(page).to_have_url(re.compile(r"errors=1"))
    playwright_api.expect(page.locator("#tail")).to_have_attribute("data-polled", "yes")  # following now
    with server.client() as api:
        ok = api.post(f"/v1/functions/{name}:1/invoke", json={"n": 1})
        failed = api.post(f"/v1/functions/{name}:1/invoke", json={"n": 2, "fail": True})
    failed_id = failed.headers["X-Turnout-Request-Id"]
    row = page.locator(f"#records tr[data-request-id='{failed_id}']")
    playwright_api.expect(row).to_contain_text("asked to fail")
    playwright_api.expect(row).to_have_class("bad")
    assert page.locator(f"#records tr[data-request-id='{ok.headers['X-Turnout-Request-Id']}']").count() == 0
    _shot(page, "logs")
    page.context.close()


def _version(api: httpx.Client, name: str, **config: Any) -> int:
    deploy(api, name, **config)
    return int(publish(api, name)["version"])


def _resource(api: httpx.Client, name: str, version: str, **body: Any) -> None:
    response = api.put(f"/v1/resources/{name}", json={"version": version, **body})
    assert response.status_code in (200, 201), response.text


def test_a_release_and_a_resource_are_seen_and_the_release_rolled_back_from_the_page(
    browser: Any, server: Server
) -> None:
    api_fn, worker, legacy, db, name = (unique(p) for p in ("api", "worker", "legacy", "db", "checkout"))
    with server.client() as api:
        _resource(api, db, "5")
        assert _version(api, api_fn, requires={db: ">=5"}) == 1
        assert _version(api, api_fn, requires={db: ">=6"}) == 2
        _version(api, worker)
        _version(api, worker, description="worker 2")
        _version(api, legacy, requires={db: "<6"})
        for fn in (api_fn, worker, legacy):
            _point(api, fn, {"version": 1})
        _resource(api, db, "6", reason="migration 0042", force=True)  # legacy v1 is left out of range
        members = [{"function": fn, "alias": "prod", "version": 2} for fn in (api_fn, worker)]
        made = api.post("/v1/releases", json={"name": name, "members": members, "reason": "spring"})
        assert made.status_code == 201, made.text
    page = _signed_in(browser, server, server.token)

    page.get_by_role("link", name="Resources").click()
    page.locator("#resources").get_by_role("link", name=db, exact=True).click()
    playwright_api.expect(page.locator("#version")).to_have_text("6")
    users = page.locator("#users tbody tr")
    playwright_api.expect(page.locator(f"#users tr[data-user='{api_fn}:2']")).to_contain_text("in range")
    out = page.locator(f"#users tr[data-user='{legacy}:1']")
    playwright_api.expect(out).to_contain_text("OUT OF RANGE")
    playwright_api.expect(out).to_contain_text("alias prod")
    playwright_api.expect(out).to_have_class("bad")
    assert users.count() == 2
    history = page.locator("#history tbody tr")
    playwright_api.expect(history.first).to_contain_text("5 → 6")
    playwright_api.expect(history.first).to_contain_text("forced")
    playwright_api.expect(history.first).to_contain_text("migration 0042")
    _shot(page, "resource")

    page.get_by_role("link", name="Releases").click()
    row = page.locator(f"#releases tr[data-release='{name}']")
    playwright_api.expect(row).to_contain_text("succeeded")
    playwright_api.expect(row).to_contain_text("at once")
    playwright_api.expect(row).to_contain_text(f"{api_fn}:prod 1 → 2")
    row.get_by_role("link", name=name, exact=True).click()
    playwright_api.expect(page.locator("#state")).to_have_text("succeeded")
    for fn in (api_fn, worker):
        member = page.locator(f"#members tr[data-member='{fn}:prod']")
        playwright_api.expect(member.locator("td")).to_have_text([fn, "prod", "1 → 2", "—", "—"])
    playwright_api.expect(page.locator("#history tbody tr").first).to_contain_text("applied")
    _shot(page, "release")

    page.get_by_role("link", name="Roll back…").click()
    playwright_api.expect(page.locator("#plan tbody td")).to_have_text(
        [f"{api_fn}:prod", "2", "1", f"{worker}:prod", "2", "1"]
    )
    page.get_by_label("Reason").fill("checkout errors")
    page.get_by_role("button", name="Confirm").click()
    playwright_api.expect(page.locator("#state")).to_have_text("rolled-back")
    playwright_api.expect(page.locator("#history tbody tr").first).to_contain_text("checkout errors")
    assert page.get_by_role("link", name="Roll back…").count() == 0

    def back() -> bool:
        with server.client() as api:
            found = [api.get(f"/v1/functions/{fn}/aliases/prod").json() for fn in (api_fn, worker)]
        return [a["target"] for a in found] == ["1", "1"]

    wait_for(back, timeout=20, what="both aliases back on version 1")

    page.goto(f"/ui/releases/{name}/rollback")  # nothing left to roll back: the service's error, as a page
    playwright_api.expect(page.get_by_role("alert")).to_contain_text("NothingToRollBack")
    page.goto(f"/ui/functions/{api_fn}")
    playwright_api.expect(page.locator("td.requires").first).to_have_text(f"{db} >=6")
    page.context.close()


def _cli(server: Server, *args: str) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_")}
    env.update(TURNOUT_URL=server.url, TURNOUT_TOKEN=server.token)
    done = subprocess.run(
        [sys.executable, "-m", "turnout", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
