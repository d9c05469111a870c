"""Fixtures: the shared real datasets, split into sites (skipped when ../shared/data is absent)."""

from __future__ import annotations

import pandas as pd
import pytest
from harness import SHARED_DATA, split


@pytest.fixture(scope="session")
def cnsim() -> list[pd.DataFrame]:
    folder = SHARED_DATA / "datashield-cnsim"
    if not folder.is_dir():
        pytest.skip(f"shared data folder {folder} is absent (CNSIM tests need ../shared/data)")
    frames = []
    for i in (1, 2, 3):
        frame = pd.read_csv(folder / f"CNSIM{i}.csv", index_col=0)
        frame.columns = [c.strip() for c in frame.columns]
        frames.append(frame.reset_index(drop=True))
    return frames


@pytest.fixture(scope="session")
def survival_sites() -> list[pd.DataFrame]:
    """DataSHIELD SURVIVAL, one row per subject (last period): time, event and covariates."""
    folder = SHARED_DATA / "datashield-survival"
    if not folder.is_dir():
        pytest.skip(f"shared data folder {folder} is absent (survival tests need ../shared/data)")
    frames = []
    for i in (1, 2, 3):
        raw = pd.read_csv(folder / f"expand_no_missing_study{i}.csv", index_col=0)
        last = raw.sort_values(["id", "time_id" if "time_id" in raw else "time.id"])
        last = last.groupby("id").tail(1)
        frame = pd.DataFrame(
            {
                "time": last["endtime"].astype(float),
                "event": last["cens"].astype(int),
                "age": last["age.60"].astype(float),
                "female": last["female"].astype(int),
                "bmi": last["bmi.26"].astype(float),
            }
        )
        frames.append(frame.reset_index(drop=True))
    return frames


@pytest.fixture(scope="session")
def rossi_sites() -> list[pd.DataFrame]:
    from lifelines.datasets import load_rossi

    rossi = load_rossi().astype(float)
    return split(rossi, [150, 120, 162])
