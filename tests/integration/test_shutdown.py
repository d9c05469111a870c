"""Clean shutdown (#18): ``causeway hub serve`` and ``causeway node serve`` stop at SIGTERM with a
long poll in flight, cleanly (exit status 0, no traceback), as separate processes.

The time they take is measured by ``benchmarks/bench_shutdown.py`` (the goal is 2 s); here the
only limit is a generous safety timeout."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

CAUSEWAY = [sys.executable, "-m", "causeway"]
SAFETY_SECONDS = 15.0
ENV = {**os.environ, "COLUMNS": "200"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_hub(directory: Path) -> tuple[subprocess.Popen[str], str, str]:
    """``causeway hub serve`` on a free port: the process, its URL and the admin's token."""
    port = _free_port()
    process = subprocess.Popen(
        [*CAUSEWAY, "hub", "serve", "--data-dir", str(directory), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
    )
    assert process.stdout is not None
    token = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if match := re.search(r"(cw_[A-Za-z0-9_\-]+)", line):
            token = match.group(1)
        if "Application startup complete" in line or "Uvicorn running" in line:
            break
    assert token, "the hub printed no admin token on first start"
    return process, f"http://127.0.0.1:{port}", token


def set_up_node(url: str, token: str, directory: Path) -> None:
    """Enrol a node and give it a dataset, through the CLI."""
    data = directory.parent / f"{directory.name}.csv"
    pd.DataFrame({"age": range(20, 80)}).to_csv(data, index=False)
    auth = {**ENV, "CAUSEWAY_HUB": url, "CAUSEWAY_TOKEN": token}
    for args in (
        ["node", "enrol", "--name", directory.name, "--org", "North Hospital"],
        ["node", "add-dataset", "cohort", str(data)],
    ):
        subprocess.run(
            [*CAUSEWAY, *args, "--data-dir", str(directory)],
            env=auth,
            check=True,
            capture_output=True,
            timeout=120,
        )


def start_node(directory: Path) -> subprocess.Popen[str]:
    """``causeway node serve``, returned once its long poll to the hub is in flight (it starts
    polling, with a 20 s wait, as soon as it has published its catalog and said so)."""
    process = subprocess.Popen(
        [*CAUSEWAY, "node", "serve", "--data-dir", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
    )
    assert process.stdout is not None
    for line in process.stdout:  # printed after it published its catalog
        if "serving" in line:
            break
    time.sleep(1.0)
    return process


def stop(process: subprocess.Popen[str]) -> tuple[float, int, str]:
    """SIGTERM: how long the process took to exit, its status and what it printed."""
    start = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        rest, _ = process.communicate(timeout=SAFETY_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        rest, _ = process.communicate()
        raise AssertionError(f"still running {SAFETY_SECONDS}s after SIGTERM:\n{rest}") from None
    return time.monotonic() - start, process.returncode, rest


def test_hub_and_node_stop_cleanly_at_sigterm_with_a_long_poll_in_flight(tmp_path: Path) -> None:
    hub, url, token = start_hub(tmp_path / "hub")
    running = [hub]
    try:
        for site in ("north", "south"):
            set_up_node(url, token, tmp_path / site)
        # a node, in its long poll to the hub
        north = start_node(tmp_path / "north")
        running.append(north)
        _took, code, said = stop(north)
        assert code == 0 and "Traceback" not in said, said
        assert "Stopping." in said
        # the hub, holding a node's long poll
        south = start_node(tmp_path / "south")
        running.append(south)
        _took, code, said = stop(hub)
        assert code == 0 and "Traceback" not in said, said
        assert "Finished server process" in said
        # and that node, its hub gone
        _took, code, said = stop(south)
        assert code == 0 and "Traceback" not in said, said
    finally:
        for process in running:
            if process.poll() is None:
                process.kill()
                process.wait()
