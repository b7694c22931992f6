"""End to end in a real browser: Debian's Chromium, driven by Playwright, against a live server.

Set B12MS_SCREENSHOT=path.png to save the top of the demo patient's report page (1280 px
wide), as in docs/report-page.png.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from b12ms.render import CONCLUSION_TEXT
from test_web_forms import app_with_router, live_server

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "ms-numbness-metformin.json"
CASE = ROOT / "tests" / "cases" / "ms_fingolimod_lhermitte_normal_b12.json"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's Chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """A live uvicorn server on 127.0.0.1 serving an app with the web router."""
    with live_server(app_with_router()) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, with networking extras off."""
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page 1280 px wide, in US English (date inputs read mm/dd/yyyy)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


def _check_b12_chart(page: Page) -> None:
    chart = page.locator('svg[aria-labelledby^="chart-total-t"]')
    expect(chart).to_have_count(1)
    text = chart.text_content() or ""
    for label in ("Low", "Indeterminate", "Normal", "133 pmol/L", "180 ng/L"):
        assert label in text


def test_fill_the_form_and_read_the_report(page: Page, base_url: str) -> None:
    """A clinician fills the form (age, symptoms, metformin, B12 150 ng/L) and gets the report."""
    page.goto(base_url + "/")
    expect(page.get_by_role("heading", name="Or describe the patient")).to_be_visible()
    page.get_by_label("Age in years").fill("60")
    page.get_by_label("Numbness").check()
    page.get_by_label("Tingling, pins and needles (paraesthesia)").check()
    page.get_by_label("metformin", exact=True).check()
    page.get_by_label("Total B12 (latest): result").fill("150")
    page.get_by_label("Total B12 (latest): unit").select_option("ng/L")
    page.get_by_label("Total B12 (latest): date").fill("2026-09-01")
    page.locator("#f-as_of").fill("2026-11-01")
    page.get_by_role("button", name="Assess", exact=True).click()

    expect(page.locator(".verdict .big")).to_have_text("B12 deficiency likely")
    expect(page.locator("#conclusion")).to_contain_text("150 ng/L")
    expect(page.locator("#conclusion")).to_contain_text("1 Sep 2026")
    _check_b12_chart(page)
    expect(page.locator("#f-risk\\.metformin")).to_contain_text("Metformin")
    expect(page.locator("#actions .urg-urgent").first).to_have_text("▲▲ URGENT")
    page.get_by_role("link", name="New assessment").click()
    expect(page.get_by_role("heading", name="Upload a record")).to_be_visible()


def test_bad_input_is_explained_next_to_the_field(page: Page, base_url: str) -> None:
    """A result without a date comes back with a message next to the date, values kept."""
    page.goto(base_url + "/")
    page.get_by_label("Age in years").fill("sixty")
    page.get_by_label("Total B12 (latest): result").fill("150")
    page.get_by_role("button", name="Assess", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("There is a problem")
    expect(page.locator("#err-age")).to_contain_text("whole number")
    expect(page.locator("#err-b12_date")).to_contain_text("give the date")
    expect(page.get_by_label("Total B12 (latest): result")).to_have_value("150")
    expect(page.locator("#f-age")).to_have_attribute("aria-invalid", "true")


def test_upload_a_record(page: Page, base_url: str) -> None:
    """Uploading a case bundle gives its report, with the research and contested labels."""
    expected = json.loads(CASE.with_suffix(".expected.json").read_text())
    page.goto(base_url + "/")
    page.locator("#upload-file").set_input_files(str(CASE))
    page.locator("#upload-as-of").fill(expected["as_of"])
    page.get_by_role("button", name="Assess the uploaded record").click()
    conclusion = CONCLUSION_TEXT[expected["expect"]["conclusion"]]
    expect(page.locator(".verdict .big")).to_have_text(conclusion)
    expect(page.locator("#why")).to_contain_text("Research only")
    expect(page.locator("#why")).to_contain_text("Contested evidence")
    _check_b12_chart(page)


def test_upload_the_demo_and_screenshot(page: Page, base_url: str, tmp_path: Path) -> None:
    """The demo patient's report renders in full; its screenshot is written when asked for."""
    page.goto(base_url + "/")
    page.locator("#upload-file").set_input_files(str(DEMO))
    page.locator("#upload-as-of").fill("2026-11-01")
    page.get_by_role("button", name="Assess the uploaded record").click()
    expect(page.locator(".verdict .big")).to_have_text("B12 deficiency likely")
    _check_b12_chart(page)
    expect(page.locator('svg[aria-labelledby^="chart-markers-t"]')).to_contain_text("Raised")
    wanted = os.environ.get("B12MS_SCREENSHOT")
    out = Path(wanted) if wanted else tmp_path / "report.png"
    page.set_viewport_size({"width": 1280, "height": 1480})  # conclusion, charts, first reasons
    page.screenshot(path=str(out))
    assert out.stat().st_size > 10_000


def test_keyboard_only(page: Page, base_url: str) -> None:
    """The form can be reached, filled and submitted with the keyboard alone."""
    page.goto(base_url + "/")

    def tab_to(element_id: str) -> None:
        for _ in range(300):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
                return
        raise AssertionError(f"Tab never reached #{element_id}")

    tab_to("f-age")
    page.keyboard.type("58")
    tab_to("f-symptom-symptom-numbness")
    page.keyboard.press("Space")
    tab_to("f-med_metformin-metformin")
    page.keyboard.press("Space")
    tab_to("f-b12_value")
    page.keyboard.type("150")
    tab_to("f-b12_date")
    page.keyboard.type("09012026")  # mm dd yyyy in en-US
    tab_to("f-b12_value")  # back to a text field (Tab wraps round the page)
    page.keyboard.press("Enter")  # implicit submission
    expect(page.locator(".verdict .big")).to_have_text("B12 deficiency likely")
    expect(page.locator("#conclusion")).to_contain_text("150 ng/L")
