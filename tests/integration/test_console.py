"""The steward's console, driven over HTTP as a steward's browser would (no script involved).

One federation of three hospitals at L2, every node serving its console on loopback: sign-in,
the CSRF guard, the projects and their reviews, approving (bound to the terms shown), revoking,
the tasks that ran and what left, the budget spent. Consoles of their own (on a node's real store)
try the sign-in throttle and a hub out of reach without disturbing the others.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import os
import re
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session

import causeway
from causeway.client.admin import AdminClient
from causeway.hub.db import Project
from causeway.model.errors import PermissionDenied
from causeway.model.policy import NodePolicy
from causeway.node.approvals import APPROVALS_FILE, State
from causeway.node.config import NodeConfig, load_key
from causeway.node.console import ConsoleServer, create_console
from causeway.node.console.password import PASSWORD_FILE
from causeway.node.transport import HubConnection
from causeway.privacy.budget import Budget

rng = np.random.default_rng(15)
SITES = ("north", "south", "east")
FRAMES = {
    site: pd.DataFrame(
        {
            "age": rng.integers(20, 90, 150).astype(float),
            "sbp": rng.normal(130, 15, 150).round(1),
        }
    )
    for site in SITES
}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
EXPECTED = re.compile(r'name="expected" value="([0-9a-f]{64})"')


@pytest.fixture(scope="module")
def fed() -> Iterator[causeway.LocalFederation]:
    with causeway.LocalFederation(FRAMES, dataset="cohort", level="L2", consoles=True) as f:
        yield f


@pytest.fixture(scope="module")
def people(fed: causeway.LocalFederation, tmp_path_factory: pytest.TempPathFactory) -> dict:
    with AdminClient(fed.url, fed.admin_token) as admin:
        tokens = {
            "ada": admin.add_user("ada", "researcher", "north hospital"),
            "eve": admin.add_user("eve", "reviewer", "ethics board", committee="ethics"),
        }
    clients = {name: causeway.Client(fed.url, token) for name, token in tokens.items()}
    document = tmp_path_factory.mktemp("docs") / "ethics-approval.pdf"
    document.write_bytes(b"%PDF-1.4 approval of protocol 2026-215 by the ethics board\n")
    yield {"clients": clients, "document": clients["ada"].upload(document)}
    for client in clients.values():
        client.close()


_numbers = iter(range(1000))


def apply(people: dict, *, reviewed: bool = True) -> causeway.Application:
    """An application by ada at L2; with ``reviewed``, the ethics committee has approved it."""
    application = people["clients"]["ada"].apply(
        f"heart-{next(_numbers)}",
        title="Heart rate & <pressure> by age",
        purpose="Describe systolic blood pressure by age band across three hospitals",
        protocol="Protocol 2026-215, section 3: counts of patients by age band",
        datasets=["cohort"],
        analyses=["count"],
        duration_days=180,
        ethics_reference="EB-2026-215",
        ethics_document=people["document"].sha256,
    )
    if reviewed:
        people["clients"]["eve"].review_application(application.id, "approve", "sound protocol")
    return application


def browser(fed: causeway.LocalFederation, site: str) -> httpx.Client:
    return httpx.Client(base_url=fed.console_url(site), timeout=30.0)


@contextlib.contextmanager
def sign_in(fed: causeway.LocalFederation, site: str) -> Iterator[httpx.Client]:
    with browser(fed, site) as steward:
        page = steward.get("/login")
        token = CSRF.search(page.text)
        assert token is not None
        out = steward.post(
            "/login", data={"csrf": token.group(1), "password": fed.console_password(site)}
        )
        assert out.status_code == 303 and out.headers["location"] == "/", out.text
        yield steward


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found is not None, page.text
    return found.group(1)


def text(page: httpx.Response) -> str:
    """The page's text, tags and entities gone, spaces collapsed (what a reader reads)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())


def alert(page: httpx.Response) -> str:
    found = re.search(r'role="alert">(.*?)</div>', page.text, flags=re.DOTALL)
    assert found is not None, page.text
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def approvals_bytes(fed: causeway.LocalFederation, site: str) -> bytes:
    path = Path(fed.stores[site].approvals.path)
    files = [path, path.with_name(APPROVALS_FILE + "-wal")]
    return b"".join(f.read_bytes() for f in files if f.exists())


# -- signing in ------------------------------------------------------------------------------------


