"""The governance walk in a real browser (Debian's Chromium driven by Playwright): a researcher
applies for an L2 project with the ethics document; the ethics reviewer approves on the hub's
pages; every steward approves through their own node console; the researcher fits a GLM from the
project page and sees its coefficient table and chart; a steward revokes in the console, and the
researcher's next run is refused with the reason on the page.

A screenshot of each page is saved to ``tests/browser/artifacts/`` (git-ignored): CI keeps them as
artifacts for a person to look at; no assertion reads them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import causeway
from causeway.client.admin import AdminClient
from causeway.synthetic import hospitals

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
TASK_TIMEOUT_MS = 120_000  # a safety net for a hung task, not a timing claim
PROJECT = "bp-by-age"
FORMULA = "sbp ~ age + bmi"

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
)


@pytest.fixture(scope="module")
def fed() -> Iterator[causeway.LocalFederation]:
    with causeway.LocalFederation(
        hospitals(seed=4), dataset="cohort", level="L2", categorical=["sex"], consoles=True
    ) as federation:
        yield federation


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"governance-{name}.png"), full_page=True)


def sign_in(browser: Any, fed: causeway.LocalFederation, name: str, token: str) -> Any:
    """A page of a fresh browser context (its own cookies) signed in to the hub as ``name``."""
    page = browser.new_context().new_page()
    page.goto(f"{fed.url}/ui/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    sync_api.expect(page.get_by_role("heading", name="Catalog", level=1)).to_be_visible()
    return page


def console(browser: Any, fed: causeway.LocalFederation, site: str) -> Any:
    """A page signed in to ``site``'s steward console."""
    page = browser.new_context().new_page()
    page.goto(f"{fed.console_url(site)}/login")
    page.get_by_label("Password").fill(fed.console_password(site))
    page.get_by_role("button", name="Sign in").click()
    sync_api.expect(page.get_by_role("link", name=PROJECT)).to_be_visible()
    return page


def test_apply_review_approve_at_the_nodes_run_and_revoke(
    fed: causeway.LocalFederation, browser: Any, tmp_path: Path
) -> None:
    expect = sync_api.expect
    with AdminClient(fed.url, fed.admin_token) as admin:
        ada_token = admin.add_user("ada", "researcher", "north hospital")
        eve_token = admin.add_user("eve", "reviewer", "ethics board", committee="ethics")
    approval = tmp_path / "ethics-approval.pdf"
    approval.write_bytes(b"%PDF-1.4 the ethics board approves protocol 2026-117")

    # the researcher applies
    ada = sign_in(browser, fed, "ada", ada_token)
    ada.get_by_role("link", name="Applications").click()
    ada.get_by_role("link", name="Apply for a project").click()
    ada.get_by_label("Project name").fill(PROJECT)
    ada.get_by_label("Title").fill("Blood pressure by age")
    ada.get_by_label("Purpose").fill("Describe systolic blood pressure by age and BMI")
    ada.get_by_label("Protocol summary").fill("Protocol 2026-117: a linear model of sbp")
    ada.locator("#dataset-cohort").check()
    ada.locator("#analysis-glm").check()
    ada.locator("#analysis-count").check()
    ada.get_by_label("Ethics approval reference").fill("EB-2026-117")
    ada.locator("#ethics_document").set_input_files(str(approval))
    shot(ada, "apply")
    ada.get_by_role("button", name="Apply").click()
    expect(ada.locator("#status")).to_have_text("under review")
    expect(ada.get_by_role("row", name=re.compile(r"^ethics waiting"))).to_be_visible()
    shot(ada, "application-submitted")

    # the ethics reviewer approves on the hub's pages
    eve = sign_in(browser, fed, "eve", eve_token)
    eve.get_by_role("link", name="Applications").click()
    expect(
        eve.get_by_role("heading", name=re.compile("Waiting for your committee"))
    ).to_be_visible()
    eve.get_by_role("link", name=re.compile("Blood pressure by age")).first.click()
    shot(eve, "ethics-review")
    eve.get_by_label("Approve").check()
    eve.get_by_label("Comment").fill("consent covers secondary use")
    eve.get_by_role("button", name="Send decision").click()
    expect(eve.get_by_role("row", name=re.compile(r"^ethics approve eve"))).to_be_visible()

    # every steward approves through their own node console
    for site in sorted(fed.frames):
        steward = console(browser, fed, site)
        steward.get_by_role("link", name=PROJECT).click()
        expect(
            steward.get_by_text("Describe systolic blood pressure by age and BMI")
        ).to_be_visible()
        shot(steward, f"console-{site}")
        steward.get_by_role("button", name="Approve").click()
        expect(steward.get_by_text(re.compile("approved", re.IGNORECASE)).first).to_be_visible()
        approval_here = fed.stores[site].approvals.current(PROJECT, "cohort")
        assert approval_here is not None and approval_here.state.value == "approved"
        steward.context.close()
    ada.reload()
    expect(ada.locator("#status")).to_have_text("approved")
    shot(ada, "application-approved")

    # the researcher fits a GLM from the project page
    ada.get_by_role("link", name=f"Run analyses in {PROJECT}").click()
    ada.locator("#glm-formula").fill(FORMULA)
    shot(ada, "project")
    ada.get_by_role("button", name="Run generalised linear model").click()
    expect(ada).to_have_url(re.compile(r"/ui/tasks/[0-9a-f-]+$"))
    table = ada.locator("table", has=ada.locator("caption", has_text="Coefficients"))
    table.wait_for(timeout=TASK_TIMEOUT_MS)  # the page refreshes itself until the task is done
    for term in ("Intercept", "age", "bmi"):
        expect(table.locator("th[scope=row]", has_text=term)).to_be_visible()
    expect(ada.locator("svg[role=img] > title")).to_contain_text(f"Coefficients of {FORMULA}")
    shot(ada, "glm")

    # a steward revokes in the console; the next run is refused, with the reason on the page
    steward = console(browser, fed, "east")
    steward.get_by_role("link", name=PROJECT).click()
    steward.get_by_label("Why (required)", exact=False).last.fill("consent withdrawn")
    steward.get_by_role("button", name="Revoke").click()
    shot(steward, "console-revoked")
    ada.goto(f"{fed.url}/ui/projects/{PROJECT}")
    ada.locator("#glm-formula").fill(FORMULA)
    ada.get_by_role("button", name="Run generalised linear model").click()
    alert = ada.get_by_role("alert")
    expect(alert).to_contain_text("revoked")
    expect(alert).to_contain_text("consent withdrawn")
    shot(ada, "refused")
