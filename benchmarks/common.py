"""Shared by the model benchmarks: the machine's description, relative differences, a process's
peak memory and the pooled NumPy IRLS baseline (over rows held in memory or read in chunks)."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
# what a pass of the baseline reads: (design with its intercept column, 0/1 response) chunks
Chunks = Callable[[], Iterable[tuple[FloatArray, FloatArray]]]


def machine(*versions: str) -> str:
    """The CPU, its cores and the versions that matter (``versions``: "name x.y" strings)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    parts = [f"Python {platform.python_version()}", f"numpy {np.__version__}", *versions]
    return f"{cpu}, {os.cpu_count()} cores; {', '.join(parts)}"


def max_rel(a: object, b: object) -> float:
    """The largest relative difference of ``a`` from ``b``, elementwise."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(x - y) / np.maximum(np.abs(y), 1e-300)))


def peak_rss_mb(pid: int | str = "self") -> float:
    """A process's peak resident memory (VmHWM) in MB; ru_maxrss would count a forking parent."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise OSError(f"no VmHWM for process {pid}")


def logistic_irls(
    chunks: Chunks, passes: int, block_rows: int | None = None
) -> tuple[FloatArray, float, int]:
    """Plain NumPy IRLS for the logistic model: ``passes`` passes over the rows ``chunks()``
    yields (the design with its intercept first, and the 0/1 response), the first from the
    rows' own starting means (as the federated fit's round 0), each computing eta, mu, the
    working weights, X'WX, X'Wz and the deviance, then solving. ``block_rows``: the arithmetic
    over blocks of that many rows of each chunk (temporaries within the processor's cache, as
    a node takes its sums), else over each chunk whole. Returns the coefficients, the last
    deviance and the passes."""
    beta: FloatArray | None = None
    deviance = math.inf
    for _ in range(passes):
        xtwx: FloatArray | float = 0.0
        xtwz: FloatArray | float = 0.0
        deviance = 0.0
        for chunk_x, chunk_y in chunks():
            step = block_rows or max(len(chunk_y), 1)
            for start in range(0, len(chunk_y), step):
                x, y = chunk_x[start : start + step], chunk_y[start : start + step]
                if beta is None:
                    mu = (y + 0.5) / 2.0
                    eta = np.log(mu / (1 - mu))
                else:
                    eta = x @ beta
                    mu = 1.0 / (1.0 + np.exp(-eta))
                w = mu * (1 - mu)
                deviance += float(-2 * np.sum(np.log(np.where(y == 1, mu, 1 - mu))))
                xtwx = xtwx + x.T @ (x * w[:, None])
                xtwz = xtwz + x.T @ (w * eta + (y - mu))
        beta = np.linalg.solve(xtwx, xtwz)
    assert beta is not None
    return beta, deviance, passes
