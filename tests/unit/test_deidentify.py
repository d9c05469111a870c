"""De-identification of open (L0) extracts (issue #17, items 6 and 7), checked independently: the
k-anonymity and l-diversity of a written extract are recomputed here with pandas, and the written
file is searched for every original identifier value."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from causeway.cli import app
from causeway.model.errors import DataError, DisclosureRefused
from causeway.model.levels import Level
from causeway.node.config import STORE_FILE
from causeway.node.deidentify import (
    KEY_FILE,
    cn_id_check_digit,
    cn_id_valid,
    deidentify,
    detect,
    load_pseudonym_key,
    pseudonymise,
    risk,
    shift_dates,
)
from causeway.node.store import NodeStore

runner = CliRunner()
QUASI = ["age", "sex", "region", "admission_date"]
SURNAMES = "王李张刘陈杨黄赵吴周"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
FIRST = ["Alice", "Brian", "Carol", "David", "Emily", "Frank", "Grace", "Henry", "Irene", "James"]
LAST = ["Smith", "Jones", "Brown", "Taylor", "Wilson", "Davies", "Evans", "Thomas", "Walker"]


def cn_id(rng: np.random.Generator) -> str:
    region = f"{rng.integers(110000, 659000):06d}"
    born = pd.Timestamp("1930-01-01") + pd.Timedelta(days=int(rng.integers(0, 27000)))
    first17 = region + born.strftime("%Y%m%d") + f"{rng.integers(0, 1000):03d}"
    return first17 + cn_id_check_digit(first17)


def patients(n: int = 800, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = []
    for i in range(n):
        if i % 2:
            names.append(f"{FIRST[i % 10]} {LAST[(i // 10) % 9]}{'son' * (i // 90)}")
        else:
            names.append(SURNAMES[i % 10] + GIVEN[(i // 10) % 20] + GIVEN[(i // 200) % 20])
    phones = [
        f"1{rng.integers(3, 10)}{rng.integers(0, 10**9):09d}"
        if i % 2
        else f"({rng.integers(200, 999)}) {rng.integers(200, 999)}-{rng.integers(0, 10**4):04d}"
        for i in range(n)
    ]
    admitted = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    return pd.DataFrame(
        {
            "mrn": [f"ZY{2021000000 + i * 37}" for i in range(n)],
            "patient_name": names,
            "id_number": [cn_id(rng) for _ in range(n)],
            "phone": phones,
            "email": [f"patient{i}.x{rng.integers(0, 10**6)}@example-mail.cn" for i in range(n)],
            "home_address": [f"北京市朝阳区建国路{rng.integers(1, 999)}号{i}室" for i in range(n)],
            "dob": [
                (pd.Timestamp("1935-01-01") + pd.Timedelta(days=int(d))).strftime("%Y-%m-%d")
                for d in rng.integers(0, 25000, n)
            ],
            "age": rng.integers(18, 95, n),
            "sex": rng.choice(["F", "M"], n),
            "region": [f"1101{r:02d}" for r in rng.integers(1, 17, n)],
            "admission_date": admitted.strftime("%Y-%m-%d"),
            "diagnosis": rng.choice(["diabetes", "hypertension", "asthma", "copd", "ckd"], n),
            "ldl": np.round(rng.normal(3.0, 0.8, n), 2),
        }
    )


DIRECT = ["patient_name", "id_number", "phone", "email", "home_address", "dob"]


def independent_check(extract: pd.DataFrame, k: int, l_div: int, sensitive: str) -> None:
    groups = extract.groupby(QUASI, dropna=False)
    assert len(extract) > 0
    assert groups.size().min() >= k, groups.size().sort_values().head()
    assert groups[sensitive].nunique().min() >= l_div


def test_an_l0_extract_is_k_anonymous_l_diverse_and_keeps_no_identifier(tmp_path: Path) -> None:
    frame = patients()
    key = load_pseudonym_key(tmp_path)
    extract, report = deidentify(
        frame,
        quasi=QUASI,
        k=5,
        key=key,
        l_diversity=2,
        sensitive="diagnosis",
        drop=DIRECT,
        pseudonymise_columns=["mrn"],
        shift_date_columns=["admission_date"],
    )
    out = tmp_path / "extract.csv"
    extract.to_csv(out, index=False)
    written = pd.read_csv(out, dtype=str, keep_default_na=False)
    independent_check(written, 5, 2, "diagnosis")
    text = out.read_text() + json.dumps(report.to_json(), ensure_ascii=False)
    for column in [*DIRECT, "mrn"]:
        for value in frame[column]:
            assert str(value) not in text, (column, value)
    assert report.rows_out + report.rows_suppressed == len(frame)
    assert report.rows_suppressed <= 0.05 * len(frame)
    assert report.risk.prosecutor <= 1 / 5
    assert set(report.generalised) == set(QUASI)


def test_risk_is_the_largest_one_over_class_size_and_the_share_in_small_classes() -> None:
    frame = pd.DataFrame({"a": ["x"] * 6 + ["y"] * 3 + ["z"]})
    r = risk(frame, ["a"], threshold=5)
    assert r.prosecutor == 1.0
    assert r.share_below == pytest.approx(0.4)
    assert r.classes == 3


def test_date_shifting_keeps_intervals_within_a_patient_and_is_bounded() -> None:
    rng = np.random.default_rng(1)
    ids = np.repeat([f"P{i}" for i in range(200)], 3)
    dates = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 700, 600), unit="D")
    frame = pd.DataFrame({"pid": ids, "a": dates, "b": dates + pd.Timedelta(days=9)})
    shifted = shift_dates(frame, ["a", "b"], "pid", b"k" * 32, 30)
    moved = (pd.to_datetime(shifted["a"]) - frame["a"]).dt.days
    assert moved.abs().max() <= 30 and (moved != 0).all()
    assert (moved.groupby(frame["pid"]).nunique() == 1).all()  # one shift a patient
    assert moved.nunique() > 20  # and not the same for everyone
    assert ((pd.to_datetime(shifted["b"]) - pd.to_datetime(shifted["a"])).dt.days == 9).all()
    within = pd.to_datetime(shifted["a"]).groupby(frame["pid"]).agg(lambda s: s.max() - s.min())
    assert within.equals(frame["a"].groupby(frame["pid"]).agg(lambda s: s.max() - s.min()))


def test_pseudonyms_are_stable_for_a_key_and_differ_under_another() -> None:
    values = pd.Series(["ZY1", "ZY2", "ZY1", None])
    one, again = pseudonymise(values, b"a" * 32), pseudonymise(values, b"a" * 32)
    other = pseudonymise(values, b"b" * 32)
    assert one.tolist() == again.tolist()
    assert one[0] == one[2] != one[1] and one[3] is None
    assert one[0] != other[0] and one[1] != other[1]


def test_the_key_is_created_once_owner_only(tmp_path: Path) -> None:
    key = load_pseudonym_key(tmp_path)
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    assert load_pseudonym_key(tmp_path) == key and len(key) == 32


def test_the_detector_finds_each_kind_and_checks_the_id_check_digit() -> None:
    frame = patients(300)
    found = {(f.column, f.kind) for f in detect(frame)}
    for column, kind in [
        ("mrn", "mrn"),
        ("patient_name", "name"),
        ("id_number", "cn_id"),
        ("phone", "phone"),
        ("email", "email"),
        ("home_address", "address"),
        ("dob", "birth_date"),
    ]:
        assert (column, kind) in found, (column, kind, found)
    # by values alone, under neutral column names
    neutral = frame[DIRECT[:5]].set_axis([f"c{i}" for i in range(5)], axis=1)
    kinds = {(f.column, f.kind) for f in detect(neutral)}
    assert {("c0", "name"), ("c1", "cn_id"), ("c2", "phone"), ("c3", "email")} <= kinds
    assert ("c4", "address") in kinds
    assert not {f.column for f in detect(frame[["age", "sex", "region", "diagnosis", "ldl"]])}
    good = frame["id_number"].iloc[0]
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    assert cn_id_valid(good) and cn_id_valid("11010519491231002X")
    assert not cn_id_valid(wrong)
    bad_ids = pd.DataFrame(
        {"c": [v[:17] + ("0" if v[17] != "0" else "1") for v in frame["id_number"]]}
    )
    assert not [f for f in detect(bad_ids) if f.kind == "cn_id"]


def test_export_is_refused_when_k_cannot_be_reached(tmp_path: Path) -> None:
    frame = patients(4).drop(columns=[*DIRECT, "mrn"])
    with pytest.raises(DisclosureRefused, match="without suppressing every row"):
        deidentify(frame, quasi=QUASI, k=5, key=b"k" * 32)
    same = patients(50).drop(columns=[*DIRECT, "mrn"]).assign(diagnosis="asthma")
    with pytest.raises(DisclosureRefused, match="without suppressing every row"):
        deidentify(same, quasi=QUASI, k=5, key=b"k" * 32, l_diversity=2, sensitive="diagnosis")


def test_export_is_refused_when_an_identifier_column_is_unhandled(tmp_path: Path) -> None:
    frame = patients(100)
    with pytest.raises(DisclosureRefused, match=r"phone \(phone"):
        deidentify(
            frame,
            quasi=QUASI,
            k=5,
            key=b"k" * 32,
            drop=[c for c in DIRECT if c != "phone"],
            pseudonymise_columns=["mrn"],
        )
    hidden = frame.drop(columns=[*DIRECT, "mrn"]).assign(notes=frame["email"])
    with pytest.raises(DisclosureRefused, match=r"notes \(email"):
        deidentify(hidden, quasi=QUASI, k=5, key=b"k" * 32)


def _node(tmp_path: Path) -> Path:
    data_dir = tmp_path / "node"
    with NodeStore(data_dir / STORE_FILE) as store:
        store.add_dataset("cohort", patients())
    return data_dir


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_cli_export_open_writes_a_verified_extract_and_registers_it_as_l0(
    tmp_path: Path, suffix: str
) -> None:
    data_dir = _node(tmp_path)
    out = tmp_path / f"open{suffix}"
    args = ["node", "export-open", "--data-dir", str(data_dir), "--dataset", "cohort"]
    args += ["--quasi", ",".join(QUASI), "--k", "5", "--l", "2", "--sensitive", "diagnosis"]
    args += ["--drop", ",".join(DIRECT), "--pseudonymise", "mrn", "--shift-dates", "admission_date"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = (
        pd.read_csv(out, dtype=str, keep_default_na=False)
        if suffix == ".csv"
        else pd.read_parquet(out).astype(str)
    )
    independent_check(written, 5, 2, "diagnosis")
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert report["verified"] and report["k"] == 5 and report["registered_as"] == "cohort_open"
    raw = out.read_bytes() + out.with_suffix(".report.json").read_bytes()
    frame = patients()
    for column in [*DIRECT, "mrn"]:
        for value in frame[column]:
            assert str(value).encode() not in raw, (column, value)
    assert stat.S_IMODE((data_dir / KEY_FILE).stat().st_mode) == 0o600
    with NodeStore(data_dir / STORE_FILE) as store:
        info = store.dataset("cohort_open")
        assert info.level is Level.L0 and info.rows == len(written)
    from causeway.node import audit

    (recorded,) = [e for e in audit.events(data_dir) if e["event"] == "open_extract"]
    assert recorded["rows"] == len(written) and recorded["registered_as"] == "cohort_open"
    logged = json.dumps(recorded)
    assert all(str(v) not in logged for column in DIRECT for v in frame[column])
    assert audit.verify(data_dir).ok


def test_cli_export_open_refuses_an_unhandled_identifier_and_writes_nothing(
    tmp_path: Path,
) -> None:
    data_dir = _node(tmp_path)
    out = tmp_path / "open.csv"
    result = runner.invoke(
        app,
        [
            "node", "export-open", "--data-dir", str(data_dir), "--dataset", "cohort",
            "--quasi", ",".join(QUASI), "--k", "5", "--pseudonymise", "mrn",
            "--drop", ",".join(c for c in DIRECT if c != "email"), "--out", str(out),
        ],
    )  # fmt: skip
    assert isinstance(result.exception, DisclosureRefused), result.output
    assert "email (email" in str(result.exception)
    assert not out.exists() and not out.with_suffix(".report.json").exists()
    with NodeStore(data_dir / STORE_FILE) as store:
        assert [d.name for d in store.datasets()] == ["cohort"]


def test_a_key_file_others_may_read_is_refused(tmp_path: Path) -> None:
    load_pseudonym_key(tmp_path)
    (tmp_path / KEY_FILE).chmod(0o644)
    with pytest.raises(DataError, match="chmod 600"):
        load_pseudonym_key(tmp_path)


def test_quasi_identifiers_are_generalised_up_their_hierarchies_before_suppressing() -> None:
    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame(
        {
            "age": rng.integers(20, 90, n),
            "region": [f"31{r:04d}" for r in rng.integers(0, 400, n)],
            "admitted": (
                pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 700, n), "D")
            ),
        }
    )
    extract, report = deidentify(frame, quasi=["age", "region", "admitted"], k=5, key=b"k" * 32)
    assert report.generalised["age"] != "exact" or report.generalised["region"] != "exact"
    assert report.rows_suppressed <= 0.05 * n and len(report.steps) > 1
    assert extract.groupby(["age", "region", "admitted"]).size().min() >= 5
    assert all(set(v) <= set("0123456789-*") for v in extract["age"])
