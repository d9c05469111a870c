"""The hub's web pages on a real federation, driven as a browser without JavaScript would: forms
posted, redirects followed, pages parsed. The role rules are the API's (the services decide);
these tests check that the pages keep them, CSRF included."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from html.parser import HTMLParser

import httpx
import pandas as pd
import pytest

import causeway
from causeway.client.admin import AdminClient
from causeway.hub import accounts
from causeway.hub.limits import SignInThrottle
from causeway.model.errors import OutputHeld
from causeway.query import col
from causeway.synthetic import hospitals

FRAMES = hospitals()
TASK_DEADLINE = 120.0  # a safety net for a hung task, not a timing claim


class Cells(HTMLParser):
    """The text of every table row, by the row's header cell."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row:
            self.rows[self._row[0]] = self._row[1:]
            self._row = None


def table_rows(html: str) -> dict[str, list[str]]:
    parser = Cells()
    parser.feed(html)
    return parser.rows


def fact(html: str, label: str) -> str:
    found = re.search(rf"<dt>{re.escape(label)}</dt><dd[^>]*>(.*?)</dd>", html, flags=re.S)
    assert found, f"no {label!r} on the page"
    return found.group(1).strip()


class Browser:
    """One person's browser: a cookie jar, redirects followed, no JavaScript."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, follow_redirects=True, timeout=30)
        self.page = ""

    def get(self, path: str) -> httpx.Response:
        response = self.http.get(path)
        self.page = response.text
        return response

    def sign_in(self, name: str, token: str) -> httpx.Response:
        response = self.http.post("/ui/login", data={"name": name, "token": token})
        self.page = response.text
        return response

    def csrf(self) -> str:
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', self.page)
        assert found, "the page carries no CSRF field"
        return found.group(1)

    def post(self, path: str, data: dict[str, str], *, csrf: bool = True) -> httpx.Response:
        body = {**data, "csrf": self.csrf()} if csrf else data
        response = self.http.post(path, data=body)
        self.page = response.text
        return response

    def finished(self, response: httpx.Response) -> httpx.Response:
        """Follow a task page's self-refresh until the task finishes."""
        deadline = time.monotonic() + TASK_DEADLINE
        while 'http-equiv="refresh"' in response.text:
            assert time.monotonic() < deadline, "the task did not finish"
            time.sleep(0.3)
            response = self.get(str(response.url.path))
        return response

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="module")
def fed() -> Iterator[causeway.LocalFederation]:
    with causeway.LocalFederation(FRAMES, dataset="cohort", categorical=["sex"]) as federation:
        federation.hub.sign_ins = SignInThrottle(limit=1_000)  # bad sign-ins are tested on purpose
        yield federation


@pytest.fixture(scope="module")
def tokens(fed: causeway.LocalFederation) -> dict[str, str]:
    with AdminClient(fed.url, fed.admin_token) as admin:
        return {
            "auditor": admin.add_user("the_auditor", "auditor", None),
            "victim": admin.add_user("victim", "researcher", "north hospital"),
            "bystander": admin.add_user("bystander", "researcher", "north hospital"),
        }


def browser(fed: causeway.LocalFederation, name: str, token: str) -> Browser:
    person = Browser(fed.url)
    response = person.sign_in(name, token)
    assert response.status_code == 200 and response.url.path == "/ui/", response.text[:300]
    return person


def status_of(fed: causeway.LocalFederation, name: str) -> str:
    return fed.hub.run(lambda s: accounts.named(s, name).status)


def test_signing_in_with_a_good_token_opens_a_session_in_a_strict_cookie(
    fed: causeway.LocalFederation,
) -> None:
    person = Browser(fed.url)
    response = person.sign_in("researcher", fed.researcher_token)
    assert response.url.path == "/ui/" and "<h1>Catalog</h1>" in response.text
    cookie = response.history[0].headers["set-cookie"]
    assert cookie.startswith("causeway_session=cw_")
    assert {"HttpOnly", "Path=/ui", "SameSite=strict"} <= {p.strip() for p in cookie.split(";")}
    session = cookie.split(";")[0].split("=", 1)[1]
    assert session != fed.researcher_token  # a session token of its own, never the one typed
    assert all(session not in str(r.url) for r in [*response.history, response])
    person.close()