def test_without_a_session_every_page_redirects_to_sign_in(fed: causeway.LocalFederation) -> None:
    with browser(fed, "north") as anonymous:
        for path in ("/", f"/projects/{fed.project}", "/tasks", "/budgets"):
            got = anonymous.get(path)
            assert got.status_code == 303 and got.headers["location"] == "/login", path
        before = approvals_bytes(fed, "north")
        posted = anonymous.post(f"/projects/{fed.project}/revoke", data={"comment": "x"})
        assert posted.status_code == 303 and posted.headers["location"] == "/login"
        assert approvals_bytes(fed, "north") == before
        login = anonymous.get("/login")
        assert login.status_code == 200 and '<label for="password">' in login.text
        assert "<main" in login.text and 'href="#main"' in login.text
        assert "<script" not in login.text
        assert "default-src 'none'" in login.headers["content-security-policy"]


def test_a_wrong_password_is_refused_and_a_right_one_opens_a_session(
    fed: causeway.LocalFederation,
) -> None:
    with browser(fed, "south") as steward:
        token = csrf_of(steward.get("/login"))
        wrong = steward.post("/login", data={"csrf": token, "password": "not the password"})
        assert wrong.status_code == 401 and alert(wrong) == "Wrong password."
        assert "causeway_console" not in wrong.cookies
        assert steward.get("/").status_code == 303
        # a sign-in form from no page of this console (no token) is refused outright
        forged = steward.post("/login", data={"password": fed.console_password("south")})
        assert forged.status_code == 403
        right = steward.post(
            "/login", data={"csrf": token, "password": fed.console_password("south")}
        )
        assert right.status_code == 303
        cookie = right.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert steward.get("/").status_code == 200
        signed_out = steward.post("/logout", data={"csrf": csrf_of(steward.get("/"))})
        assert signed_out.status_code == 303 and signed_out.headers["location"] == "/login"
        assert steward.get("/").status_code == 303


def own_console(fed: causeway.LocalFederation, site: str, hub_url: str | None) -> ConsoleServer:
    """Another console on ``site``'s real store and audit log (its own sessions and throttle);
    ``hub_url`` is where it looks for the hub."""
    agent = fed.agents[site]
    assert agent.audit is not None
    directory = agent.audit.directory
    connection = (
        None if hub_url is None else HubConnection(hub_url, site, load_key(directory), timeout=5)
    )
    app = create_console(agent.config, connection, fed.stores[site], directory, NodePolicy())
    return ConsoleServer(app).start()


def test_sign_in_is_refused_for_a_while_after_five_failures(
    fed: causeway.LocalFederation,
) -> None:
    server = own_console(fed, "east", None)
    try:
        with httpx.Client(base_url=server.url) as guesser:
            token = csrf_of(guesser.get("/login"))
            for guess in range(5):
                wrong = guesser.post("/login", data={"csrf": token, "password": f"guess {guess}"})
                assert wrong.status_code == 401
            right = guesser.post(
                "/login", data={"csrf": token, "password": fed.console_password("east")}
            )
            assert right.status_code == 429
            assert alert(right).startswith("Too many failed sign-ins")
            assert guesser.get("/").status_code == 303  # no session was opened
    finally:
        server.stop()
    with sign_in(fed, "east") as steward:  # the node's own console is not locked
        assert steward.get("/").status_code == 200


def test_a_hub_out_of_reach_shows_the_decisions_kept_here(fed: causeway.LocalFederation) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{probe.getsockname()[1]}"
    server = own_console(fed, "north", nowhere)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as steward:
            token = csrf_of(steward.get("/login"))
            steward.post("/login", data={"csrf": token, "password": fed.console_password("north")})
            page = steward.get("/")
            assert page.status_code == 200
            assert "The hub cannot be reached now" in alert(page)
            assert fed.project in text(page)  # approved at start, kept here
            one = steward.get(f"/projects/{fed.project}")
            assert one.status_code == 200 and "cannot be shown" in alert(one)
            assert 'action="/projects/local-study/approve"' not in one.text
            assert 'action="/projects/local-study/revoke"' in one.text
    finally:
        server.stop()


# -- projects --------------------------------------------------------------------------------------


def test_the_projects_page_and_a_projects_terms_and_reviews(
    fed: causeway.LocalFederation, people: dict
) -> None:
    application = apply(people)
    with sign_in(fed, "north") as steward:
        listing = steward.get("/")
        assert listing.status_code == 200
        shown = text(listing)
        assert application.project in shown and fed.project in shown
        assert "Heart rate & <pressure> by age" in shown  # escaped in the markup ...
        assert "<pressure>" not in listing.text  # ... never markup itself
        assert "applied for by ada (north hospital), level L2" in shown
        assert "Waiting for: steward:east" in shown
        page = steward.get(f"/projects/{application.project}")
        assert page.status_code == 200
        shown = text(page)
        for fact in (
            "Describe systolic blood pressure by age band across three hospitals",
            "Protocol 2026-215, section 3",
            "EB-2026-215",
            "Members ada",
            "Datasets cohort",
            "Sites east, north, south",
            "Analyses count",
            "ethics approve eve sound protocol",
            "steward:north waiting",
            "cohort not decided here",
        ):
            assert fact in shown, fact
        assert EXPECTED.search(page.text).group(1) == application.digest  # type: ignore[union-attr]
        assert 'action="/projects/' + application.project + '/reject"' in page.text
        assert '<th scope="row">' in page.text and "<main" in page.text
        assert steward.get("/projects/no-such-project").status_code == 404


