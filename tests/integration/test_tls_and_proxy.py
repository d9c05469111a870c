"""The hub over HTTPS with a real certificate (from a CA made by ``trustme``), a node that checks
it against its CA bundle and reaches the hub through a real HTTP proxy process (``proxy.py``) on
loopback, as a hospital's network would have it; and a node without the CA refused with a message
that says what to do."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

trustme = pytest.importorskip("trustme", reason="trustme is not installed (pip install trustme)")

CAUSEWAY = [sys.executable, "-m", "causeway"]
STARTUP_SECONDS = 60.0  # a safety net for a process that never starts, not a timing claim


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(
    *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*CAUSEWAY, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{args}: {result.stdout}\n{result.stderr}")
    return result


def wait_for(what: str, ready: object, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not ready():  # type: ignore[operator]
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(
                f"{what} did not start: {process.stdout.read() if process.stdout else ''}"
            )
        time.sleep(0.1)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    paths = {"ca": root / "ca.pem", "cert": root / "hub.pem", "key": root / "hub.key"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    server.private_key_pem.write_to_path(str(paths["key"]))
    with paths["cert"].open("wb") as chain:
        for blob in server.cert_chain_pems:
            chain.write(blob.bytes())
    return paths


@pytest.fixture(scope="module")
def hub(
    pki: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    port = free_port()
    data = tmp_path_factory.mktemp("hub")
    process = subprocess.Popen(
        [*CAUSEWAY, "hub", "serve", "--data-dir", str(data), "--port", str(port),
         "--tls-cert", str(pki["cert"]), "--tls-key", str(pki["key"])],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    url = f"https://127.0.0.1:{port}"
    token = ""
    assert process.stdout is not None
    for line in process.stdout:
        found = re.search(r"(cw_[A-Za-z0-9_\-]+)", line)
        if found:
            token = found.group(1)
            break

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/healthz", verify=str(pki["ca"])).status_code == 200
        except httpx.TransportError:
            return False

    wait_for("the hub", ready, process)
    yield url, token
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def proxy() -> Iterator[tuple[str, Path]]:
    """A real forwarding proxy on loopback (CONNECT tunnels for HTTPS), logging what it carried."""
    port = free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"causeway-proxy-{port}.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", str(port),
             "--num-workers", "1", "--num-acceptors", "1", "--log-level", "INFO"],
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip

    def ready() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    wait_for("the proxy", ready, process)
    yield f"http://127.0.0.1:{port}", log
    process.terminate()
    process.wait(timeout=30)


def test_a_node_behind_a_proxy_checks_the_hubs_certificate_and_serves(
    hub: tuple[str, str], pki: dict[str, Path], proxy: tuple[str, Path], tmp_path: Path
) -> None:
    url, admin_token = hub
    proxy_url, proxy_log = proxy
    trusted = {"CAUSEWAY_HUB": url, "CAUSEWAY_TOKEN": admin_token, "SSL_CERT_FILE": str(pki["ca"])}
    # without the CA, nothing is sent: the hub's certificate is not trusted, and the error says so
    refused = run(
        "user", "list", env={"CAUSEWAY_HUB": url, "CAUSEWAY_TOKEN": admin_token, "SSL_CERT_FILE": ""},
        check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "certificate this machine does not trust" in refused.stderr
    assert "--ca-bundle" in refused.stderr

    node_dir = tmp_path / "node"
    behind_proxy = {"HTTPS_PROXY": proxy_url, "NO_PROXY": "", "SSL_CERT_FILE": ""}
    run(
        "node", "enrol", "--name", "north", "--org", "North Hospital", "--data-dir", str(node_dir),
        "--ca-bundle", str(pki["ca"]),
        env={"CAUSEWAY_HUB": url, "CAUSEWAY_TOKEN": admin_token, **behind_proxy},
    )  # fmt: skip
    assert (node_dir / "hub_ca.pem").read_bytes() == pki["ca"].read_bytes()
    data = tmp_path / "cohort.csv"
    data.write_text("age\n" + "\n".join(str(20 + i % 60) for i in range(60)) + "\n")
    run("node", "add-dataset", "cohort", str(data), "--data-dir", str(node_dir))
    node = subprocess.Popen(
        [*CAUSEWAY, "node", "serve", "--data-dir", str(node_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **behind_proxy},
    )
    try:

        def published() -> bool:
            listed = run("datasets", env=trusted, check=False).stdout
            return "cohort" in listed

        wait_for("the node", published, node)
        created = run("user", "add", "ada", "--role", "researcher", env=trusted).stdout
        researcher = re.search(r"(cw_[A-Za-z0-9_\-]+)", created)
        assert researcher is not None
        run("project", "add", "study", "--dataset", "cohort", "--member", "ada", "--site", "north",
            env=trusted)  # fmt: skip
        run("node", "approve", "study", "--yes", "--data-dir", str(node_dir), env=behind_proxy)
        counted = run(
            "run", "count", "cohort", env={**trusted, "CAUSEWAY_TOKEN": researcher.group(1)}
        ).stdout
        assert "count = 60 over 1 sites" in counted
    finally:
        node.terminate()
        node.wait(timeout=30)
    carried = proxy_log.read_text()
    port = url.rsplit(":", 1)[1]
    assert re.search(rf"127\.0\.0\.1:{port}", carried), carried[-2000:]  # the tunnels it opened


def test_hub_serve_needs_both_tls_files(tmp_path: Path, pki: dict[str, Path]) -> None:
    alone = run(
        "hub", "serve", "--data-dir", str(tmp_path), "--tls-cert", str(pki["cert"]), check=False
    )
    assert alone.returncode == 2 and "TLS needs both --tls-cert and --tls-key" in alone.stderr
    missing = run(
        "hub", "serve", "--data-dir", str(tmp_path), "--tls-cert", str(tmp_path / "none.pem"),
        "--tls-key", str(pki["key"]), check=False,
    )  # fmt: skip
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_enrol_refuses_an_unreadable_ca_bundle(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    result = run(
        "node", "enrol", "--name", "x", "--org", "X", "--data-dir", str(tmp_path / "node"),
        "--ca-bundle", str(bogus), env={"CAUSEWAY_HUB": "https://127.0.0.1:1", "CAUSEWAY_TOKEN": "t"},
        check=False,
    )  # fmt: skip
    assert result.returncode == 2 and "cannot use the CA bundle" in result.stderr