@pytest.mark.parametrize(
    ("name", "token", "says"),
    [
        ("researcher", "cw_not-a-token", "the token is not valid"),
        ("admin", None, "the user name and the token do not match"),
    ],
)
def test_signing_in_with_a_bad_token_or_someone_elses_is_refused(
    fed: causeway.LocalFederation, name: str, token: str | None, says: str
) -> None:
    person = Browser(fed.url)
    response = person.sign_in(name, token or fed.researcher_token)
    assert response.status_code == 401
    assert 'role="alert"' in response.text and says in response.text
    assert "causeway_session" not in person.http.cookies
    assert person.get("/ui/").status_code == 401  # no session: the sign-in page answers
    person.close()


def test_a_post_without_the_csrf_value_is_refused_and_changes_nothing(
    fed: causeway.LocalFederation, tokens: dict[str, str]
) -> None:
    admin = browser(fed, "admin", fed.admin_token)
    admin.get("/ui/admin")
    missing = admin.post("/ui/admin/users/bystander/suspend", {}, csrf=False)
    assert missing.status_code == 403 and "nothing was changed" in missing.text
    forged = admin.post("/ui/admin/users/bystander/suspend", {"csrf": "0" * 64}, csrf=False)
    assert forged.status_code == 403
    assert status_of(fed, "bystander") == "active"
    admin.close()


def run_analysis(person: Browser, project: str, fields: dict[str, str]) -> httpx.Response:
    person.get(f"/ui/projects/{project}")
    response = person.post(f"/ui/projects/{project}/tasks", fields)
    assert response.url.path.startswith("/ui/tasks/"), response.text[:500]
    return person.finished(response)


def test_a_researcher_counts_through_the_form_and_sees_the_clients_total(
    fed: causeway.LocalFederation,
) -> None:
    person = browser(fed, "researcher", fed.researcher_token)
    page = run_analysis(
        person, fed.project, {"algorithm": "count", "dataset": "cohort", "where": "age >= 60"}
    )
    assert fact(page.text, "Status") == "done"
    expected = fed.client.count("cohort", where=col("age") >= 60).total
    assert fact(page.text, "Total") == str(expected)
    person.close()


def test_a_researcher_fits_a_glm_through_the_form_with_the_clients_coefficients(
    fed: causeway.LocalFederation,
) -> None:
    person = browser(fed, "researcher", fed.researcher_token)
    formula = "died ~ age + C(sex) + bmi"
    page = run_analysis(
        person,
        fed.project,
        {"algorithm": "glm", "dataset": "cohort", "formula": formula, "family": "binomial"},
    )
    fitted = fed.client.glm("cohort", formula, family="binomial")
    rows = table_rows(page.text)
    for term, value in fitted.coef.items():
        assert float(rows[str(term)][0]) == pytest.approx(value, rel=1e-5)
    assert re.search(r"<svg[^>]*role=\"img\".*?<title[^>]*>Coefficients of", page.text, re.S)
    person.close()


def test_a_researcher_runs_table_one_from_the_project_page_and_sees_its_table(
    fed: causeway.LocalFederation,
) -> None:
    person = browser(fed, "researcher", fed.researcher_token)
    person.get(f"/ui/projects/{fed.project}")
    assert 'id="h-table_one">Table 1</h2>' in person.page
    page = run_analysis(
        person,
        fed.project,
        {
            "algorithm": "table_one",
            "dataset": "cohort",
            "columns": "age, sex, ldl",
            "by": "diabetes",
            "nonnormal": "ldl",
            "where": "age >= 40",
        },
    )
    assert fact(page.text, "Status") == "done"
    rows = table_rows(page.text)
    pooled = pd.concat(FRAMES.values(), ignore_index=True)
    chosen = pooled[pooled["age"] >= 40]
    expected = [str(int((chosen["diabetes"] == flag).sum())) for flag in (False, True)]
    assert rows["n"][:3] == [*expected, str(len(chosen))]
    client = fed.client.table_one(
        "cohort", ["age", "sex", "ldl"], by="diabetes", nonnormal=["ldl"], where=col("age") >= 40
    )
    table = client.table()
    assert rows["age, mean (SD)"] == table.loc["age, mean (SD)"].tolist()
    assert rows["ldl, median [IQR]"] == table.loc["ldl, median [IQR]"].tolist()
    assert rows["female, n (%)"] == table.loc["  female, n (%)"].tolist()
    assert "Welch t-test" in page.text
    person.close()


