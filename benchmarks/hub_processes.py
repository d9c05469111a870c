"""Shared by the scale benchmarks: hub replicas as real ``causeway hub serve`` processes, over one
fresh database (a SQLite file, or a PostgreSQL database created for the run and dropped after),
and what the operating system says each process holds (memory, file descriptors, CPU)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import TracebackType

import httpx
import sqlalchemy as sa

from causeway.hub.app import HubSettings, HubState

POSTGRES_ADMIN_URL = os.environ.get(
    "CAUSEWAY_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) in MB, open file descriptors and CPU seconds of a process."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[f"{key.lower()}_mb"] = int(value.split()[0]) // 1024
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Hubs:
    """``replicas`` hub processes sharing one database and one signing key (``postgres``: a
    PostgreSQL database created now and dropped on exit; else a SQLite file under ``root``)."""

    def __init__(self, root: Path, replicas: int = 1, *, postgres: bool = False) -> None:
        self.root = root / "hub"
        self.replicas = replicas
        self.postgres = postgres
        self.database_url: str | None = None
        self._database = ""
        self.processes: list[subprocess.Popen[bytes]] = []
        self.urls: list[str] = []
        self.admin_token = ""

    def __enter__(self) -> Hubs:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        if self.postgres:
            self._database = f"causeway_bench_{uuid.uuid4().hex[:12]}"
            admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{self._database}"'))
            admin.dispose()
            self.database_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + self._database
        # migrate and create the admin once, before any replica serves
        state = HubState(HubSettings.in_directory(self.root, self.database_url))
        self.admin_token = state.ensure_admin() or ""
        state.close()
        state.engine.dispose()
        env = dict(os.environ)
        if self.database_url:
            env["CAUSEWAY_DATABASE_URL"] = self.database_url
        for index in range(self.replicas):
            port = free_port()
            command = [sys.executable, "-m", "causeway", "hub", "serve"]
            command += ["--data-dir", str(self.root), "--port", str(port)]
            with (self.root / f"replica-{index}.log").open("wb") as log:
                self.processes.append(
                    subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
                )
            self.urls.append(f"http://127.0.0.1:{port}")
        for url, process in zip(self.urls, self.processes, strict=True):
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the hub replica at {url} did not start ({self.root})")
                time.sleep(0.1)

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes = []
        if self._database:
            admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self._database}" WITH (FORCE)'))
            admin.dispose()
            self._database = ""