def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(
    fed: causeway.LocalFederation, people: dict
) -> None:
    application = apply(people)
    with sign_in(fed, "south") as steward:
        page = steward.get(f"/projects/{application.project}")
        digest = EXPECTED.search(page.text).group(1)  # type: ignore[union-attr]
        before = approvals_bytes(fed, "south")
        with sign_in(fed, "south") as other:  # another session's token
            elsewhere = csrf_of(other.get("/"))
        for token in ({}, {"csrf": "0" * 64}, {"csrf": elsewhere}):
            refused = steward.post(
                f"/projects/{application.project}/approve",
                data={"expected": digest, "comment": "", **token},
            )
            assert refused.status_code == 403 and "refused" in alert(refused)
        assert approvals_bytes(fed, "south") == before
        assert fed.stores["south"].approvals.current(application.project, "cohort") is None
        assert fed.stores["south"].approvals.history(application.project) == []
        stage = next(
            s
            for s in people["clients"]["ada"].application(application.id).stages
            if s.stage == "steward:south"
        )
        assert stage.decision is None


def test_approving_through_the_console_is_kept_here_and_told_to_the_hub(
    fed: causeway.LocalFederation, people: dict
) -> None:
    application = apply(people)
    with sign_in(fed, "north") as steward:
        page = steward.get(f"/projects/{application.project}")
        form = {
            "csrf": csrf_of(page),
            "expected": EXPECTED.search(page.text).group(1),  # type: ignore[union-attr]
            "comment": "fits our consent forms",
        }
        done = steward.post(f"/projects/{application.project}/approve", data=form)
        assert done.status_code == 303
        after = steward.get(done.headers["location"])
        assert "Approved" in text(after) and "cohort approved fits our consent forms" in text(after)
    kept = fed.stores["north"].approvals.current(application.project, "cohort")
    assert kept is not None and kept.state is State.APPROVED
    assert kept.digest == application.digest and kept.comment == "fits our consent forms"
    stage = next(
        s
        for s in people["clients"]["ada"].application(application.id).stages
        if s.stage == "steward:north"
    )
    assert stage.decision == "approve" and stage.comment == "fits our consent forms"


def test_a_project_changed_at_the_hub_while_the_steward_looked_is_not_approved(
    fed: causeway.LocalFederation, people: dict
) -> None:
    application = apply(people)
    fed.approve(application.project, ["north"])
    with sign_in(fed, "south") as steward:
        page = steward.get(f"/projects/{application.project}")
        form = {
            "csrf": csrf_of(page),
            "expected": EXPECTED.search(page.text).group(1),  # type: ignore[union-attr]
            "comment": "",
        }
        with Session(create_engine(fed.hub_database_url)) as session:  # the terms change
            session.execute(
                update(Project)
                .where(Project.name == application.project)
                .values(purpose="Something else entirely")
            )
            session.commit()
            assert session.scalar(select(Project).where(Project.name == application.project))
        refused = steward.post(f"/projects/{application.project}/approve", data=form)
        assert refused.status_code == 409
        assert "changed while you looked at it" in alert(refused)
        assert "Something else entirely" in text(refused)  # the page shows the new terms
        assert "Traceback" not in refused.text
    assert fed.stores["south"].approvals.current(application.project, "cohort") is None
    with sign_in(fed, "north") as north:  # what north approved is no longer what the hub says
        page = north.get(f"/projects/{application.project}")
        assert "cohort approved other terms" in text(page)


def test_revoking_through_the_console_stops_the_next_task(
    fed: causeway.LocalFederation, people: dict
) -> None:
    application = apply(people)
    fed.approve(application.project)
    ada = people["clients"]["ada"]
    assert ada.count("cohort", project=application.project).total > 0
    with sign_in(fed, "east") as steward:
        page = steward.get(f"/projects/{application.project}")
        token = csrf_of(page)
        silent = steward.post(
            f"/projects/{application.project}/revoke", data={"csrf": token, "comment": " "}
        )
        assert silent.status_code == 403 and "say why" in alert(silent)
        kept = fed.stores["east"].approvals.current(application.project, "cohort")
        assert kept is not None and kept.state is State.APPROVED
        done = steward.post(
            f"/projects/{application.project}/revoke",
            data={"csrf": token, "comment": "our data committee withdrew consent"},
        )
        assert done.status_code == 303
        history = text(steward.get(done.headers["location"]))
        assert "Revoked here" in history and "revoked our data committee withdrew" in history
    kept = fed.stores["east"].approvals.current(application.project, "cohort")
    assert kept is not None and kept.state is State.REVOKED
    with pytest.raises(PermissionDenied, match="revoked"):
        ada.count("cohort", project=application.project)