def test_a_mistake_in_an_analysis_form_is_shown_on_the_form_in_plain_words(
    fed: causeway.LocalFederation,
) -> None:
    person = browser(fed, "researcher", fed.researcher_token)
    person.get(f"/ui/projects/{fed.project}")
    fields = {"algorithm": "count", "dataset": "cohort", "where": "nosuchcolumn > 3"}
    response = person.post(f"/ui/projects/{fed.project}/tasks", fields)
    assert response.status_code == 422 and f"<h1>Project {fed.project}</h1>" in response.text
    assert re.search(r'role="alert">[^<]*nosuchcolumn', response.text)
    assert 'value="nosuchcolumn &gt; 3"' in response.text  # what was typed is kept, escaped
    person.close()


def test_the_catalog_search_shows_facets_and_says_when_nothing_matches(
    fed: causeway.LocalFederation,
) -> None:
    person = browser(fed, "researcher", fed.researcher_token)
    found = person.get("/ui/datasets?q=cohort")
    assert 'href="/ui/datasets/cohort"' in found.text
    assert re.search(r'href="/ui/datasets\?q=cohort&amp;hospital=north\+hospital"', found.text)
    empty = person.get("/ui/datasets?q=<script>nothing")
    assert "No dataset matches" in empty.text and "<script>nothing" not in empty.text
    person.close()


def test_an_auditor_reads_the_admin_pages_but_cannot_post_admin_actions(
    fed: causeway.LocalFederation, tokens: dict[str, str]
) -> None:
    auditor = browser(fed, "the_auditor", tokens["auditor"])
    page = auditor.get("/ui/admin")
    assert page.status_code == 200 and "bystander" in page.text
    assert "/suspend" not in page.text and 'action="/ui/admin/users"' not in page.text
    for path, data in [
        ("/ui/admin/users/bystander/suspend", {}),
        ("/ui/admin/users", {"name": "sneaky", "role": "admin"}),
    ]:
        auditor.get("/ui/admin")
        refused = auditor.post(path, data)  # a valid CSRF value: the role refuses it
        assert refused.status_code == 403, path
    assert status_of(fed, "bystander") == "active"
    assert "sneaky" not in {u.name for u in fed.hub.run(accounts.listed)}
    assert auditor.get("/ui/tasks").status_code == 200  # everyone's tasks, read-only
    assert "/cancel" not in auditor.page
    auditor.close()


def test_an_admin_suspends_a_user_and_their_session_stops_working(
    fed: causeway.LocalFederation, tokens: dict[str, str]
) -> None:
    victim = browser(fed, "victim", tokens["victim"])
    assert victim.get("/ui/").status_code == 200
    admin = browser(fed, "admin", fed.admin_token)
    admin.get("/ui/admin")
    done = admin.post("/ui/admin/users/victim/suspend", {})
    assert done.status_code == 200 and done.url.path == "/ui/admin"
    assert status_of(fed, "victim") == "suspended"
    refused = victim.get("/ui/")
    assert refused.status_code == 401 and "suspended" in refused.text
    admin.get("/ui/admin")
    admin.post("/ui/admin/users/victim/reinstate", {})
    assert status_of(fed, "victim") == "active"
    admin.close()
    victim.close()


def test_signing_out_revokes_the_session(fed: causeway.LocalFederation) -> None:
    person = browser(fed, "researcher", fed.researcher_token)
    session = person.http.cookies["causeway_session"]
    person.post("/ui/logout", {})
    stale = httpx.get(f"{fed.url}/ui/", cookies={"causeway_session": session})
    assert stale.status_code == 401 and "revoked" in stale.text
    person.close()


