"""Synthetic hospital cohorts for the demo, tutorials and benchmarks (no real patients).

Each hospital has its own case mix (age, deprivation of its catchment, share of diabetics), so
pooled and per-site answers differ the way they do between real centres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class CaseMix:
    name: str
    patients: int
    mean_age: float
    diabetes_rate: float
    smoker_rate: float


HOSPITALS = (
    CaseMix("north", 3200, 58.0, 0.14, 0.22),
    CaseMix("south", 4100, 64.0, 0.21, 0.17),
    CaseMix("east", 2600, 51.0, 0.09, 0.28),
)
DIAGNOSES = ("heart failure", "myocardial infarction", "pneumonia", "stroke", "copd")


def cohort(mix: CaseMix, seed: int) -> pd.DataFrame:
    """One hospital's cohort; the same seed gives the same rows."""
    rng = np.random.default_rng(seed)
    n = mix.patients
    age = np.clip(rng.normal(mix.mean_age, 14.0, n), 18, 100).round()
    sex = rng.choice(["female", "male"], n)
    diabetes = rng.random(n) < mix.diabetes_rate + 0.002 * (age - mix.mean_age)
    smoker = rng.random(n) < mix.smoker_rate
    bmi = np.clip(rng.normal(26.5 + 2.5 * diabetes, 4.5, n), 15, 60).round(1)
    sbp = np.clip(rng.normal(118 + 0.45 * age + 4 * diabetes, 15, n), 80, 240).round()
    hba1c = np.clip(rng.normal(36 + 22 * diabetes, 6, n), 20, 130).round(1)
    ldl = np.clip(rng.normal(3.1 - 0.3 * diabetes, 0.9, n), 0.5, 9.0).round(2)
    weights = np.array([0.25, 0.2, 0.25, 0.15, 0.15])
    diagnosis = rng.choice(DIAGNOSES, n, p=weights / weights.sum())
    risk = -5.2 + 0.045 * age + 0.5 * diabetes + 0.35 * smoker + 0.02 * (sbp - 130)
    readmitted = rng.random(n) < 1 / (1 + np.exp(-risk))
    hazard = np.exp(-10.0 + 0.04 * age + 0.4 * diabetes + 0.3 * smoker)
    time_to_death = rng.exponential(1 / hazard)
    follow_up = rng.uniform(30, 1825, n)
    died = time_to_death < follow_up
    frame = pd.DataFrame(
        {
            "age": age,
            "sex": sex,
            "bmi": bmi,
            "sbp": sbp,
            "hba1c": hba1c,
            "ldl": ldl,
            "smoker": smoker,
            "diabetes": diabetes,
            "diagnosis": diagnosis,
            "readmitted_30d": readmitted,
            "died": died,
            "follow_up_days": np.minimum(time_to_death, follow_up).round(),
        }
    )
    # Real records have gaps: some labs are missing.
    frame.loc[rng.random(n) < 0.06, "ldl"] = np.nan
    frame.loc[rng.random(n) < 0.03, "bmi"] = np.nan
    return frame


def hospitals(seed: int = 2026) -> dict[str, pd.DataFrame]:
    """Three synthetic hospitals with different case mixes."""
    return {mix.name: cohort(mix, seed + i) for i, mix in enumerate(HOSPITALS)}
