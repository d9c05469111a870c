"""The ``causeway`` command end to end: a hub and a node as separate processes, set up and queried
only through the CLI, exactly as an operator would."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

CAUSEWAY = [sys.executable, "-m", "causeway"]


def causeway(
    *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*CAUSEWAY, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    if check and result.returncode != 0:
        raise AssertionError(f"causeway {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    directory = tmp_path_factory.mktemp("hub")
    port = free_port()
    process = subprocess.Popen(
        [*CAUSEWAY, "hub", "serve", "--data-dir", str(directory), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert process.stdout is not None
    token = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if match := re.search(r"(cw_[A-Za-z0-9_\-]+)", line):
            token = match.group(1)
        if "Uvicorn running" in line or "Application startup complete" in line:
            break
    assert token, "the hub printed no admin token on first start"
    try:
        yield f"http://127.0.0.1:{port}", token
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_help_lists_every_command() -> None:
    out = causeway("--help").stdout
    for command in ("hub", "node", "user", "project", "run", "demo", "datasets", "describe"):
        assert command in out
    node_help = causeway("node", "--help").stdout
    for command in ("serve", "add-dataset", "enrol", "approve"):
        assert command in node_help


def test_operator_sets_up_a_node_and_a_researcher_counts(
    hub: tuple[str, str], tmp_path: Path
) -> None:
    url, admin = hub
    auth = {"CAUSEWAY_HUB": url, "CAUSEWAY_TOKEN": admin}
    node_dir = tmp_path / "node"
    data = tmp_path / "cohort.csv"
    pd.DataFrame({"age": range(20, 80), "sex": ["F", "M"] * 30}).to_csv(data, index=False)

    causeway(
        "node",
        "enrol",
        "--name",
        "north",
        "--org",
        "North Hospital",
        "--data-dir",
        str(node_dir),
        env=auth,
    )
    added = causeway(
        "node",
        "add-dataset",
        "cohort",
        str(data),
        "--data-dir",
        str(node_dir),
        "--title",
        "North cohort 2020-2024",
        "--keyword",
        "cardiology",
        "--keyword",
        "ageing",
        "--licence",
        "https://example.org/dua",
        "--contact",
        "Data office <data@north.example>",
        "--coverage-start",
        "2020-01-01",
        "--coverage-end",
        "2024-12-31",
    )
    assert "60 rows" in added.stdout
    created = causeway("user", "add", "ada", "--role", "researcher", env=auth).stdout
    researcher = re.search(r"(cw_[A-Za-z0-9_\-]+)", created)
    assert researcher is not None
    project = ["project", "add", "study", "--dataset", "cohort", "--member", "ada"]
    # a project over a dataset no site holds yet is refused (the node has not published it)
    early = causeway(*project, "--site", "north", env=auth, check=False)
    assert early.returncode == 2 and "no site of the project (north) holds 'cohort'" in early.stderr

    node = subprocess.Popen(
        [*CAUSEWAY, "node", "serve", "--data-dir", str(node_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        env = {"CAUSEWAY_HUB": url, "CAUSEWAY_TOKEN": researcher.group(1)}
        for _ in range(100):  # the node publishes its catalog once it has started
            listed = causeway("datasets", "--q", "cardiology", env=env).stdout
            if "cohort" in listed:
                break
            time.sleep(0.2)
        assert "North cohort 2020-2024" in listed and "North Hospital" in listed
        assert "by level: L1 (1)" in listed
        assert "No dataset matches" in causeway("datasets", "--level", "L3", env=env).stdout
        described = causeway("describe", "cohort", env=env).stdout
        for shown in ("cardiology, ageing", "2020-01-01 to 2024-12-31", "data@north.example"):
            assert shown in described
        assert re.search(r"age\s+│\s+integer", described)  # the columns table
        assert re.search(r"north\s+│\s+North Hospital\s+│\s+60\s+│\s+yes", described)
        causeway(*project, "--site", "north", env=auth)
        refused = causeway("run", "count", "cohort", env=env, check=False)
        assert "the steward of north has not approved project 'study'" in refused.stderr
        # the steward approves the project's terms while the node serves (no restart)
        listed = causeway("node", "projects", "--data-dir", str(node_dir)).stdout
        assert re.search(r"study\s+│\s+cohort\s+│\s+approved\s+│\s+\S+\s+│\s+-", listed)
        approved = causeway("node", "approve", "study", "--yes", "--data-dir", str(node_dir))
        assert "members:  ada" in approved.stdout and "Approved project study" in approved.stdout
        where = json.dumps({"op": ">=", "column": "age", "value": 50})
        counted = causeway("run", "count", "cohort", "--where", where, env=env)
        assert "count = 30 over 1 sites" in counted.stdout
        summary = causeway("run", "summary", "cohort", "age", env=env).stdout
        assert "n=60 mean=49.5" in summary
        # a filter people can type: the same IR as the JSON form, so the same count
        typed = causeway("run", "count", "cohort", "--where", "age >= 50", env=env).stdout
        assert "count = 30 over 1 sites" in typed
        typed = causeway(
            "run", "count", "cohort", "--where", "not (age < 50) and age is not null", env=env
        ).stdout
        assert "count = 30 over 1 sites" in typed
        wrong = causeway("run", "count", "cohort", "--where", "age >= and", env=env, check=False)
        assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
        assert "at character 8" in wrong.stderr and "^" in wrong.stderr
        # options come from the parameter dataclasses: a default applies, a bad value is named
        quantiles = causeway("run", "quantiles", "cohort", "age", "--bins", "64", env=env).stdout
        assert "quantiles of age" in quantiles
        bad = causeway("run", "quantiles", "cohort", "age", "--bins", "3", env=env, check=False)
        assert bad.returncode == 2 and "bins must be a power of two" in bad.stderr
    finally:
        node.terminate()
        node.wait(timeout=20)


def test_user_errors_print_a_message_and_exit_code_not_a_traceback(
    hub: tuple[str, str], tmp_path: Path
) -> None:
    url, admin = hub
    missing = causeway(
        "node",
        "add-dataset",
        "cohort",
        str(tmp_path / "nope.csv"),
        "--data-dir",
        str(tmp_path),
        check=False,
    )
    assert missing.returncode == 2
    assert "error E102" in missing.stderr and "no such file" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad_role = causeway(
        "user",
        "add",
        "bob",
        "--role",
        "king",
        env={"CAUSEWAY_HUB": url, "CAUSEWAY_TOKEN": admin},
        check=False,
    )
    assert bad_role.returncode == 2 and "unknown role 'king'" in bad_role.stderr
    bad_token = causeway(
        "run", "count", "cohort", env={"CAUSEWAY_HUB": url, "CAUSEWAY_TOKEN": "cw_x"}, check=False
    )
    assert bad_token.returncode == 5 and "Traceback" not in bad_token.stderr


def test_demo_once_runs_the_study_and_exits(tmp_path: Path) -> None:
    figure = tmp_path / "km.png"
    result = causeway("demo", "--once", "--km-plot", str(figure))
    assert "Filtered counts" in result.stdout
    assert "Table 1, by diabetes" in result.stdout
    assert re.search(r"log-rank: chi2 = [\d.]+, dof = 1", result.stdout)  # km by diabetes
    saved = re.search(r"Kaplan–Meier plot saved to (\S+)", result.stdout)
    assert saved and Path(saved.group(1)) == figure.resolve()
    assert figure.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert re.search(r"everyone\s+│\s+9900", result.stdout)
    for role in ("admin", "researcher", "steward", "reviewer", "output_checker", "auditor"):
        assert re.search(rf"^  {role}\s+\w+\s+\(.+\)\s+cw_\S+$", result.stdout, flags=re.M), role


def test_demo_serves_until_interrupted(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*CAUSEWAY, "demo", "--km-plot", str(tmp_path / "km.svg")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "press Ctrl-C to stop" in line:
            break
    shown = "".join(lines)
    try:  # the pages show the demo's hospitals, an approved project and a pending application
        url = re.search(r"Sign in at (http://127\.0\.0\.1:\d+)/ui/", shown)
        ada = re.search(r"researcher\s+ada\s+\(north hospital\)\s+(cw_\S+)", shown)
        assert url and ada, shown
        with httpx.Client(base_url=url.group(1), follow_redirects=True) as browser:
            browser.post("/ui/login", data={"name": "ada", "token": ada.group(1)})
            page = browser.get("/ui/applications").text
            assert re.search(r"readmissions-2026</td><td>L1</td>.*?<td>approved</td>", page, re.S)
            assert re.search(
                r"diabetes-outcomes</td>.*?<td>under review</td><td>steward:", page, re.S
            )
            catalog = browser.get("/ui/datasets/cohort").text
            assert all(f"{site} hospital" in catalog for site in ("north", "south", "east"))
    finally:
        process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0, shown + rest
    assert any("Diagnoses" in line for line in lines)
    assert "Stopping." in rest and "Traceback" not in rest