@pytest.fixture(scope="module")
def l3() -> Iterator[tuple[causeway.LocalFederation, dict[str, str]]]:
    with causeway.LocalFederation(FRAMES, dataset="cohort", level="L3") as federation:
        with AdminClient(federation.url, federation.admin_token) as admin:
            names = {
                "checker1": admin.add_user("checker1", "output_checker", None),
                "outsider": admin.add_user("outsider", "researcher", "another university"),
            }
        yield federation, names


def test_an_l3_dictionary_stays_hidden_on_the_dataset_page_for_a_non_member(
    l3: tuple[causeway.LocalFederation, dict[str, str]],
) -> None:
    federation, names = l3
    outsider = browser(federation, "outsider", names["outsider"])
    page = outsider.get("/ui/datasets/cohort")
    assert page.status_code == 200 and 'id="dictionary-hidden"' in page.text
    assert "hba1c" not in page.text and 'id="dictionary"' not in page.text
    member = browser(federation, "researcher", federation.researcher_token)
    assert "hba1c" in table_rows(member.get("/ui/datasets/cohort").text)
    outsider.close()
    member.close()


def test_an_output_checker_sees_a_held_output_and_decides_on_it(
    l3: tuple[causeway.LocalFederation, dict[str, str]],
) -> None:
    federation, names = l3
    with pytest.raises(OutputHeld) as held:
        federation.client.count("cohort", where=col("age") >= 50)
    task = held.value.task_id
    checker = browser(federation, "checker1", names["checker1"])
    page = checker.get("/ui/reviews")
    assert page.status_code == 200 and task in page.text
    decided = checker.post(f"/ui/reviews/{task}", {"decision": "release", "comment": ""})
    assert decided.url.path == "/ui/reviews" and task not in decided.text
    researcher = browser(federation, "researcher", federation.researcher_token)
    assert fact(researcher.get(f"/ui/tasks/{task}").text, "Status") == "held"  # one of two
    checker.close()
    researcher.close()


# -- applications ---------------------------------------------------------------------------------

APPLICATION_FORM = {
    "project": "web-applied",
    "title": "Readmissions by diagnosis",
    "purpose": "Count readmissions by diagnosis",
    "protocol": "Protocol W-1",
    "datasets": "cohort",
    "analyses": "count",
    "duration_days": "90",
}


def _multipart(person: Browser, fields: dict[str, str], csrf: bool = True) -> httpx.Response:
    """Post the application form as a browser does: multipart, with the ethics document."""
    data = {**fields, "csrf": person.csrf()} if csrf else fields
    files = {"ethics_document": ("approval.pdf", b"%PDF-1.4 approved", "application/pdf")}
    response = person.http.post("/ui/applications", data=data, files=files)
    person.page = response.text
    return response


def test_an_application_posted_from_the_page_keeps_its_document_and_shows_its_stages(
    fed: causeway.LocalFederation, tokens: dict[str, str]
) -> None:
    person = browser(fed, "victim", tokens["victim"])
    person.get("/ui/applications/new")
    wrong = _multipart(person, {**APPLICATION_FORM, "analyses": "regression"})
    assert wrong.status_code == 422 and "unknown analyses regression" in wrong.text
    assert 'value="Readmissions by diagnosis"' in wrong.text  # what was typed is kept
    assert re.search(r'id="dataset-cohort"[^>]*checked', wrong.text)
    page = _multipart(person, APPLICATION_FORM)
    assert page.status_code == 200 and re.search(r"/ui/applications/\d+$", page.url.path)
    assert '<span id="status">under review</span>' in page.text
    assert table_rows(page.text)["steward:north"][0] == "waiting"
    digest = re.search(r'href="/ui/documents/([0-9a-f]{64})"', page.text)
    assert digest is not None
    document = person.http.get(f"/ui/documents/{digest.group(1)}")
    assert document.content == b"%PDF-1.4 approved"
    with causeway.Client(fed.url, tokens["victim"]) as client:
        (found,) = [a for a in client.applications() if a.project == "web-applied"]
    assert found.ethics_document == digest.group(1) and found.analyses == ("count",)
    stranger = browser(fed, "the_auditor", tokens["auditor"])  # an auditor reads it, read only
    shown = stranger.get(f"/ui/applications/{found.id}")
    assert shown.status_code == 200 and "Withdraw" not in shown.text