# -- what ran, what left, what it cost -------------------------------------------------------------


def test_the_tasks_page_lists_what_ran_and_the_budgets_page_what_it_cost(
    fed: causeway.LocalFederation,
) -> None:
    result = fed.client.count("cohort")
    assert result.total > 0
    task = str(fed.client.tasks(limit=1)["id"].iloc[0])
    with sign_in(fed, "north") as steward:
        tasks = steward.get("/tasks")
        assert tasks.status_code == 200
        rows = [
            " ".join(html.unescape(re.sub(r"<[^>]+>", " ", r)).split())
            for r in tasks.text.split("<tr>")
            if task in r
        ]
        # securely aggregated: the masked parts, then the seed that unmasks their sum
        masked = next(r for r in rows if "secure mask" in r)
        assert fed.project in masked and "cohort" in masked and "count" in masked
        assert "released masked" in masked and "epsilon" in masked
        assert "n (count, scalar)" in masked  # a part's name, kind and shape, no value
        assert any("secure unmask" in r and "self-mask seed" in r for r in rows)
        budgets = steward.get("/budgets")
        assert budgets.status_code == 200
    stored = fed.stores["north"].budget(fed.project, "cohort")
    assert stored is not None
    policy = fed.agents["north"].policy("cohort")
    assert policy.dp is not None
    spent = Budget(policy.dp.epsilon, policy.dp.delta, float(stored["rho_spent"])).epsilon_spent
    assert spent > 0
    row = next(r for r in budgets.text.split("<tr>") if f">{fed.project}</a>" in r)
    assert f"{spent:.4g}" in row and "L2" in row


# -- the credential and the command ----------------------------------------------------------------


def causeway_command(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "causeway", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_node_serve_refuses_a_console_on_every_interface_or_without_a_password(
    tmp_path: Path,
) -> None:
    NodeConfig("http://127.0.0.1:9", "north", "North Hospital", "unused").save(tmp_path)
    wide = causeway_command(
        "node", "serve", "--data-dir", str(tmp_path), "--console", "0.0.0.0:1234"
    )
    assert wide.returncode == 2
    said = " ".join(wide.stderr.split())
    assert "every interface" in said and "--console-any-interface" in said
    v6 = causeway_command("node", "serve", "--data-dir", str(tmp_path), "--console", "[::]:1234")
    assert v6.returncode == 2 and "every interface" in " ".join(v6.stderr.split())
    bare = causeway_command(
        "node", "serve", "--data-dir", str(tmp_path), "--console", "127.0.0.1:0"
    )
    assert bare.returncode == 2
    assert "causeway node console-password" in " ".join(bare.stderr.split())
    short = causeway_command(
        "node", "console-password", "--data-dir", str(tmp_path), "--password-stdin", stdin="short\n"
    )
    assert short.returncode == 2 and "at least 12" in short.stderr
    good = causeway_command(
        "node",
        "console-password",
        "--data-dir",
        str(tmp_path),
        "--password-stdin",
        stdin="a long enough secret\n",
    )
    assert good.returncode == 0, good.stderr
    path = tmp_path / PASSWORD_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"a long enough secret" not in path.read_bytes()
    assert hashlib.sha256(b"a long enough secret").hexdigest().encode() not in path.read_bytes()


def test_a_node_process_serves_its_console_beside_its_work() -> None:
    """``causeway node serve --console``, as production runs it (LocalFederation spawns it)."""
    frames = {site: FRAMES[site] for site in ("north", "south")}
    with causeway.LocalFederation(frames, processes=True, consoles=True) as separate:
        assert separate.client.count("cohort").total == sum(len(f) for f in frames.values())
        task = str(separate.client.tasks(limit=1)["id"].iloc[0])
        with sign_in(separate, "south") as steward:
            listing = text(steward.get("/"))
            assert separate.project in listing and "cohort approved" in listing
            tasks = steward.get("/tasks")
            assert task in tasks.text and "released" in text(tasks)
            budgets = text(steward.get("/budgets"))
            assert "no noise at L1" in budgets
        url = separate.console_url("south")
    with pytest.raises(httpx.TransportError):  # stopped with its node
        httpx.get(url + "/login", timeout=5)
