"""The web view in a real browser: Debian's chromium driven by Playwright, against a real uvicorn on 127.0.0.1.

Playwright's own browser download is not reachable from these machines, so the browser is /usr/bin/chromium
(`apt-get install -y chromium`; .ci/run installs it). Without it the tests are skipped, saying so, except under
CI=true, where a missing browser fails them. Screenshots at 375 px and 1440 px go to tests/artifacts/web/.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claimwatch import ledger
from claimwatch.store import Store
from conftest import NOW, run_cli
from webserver import ANALYST, SUBSCRIBER, base, clock, store  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts" / "web"


def _missing(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true, and the browser tests cannot run: {why}")
    pytest.skip(f"browser tests skipped: {why}")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data directory: these tests are about the browser (test_web.py runs the pages on both kinds of store),
    and a page's images load at once, each holding a database connection that its pool keeps for a while."""
    return tmp_path / "data"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        _missing(f"no {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield browser
        browser.close()


class Visit:
    """A browser context for one person: its pages' console errors are collected, and none may occur."""

    def __init__(self, browser: Any, width: int = 1280) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[tuple[str, str]] = []  # (the page's address, the message)
        self.refused: set[str] = set()  # pages this visit means to be refused
        self.page.on("console", lambda m: self.errors.append((m.location.get("url", ""), m.text))
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(("", str(e))))

    def goto_refused(self, url: str, status: int) -> str:
        """Open a page that must be refused with `status`; its text. (Chromium logs the refusal of the page itself
        as a console error: that one is expected, and no other.)"""
        response = self.page.goto(url)
        assert response is not None and response.status == status
        self.refused.add(url)
        return self.page.locator("main").inner_text()

    def unexpected_errors(self) -> list[tuple[str, str]]:
        return [(url, text) for url, text in self.errors
                if not (url in self.refused and text.startswith("Failed to load resource: the server responded"))]

    def sign_in(self, store: Store, base: str, user_id: int, name: str) -> None:
        self.page.goto(ledger.sign_in_link(store, base, user_id, name, NOW))
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(f"{base}/claims")


@pytest.fixture
def visit(browser: Any) -> Iterator[Any]:
    visits: list[Visit] = []

    def make(width: int = 1280) -> Visit:
        visits.append(Visit(browser, width))
        return visits[-1]

    yield make
    for v in visits:
        v.context.close()
    assert [e for v in visits for e in v.unexpected_errors()] == []  # no page had a console error


def test_sign_in_through_a_one_time_link_and_not_a_second_time(visit: Any, store: Store, base: str) -> None:
    link = ledger.sign_in_link(store, base, ANALYST, "ann", NOW)
    first = visit()
    first.page.goto(link)
    first.page.get_by_role("button", name="Sign in").click()
    first.page.wait_for_url(f"{base}/claims")
    assert first.page.get_by_role("heading", name="Claims").is_visible()
    assert "ann · analyst" in first.page.locator("header").inner_text()
    second = visit()
    second.page.goto(link)
    with second.page.expect_response(f"{base}/signin") as answer:
        second.page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 400
    second.refused.add(f"{base}/signin")
    assert "used already" in second.page.locator("main").inner_text()
    assert "Sign in first" in second.goto_refused(f"{base}/claims", 401)


def test_filter_the_claims_table(visit: Any, store: Store, base: str) -> None:
    v = visit()
    v.sign_in(store, base, ANALYST, "ann")
    v.page.get_by_label("Tag").fill("energy")
    v.page.get_by_role("button", name="Filter").click()
    v.page.wait_for_url("**/claims?*tag=energy*")
    shown = v.page.locator("table.claims tbody tr").count()
    assert shown == len(ledger.list_claims(store, ["open", "#energy"], NOW.date())) > 0
    v.page.get_by_label("Status").select_option("resolved")
    v.page.get_by_label("Tag").fill("")
    v.page.get_by_role("button", name="Filter").click()
    v.page.wait_for_url("**/claims?*status=resolved*")
    assert v.page.locator("table.claims tbody tr").count() == 1


def test_open_a_claim_and_see_its_chart_and_evidence(visit: Any, store: Store, base: str) -> None:
    v = visit()
    v.sign_in(store, base, ANALYST, "ann")
    v.page.get_by_role("link", name="#1", exact=True).click()
    v.page.wait_for_url(f"{base}/claims/1")
    chart = v.page.locator("img.chart")
    chart.wait_for()
    assert v.page.evaluate("() => document.querySelector('img.chart').complete && "
                           "document.querySelector('img.chart').naturalWidth > 0")
    timeline = v.page.locator("ol.timeline").inner_text()
    assert "Summit talks go on" in timeline and "Минске ← Minsk" in timeline and "unlabelled" in timeline
    assert v.page.get_by_role("cell", name="72.5%").is_visible()  # the team's median of ann's 80% and bo's 65%


def test_forecast_from_the_page_and_see_it_in_the_command_line(visit: Any, store: Store, base: str, data: Path | str) -> None:
    v = visit()
    v.sign_in(store, base, ANALYST, "ann")
    v.page.goto(f"{base}/claims/3")
    v.page.get_by_label("Your forecast").fill("65%")
    v.page.get_by_label("Note", exact=True).first.fill("from the browser")
    v.page.get_by_role("button", name="Forecast").click()
    v.page.wait_for_url(f"{base}/claims/3?done=forecast")
    assert "Your forecast is recorded." in v.page.locator("main").inner_text()
    shown = run_cli("show", "3", "--json", data=data)
    assert shown.returncode == 0, shown.stderr
    forecasts = json.loads(shown.stdout)["forecasts"]
    assert {"by": "ann", "p": 0.65, "note": "from the browser", "who": f"tg:{ANALYST}"}.items() <= forecasts[-1].items()
    assert "ann: 65% on 2026-03-02 09:30 — from the browser" in run_cli("show", "3", data=data).stdout


def test_a_subscriber_sees_no_forms(visit: Any, store: Store, base: str) -> None:
    v = visit()
    v.sign_in(store, base, SUBSCRIBER, "sue")
    v.page.goto(f"{base}/claims/1")
    assert v.page.locator("form").count() == 1  # signing out
    assert v.page.locator("form[action='/signout']").count() == 1
    assert v.page.get_by_role("button", name="Forecast").count() == 0


def test_a_public_page_is_readable_signed_out_and_a_private_one_is_not(visit: Any, store: Store, base: str) -> None:
    token, _ = ledger.share(store, 1, "ann", NOW)
    v = visit()
    v.page.goto(f"{base}/p/{token}")
    text = v.page.locator("main").inner_text()
    assert "A public page" in text and "Summit talks go on" in text
    assert v.page.locator("table.forecasts tbody").inner_text().split() == \
        ["forecaster", "1", "80%", "2026-02-20", "09:30", "forecaster", "2", "65%", "2026-02-20", "10:30"]
    assert v.page.evaluate("() => document.querySelector('img.chart').naturalWidth > 0")
    assert "Sign in first" in v.goto_refused(f"{base}/claims/1", 401)
    assert "Summit talks go on" not in v.page.content()


@pytest.mark.parametrize("width", [375, 1440])
def test_pages_read_well_at_phone_and_desktop_widths(width: int, visit: Any, store: Store, base: str) -> None:
    v = visit(width)
    v.sign_in(store, base, ANALYST, "ann")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, path in (("claims", "/claims?status=all"), ("claim", "/claims/1"), ("accuracy", "/accuracy")):
        v.page.goto(f"{base}{path}")
        v.page.wait_for_load_state("load")
        # Nothing wider than the screen but the tables, which scroll inside their own box.
        assert v.page.evaluate("() => document.documentElement.scrollWidth") <= width, f"{path} at {width} px"
        v.page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
        assert (ARTIFACTS / f"{name}-{width}.png").stat().st_size > 0