def test_a_multipart_post_without_the_csrf_value_records_nothing(
    fed: causeway.LocalFederation, tokens: dict[str, str]
) -> None:
    person = browser(fed, "bystander", tokens["bystander"])
    person.get("/ui/applications/new")
    refused = _multipart(person, {**APPLICATION_FORM, "project": "forged-app"}, csrf=False)
    assert refused.status_code == 403
    with causeway.Client(fed.url, tokens["bystander"]) as client:
        assert "forged-app" not in {a.project for a in client.applications()}


def test_an_admin_suspends_a_project_from_its_application_page(
    fed: causeway.LocalFederation, tokens: dict[str, str]
) -> None:
    with causeway.Client(fed.url, tokens["victim"]) as client:
        application = client.apply(
            "web-suspended",
            title="t",
            purpose="p",
            protocol="q",
            datasets=["cohort"],
            analyses=["count"],
            duration_days=30,
        )
    admin = browser(fed, "admin", fed.admin_token)
    admin.get(f"/ui/applications/{application.id}")
    page = admin.post(
        f"/ui/projects/{application.project}/decisions",
        {"decision": "suspend", "comment": "paused by the data office"},
    )
    assert '<span id="status">suspended</span>' in page.text
    assert table_rows(page.text)["admin"][:3] == ["suspend", "admin", "paused by the data office"]


def test_a_results_page_shows_its_provenance_from_the_ledger(
    fed: causeway.LocalFederation,
) -> None:
    """The datasets, approvals, sites and rounds behind a result, and the ledger entries that
    record each step, whose result hash is the one the ledger holds."""
    person = browser(fed, "researcher", fed.researcher_token)
    person.get(f"/ui/projects/{fed.project}")
    page = person.finished(
        person.post(
            f"/ui/projects/{fed.project}/tasks", {"algorithm": "count", "dataset": "cohort"}
        )
    )
    task_id = page.url.path.rsplit("/", 1)[-1]
    assert "Provenance" in page.text
    assert re.search(
        r"<dt>Sites and rounds</dt><dd>east: round 0; north: round 0; south: round 0", page.text
    )
    assert "steward:north: approve (steward of north)" in page.text
    shown = re.search(r'<code id="result-sha256">([0-9a-f]{64})</code>', page.text)
    assert shown is not None
    with httpx.Client(
        base_url=fed.url, headers={"Authorization": f"Bearer {fed.admin_token}"}
    ) as admin:
        size = admin.get("/api/ledger/head").json()["size"]
        entries = [
            json.loads(e["entry"])
            for start in range(0, size, 1000)
            for e in admin.get("/api/ledger/entries", params={"start": start, "end": size}).json()
        ]
    finished = [
        e
        for e in entries
        if e.get("table") == "tasks" and e["key"]["id"] == task_id and "result" in e["data"]
    ]
    assert finished and finished[-1]["data"]["result"]["sha256"] == shown.group(1)
    rows = table_rows(page.text)
    assert {rows[str(e["index"])][0] for e in entries if task_id in json.dumps(e)} <= {
        r[0] for r in rows.values()
    }


def test_guessing_one_accounts_token_from_many_addresses_is_throttled() -> None:
    """Per address is not enough: an attacker spreads guesses over many addresses. The web
    sign-in names the account, so its failures count for the account too."""
    from causeway.hub.web.session import sign_in
    from causeway.model.errors import AuthenticationError, Throttled

    frames = {"north": FRAMES["north"]}
    with causeway.LocalFederation(frames, dataset="cohort", categorical=["sex"]) as fed:
        fed.hub.sign_ins = SignInThrottle(limit=5)
        for address in range(5):  # five addresses, one wrong guess each
            with pytest.raises(AuthenticationError):
                sign_in(fed.hub, f"10.0.0.{address}", "researcher", "cw_wrong")
        with pytest.raises(Throttled, match="for this account"):  # even the right token, now
            sign_in(fed.hub, "10.0.0.99", "researcher", fed.researcher_token)
        assert sign_in(fed.hub, "10.0.0.99", "admin", fed.admin_token)  # other accounts unharmed
