"""The web pages in a real browser (Debian's Chromium driven by Playwright): sign in as the
researcher, search the catalog, open the dataset, fit a GLM from the project page and watch the
task page refresh itself until the coefficient table and its chart appear; the keyboard reaches
the skip link first.

A screenshot of each page is saved to ``tests/browser/artifacts/`` (git-ignored): CI keeps them
as artifacts for a person to look at; no assertion reads them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import causeway
from causeway.synthetic import hospitals

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TASK_TIMEOUT_MS = 120_000  # a safety net for a hung task, not a timing claim

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
)


@pytest.fixture(scope="module")
def fed() -> Iterator[causeway.LocalFederation]:
    with causeway.LocalFederation(hospitals(), dataset="cohort", categorical=["sex"]) as federation:
        yield federation


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_researcher_finds_a_dataset_and_fits_a_glm_in_the_browser(
    fed: causeway.LocalFederation, page: Any
) -> None:
    expect = sync_api.expect
    page.goto(f"{fed.url}/ui/login")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    shot(page, "login")
    page.get_by_label("User name").fill("researcher")
    page.get_by_label("API token").fill(fed.researcher_token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Catalog", level=1)).to_be_visible()

    page.get_by_label("Search datasets").fill("cohort")
    page.get_by_label("Search datasets").press("Enter")
    expect(page).to_have_url(re.compile(r"/ui/datasets\?q=cohort"))
    shot(page, "catalog")
    page.get_by_role("link", name="cohort", exact=True).first.click()
    expect(page.get_by_role("heading", name="Data dictionary")).to_be_visible()
    expect(page.locator("#dictionary th[scope=row]", has_text="bmi")).to_be_visible()
    shot(page, "dataset")

    page.goto(f"{fed.url}/ui/projects/{fed.project}")
    page.locator("#glm-formula").fill("died ~ age + C(sex) + bmi")
    page.locator("#glm-family").select_option("binomial")
    shot(page, "project")
    page.get_by_role("button", name="Run generalised linear model").click()
    expect(page).to_have_url(re.compile(r"/ui/tasks/[0-9a-f-]+$"))
    table = page.locator("table", has=page.locator("caption", has_text="Coefficients"))
    table.wait_for(timeout=TASK_TIMEOUT_MS)  # the page refreshes itself until the task is done
    fitted = fed.client.glm("cohort", "died ~ age + C(sex) + bmi", family="binomial")
    shown = table.locator("tr", has=page.locator("th", has_text="bmi")).locator("td").first
    assert float(shown.inner_text()) == pytest.approx(fitted.coef["bmi"], rel=1e-5)
    chart = page.locator("svg[role=img] > title")
    expect(chart).to_contain_text("Coefficients of died ~ age + C(sex) + bmi")
    shot(page, "task")
