"""De-identification of L0 (open) extracts: detectors, keyed pseudonyms, date shifting,
generalisation hierarchies, verified k-anonymity and l-diversity, re-identification risk.

Everything here is a function of a pandas frame (and the node's pseudonym key); nothing is written
but the key. :func:`deidentify` is the whole pipeline: it refuses (``DisclosureRefused``) an
extract whose check fails instead of returning a weaker one.

* Direct identifiers are dropped, or replaced by keyed pseudonyms: HMAC-SHA256 under the node's
  key (``<data-dir>/pseudonym_key``, 32 random bytes, mode 0600, created on first use), so the
  same patient has the same pseudonym in every extract of this node and no one without the key can
  compute it from an identifier.
* Dates are shifted per patient by a whole number of days in [-N, N] (never 0), the same for all
  of a patient's dates (intervals within a patient are kept). The shift is a second keyed HMAC of
  the patient's identifier, not a function of the published pseudonym: knowing the pseudonym does
  not give the shift.
* Quasi-identifiers are generalised step by step up their hierarchies (age to 5-, 10-, 20-year
  bands; dates to month, year; codes such as postcodes to shorter prefixes; anything to ``*``),
  greedily taking the step that leaves the fewest rows to suppress, until at most
  ``max_suppression`` of the rows are in classes smaller than k (or with fewer than l distinct
  sensitive values); those rows are then suppressed. The result is checked again, independently
  of the search (:func:`verify`), before it is returned.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from causeway.model.errors import DataError, DisclosureRefused

KEY_FILE = "pseudonym_key"
SUPPRESSED = "*"

# -- the node's pseudonym key ------------------------------------------------------------------


def load_pseudonym_key(data_dir: Path) -> bytes:
    """The node's pseudonym key, created (32 random bytes, mode 0600) on first use. A key file
    others may read is refused: anyone holding it can re-identify every pseudonym."""
    path = Path(data_dir) / KEY_FILE
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        fd = -1
    if fd < 0:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise DataError(f"{path} may be read by others (mode {mode:o}); run 'chmod 600 {path}'")
        key = path.read_bytes()
        if len(key) < 32:
            raise DataError(f"{path} holds no valid pseudonym key (fewer than 32 bytes)")
        return key
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key


# -- pseudonyms and date shifting ----------------------------------------------------------------

PSEUDONYM_HEX = 24  # 96 bits: no collision to expect among a hospital's patients


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def pseudonym(value: Any, key: bytes) -> str:
    """The keyed pseudonym of one identifier value."""
    mac = hmac.new(key, b"pseudonym\x00" + _text(value).encode(), hashlib.sha256)
    return mac.hexdigest()[:PSEUDONYM_HEX]


def _per_unique(series: pd.Series[Any], fn: Callable[[Any], Any]) -> pd.Series[Any]:
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    mapped = np.array([fn(u) for u in uniques] + [None], dtype=object)
    return pd.Series(mapped[codes], index=series.index, dtype=object)


def pseudonymise(series: pd.Series[Any], key: bytes) -> pd.Series[Any]:
    """Each value replaced by its keyed pseudonym (missing values stay missing)."""
    return _per_unique(series, lambda v: pseudonym(v, key))


def shift_days(value: Any, key: bytes, max_days: int) -> int:
    """The date shift of one patient: a keyed HMAC of the patient's identifier mapped to
    [-max_days, max_days] without 0."""
    if max_days < 1:
        raise DataError("the date shift must allow at least one day")
    mac = hmac.new(key, b"date-shift\x00" + _text(value).encode(), hashlib.sha256).digest()
    step = int.from_bytes(mac[:8], "big") % (2 * max_days)
    return step - max_days if step < max_days else step - max_days + 1


def shift_dates(
    frame: pd.DataFrame, columns: Sequence[str], patient: str, key: bytes, max_days: int
) -> pd.DataFrame:
    """The frame with each date column shifted by its row's patient's shift."""
    out = frame.copy()
    shifts = _per_unique(frame[patient], lambda v: shift_days(v, key, max_days))
    days = pd.to_timedelta(pd.to_numeric(shifts, errors="coerce"), unit="D")
    for name in columns:
        dates = pd.to_datetime(frame[name], errors="coerce")
        bad = frame[name].notna() & dates.isna()
        if bool(bad.any()):
            raise DataError(f"column {name!r} holds values that are not dates; cannot shift it")
        out[name] = (dates + days).dt.date
    return out


# -- detectors -----------------------------------------------------------------------------------

KINDS = ("name", "cn_id", "phone", "email", "mrn", "address", "birth_date")
# Kinds that are quasi-identifiers rather than direct identifiers: handled by generalising them.
QUASI_KINDS = frozenset({"address", "birth_date"})


@dataclass(frozen=True)
class Finding:
    """A column that looks like it holds identifiers of ``kind``; ``share`` is the share of its
    (sampled, non-missing) values that match (1.0 when the column's name alone says so)."""

    column: str
    kind: str
    share: float


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"^\d{17}[\dXx]$")


def cn_id_valid(text: str) -> bool:
    """An 18-character Chinese resident ID number whose ISO 7064 MOD 11-2 check digit holds (and
    whose birth date is a date)."""
    text = str(text).strip()
    if not _ID_RE.match(text):
        return False
    total = sum(int(d) * w for d, w in zip(text[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != text[17].upper():
        return False
    year, month, day = int(text[6:10]), int(text[10:12]), int(text[12:14])
    return 1800 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31


def cn_id_check_digit(first17: str) -> str:
    """The check digit of the first 17 digits of a Chinese resident ID number."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


_PHONE_RE = re.compile(
    r"^(?:(?:\+?86[- ]?)?1[3-9]\d{9}"  # Chinese mobile
    r"|(?:\+?1[ -]?)?\(\d{3}\) ?\d{3}-\d{4}"  # US (xxx) xxx-xxxx
    r"|(?:\+?1[ -]?)?\d{3}[-.]\d{3}[-.]\d{4})$"  # US xxx-xxx-xxxx
)
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$")
_CN_SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严"
    "覃武戴莫孔向汤欧上司诸葛"
)
_CN_NAME_RE = re.compile(r"^[\u4e00-\u9fff]{2,4}$")
_EN_NAME_RE = re.compile(r"^[A-Z][a-z'\-]+(?:,? [A-Z][a-z'\-]*\.?){1,3}$")
_ADDRESS_RE = re.compile(
    r"(\d+\s*(号|弄|室|栋|单元)|[\u4e00-\u9fff]+(路|街|道|巷|村)\d*)"
    r"|^\d+\s+\w[\w .'-]*\b(St|Street|Ave|Avenue|Rd|Road|Blvd|Boulevard|Ln|Lane|Dr|Drive|Ct|Court"
    r"|Way|Pl|Place)\b",
    re.IGNORECASE,
)
_NAME_COLUMN = re.compile(
    r"(^|_)(first|last|full|given|family|sur|patient|middle|maiden)?_?name$|姓名|名字", re.I
)
_MRN_COLUMN = re.compile(
    r"(^|_)(mrn|medical_?record(_?(no|number|id))?|patient_?(id|no|number)|record_?(no|number)"
    r"|hospital_?(id|no|number)|inpatient_?(id|no)|case_?(no|number))$|住院号|病历号|门诊号|病案号|就诊号",
    re.I,
)
_ADDRESS_COLUMN = re.compile(r"(^|_)(address|addr|street)(_?\d)?$|住址|地址", re.I)
_BIRTH_COLUMN = re.compile(
    r"(^|_)(dob|birth_?(date|day)?|date_?of_?birth|birthday)$|出生|生日", re.I
)
_ID_COLUMN = re.compile(r"(^|_)(id_?card|id_?number|ssn|身份证(号)?(码)?)$|身份证", re.I)
_PHONE_COLUMN = re.compile(
    r"(^|_)(phone|mobile|tel|telephone|cell)(_?(no|number))?$|电话|手机", re.I
)
_EMAIL_COLUMN = re.compile(r"(^|_)e?-?mail(_?address)?$|邮箱", re.I)

_NAME_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("name", _NAME_COLUMN),
    ("mrn", _MRN_COLUMN),
    ("address", _ADDRESS_COLUMN),
    ("birth_date", _BIRTH_COLUMN),
    ("cn_id", _ID_COLUMN),
    ("phone", _PHONE_COLUMN),
    ("email", _EMAIL_COLUMN),
)


def _looks_like_name(text: str) -> bool:
    if _CN_NAME_RE.match(text):
        return text[0] in _CN_SURNAMES
    return bool(_EN_NAME_RE.match(text))


_VALUE_RULES: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("cn_id", cn_id_valid),
    ("phone", lambda t: bool(_PHONE_RE.match(t))),
    ("email", lambda t: bool(_EMAIL_RE.match(t))),
    ("address", lambda t: bool(_ADDRESS_RE.search(t))),
    ("name", _looks_like_name),
)


def detect(
    frame: pd.DataFrame, *, sample: int = 2000, min_share: float = 0.5, seed: int = 0
) -> list[Finding]:
    """The columns of ``frame`` that look like they hold identifiers: by their name (names, MRNs
    such as ``mrn``/``patient_id``/``住院号``, addresses, dates of birth, ID numbers, phones,
    e-mails) or by their values (Chinese resident ID numbers with a valid check digit, Chinese
    mobile and US phone numbers, e-mails, addresses, personal names), a value kind reported when
    at least ``min_share`` of up to ``sample`` non-missing values match."""
    findings: list[Finding] = []
    for column in frame.columns:
        name = str(column)
        kinds: dict[str, float] = {}
        for kind, rule in _NAME_RULES:
            if rule.search(name):
                kinds[kind] = 1.0
        series = frame[column].dropna()
        if len(series) and not (
            pd.api.types.is_float_dtype(series) or pd.api.types.is_bool_dtype(series)
        ):
            if len(series) > sample:
                series = series.sample(sample, random_state=seed)
            texts = [_text(v) for v in series.tolist()]
            texts = [t for t in texts if t]
            if texts:
                for kind, test in _VALUE_RULES:
                    share = sum(1 for t in texts if test(t)) / len(texts)
                    # A personal name is claimed by values only in a varied text column.
                    if kind == "name" and len(set(texts)) < 0.5 * len(texts):
                        continue
                    if share >= min_share:
                        kinds[kind] = max(kinds.get(kind, 0.0), share)
        findings.extend(Finding(name, kind, round(share, 4)) for kind, share in kinds.items())
    return findings


# -- generalisation hierarchies --------------------------------------------------------------------


@dataclass(frozen=True)
class Hierarchy:
    """Generalisation steps of one quasi-identifier, from the exact value (step 0) to ``*``; each
    step maps the column (as stored) to its generalised text."""

    kind: str
    steps: tuple[tuple[str, Callable[[pd.Series[Any]], pd.Series[Any]]], ...]

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.steps]


def _as_text(series: pd.Series[Any]) -> pd.Series[Any]:
    return series.map(lambda v: None if pd.isna(v) else _text(v)).astype(object)


def _band(width: int) -> Callable[[pd.Series[Any]], pd.Series[Any]]:
    def band(series: pd.Series[Any]) -> pd.Series[Any]:
        values: Any = pd.to_numeric(series, errors="coerce")
        low: Any = (np.floor(values / width) * width).astype("Int64")
        text: Any = low.astype(str) + "-" + (low + width - 1).astype(str)
        out: pd.Series[Any] = text.where(values.notna(), None).astype(object)
        return out

    return band


def _star(series: pd.Series[Any]) -> pd.Series[Any]:
    return pd.Series(SUPPRESSED, index=series.index, dtype=object)


def age_hierarchy() -> Hierarchy:
    """Exact, 5-year bands, 10-year bands, 20-year bands, ``*``."""
    return Hierarchy(
        "age",
        (
            ("exact", _as_text),
            ("5-year", _band(5)),
            ("10-year", _band(10)),
            ("20-year", _band(20)),
            ("*", _star),
        ),
    )


def _date_format(fmt: str) -> Callable[[pd.Series[Any]], pd.Series[Any]]:
    def to(series: pd.Series[Any]) -> pd.Series[Any]:
        dates: Any = pd.to_datetime(series, errors="coerce")
        out: pd.Series[Any] = dates.dt.strftime(fmt).where(dates.notna(), None).astype(object)
        return out

    return to


def date_hierarchy() -> Hierarchy:
    """Day, month, year, ``*``."""
    return Hierarchy(
        "date",
        (
            ("day", _date_format("%Y-%m-%d")),
            ("month", _date_format("%Y-%m")),
            ("year", _date_format("%Y")),
            ("*", _star),
        ),
    )


def _prefix(keep: int) -> Callable[[pd.Series[Any]], pd.Series[Any]]:
    def to(series: pd.Series[Any]) -> pd.Series[Any]:
        text = _as_text(series)
        return text.map(lambda t: None if t is None else t[:keep] + SUPPRESSED).astype(object)

    return to


def prefix_hierarchy(length: int, *, shortest: int = 1) -> Hierarchy:
    """For codes (region, postcode): the code, then its prefixes one character shorter each
    step down to ``shortest`` characters (``1101*``), then ``*``."""
    steps: list[tuple[str, Callable[[pd.Series[Any]], pd.Series[Any]]]] = [("exact", _as_text)]
    for keep in range(length - 1, shortest - 1, -1):
        steps.append((f"prefix-{keep}", _prefix(keep)))
    steps.append(("*", _star))
    return Hierarchy("prefix", tuple(steps))


def category_hierarchy() -> Hierarchy:
    """The value, or ``*``."""
    return Hierarchy("category", (("exact", _as_text), ("*", _star)))


def default_hierarchy(series: pd.Series[Any]) -> Hierarchy:
    """Numbers: age bands; dates: day/month/year; codes of digits (postcodes, region codes):
    prefixes; anything else: the value or ``*``."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return age_hierarchy()
    if pd.api.types.is_datetime64_any_dtype(series):
        return date_hierarchy()
    values = series.dropna()
    if len(values) == 0:
        return category_hierarchy()
    head = values.iloc[: min(len(values), 1000)]
    if all(isinstance(v, (pd.Timestamp,)) or _is_date(v) for v in head):
        return date_hierarchy()
    texts = [_text(v) for v in head]
    if all(t.isdigit() or re.fullmatch(r"[A-Za-z0-9]+", t) for t in texts):
        lengths = {len(t) for t in texts}
        if len(lengths) == 1 and max(lengths) >= 3:
            return prefix_hierarchy(lengths.pop())
    return category_hierarchy()


def _is_date(value: Any) -> bool:
    import datetime as dt

    return isinstance(value, dt.date)


# -- k-anonymity and l-diversity ---------------------------------------------------------------------


@dataclass(frozen=True)
class Risk:
    """Re-identification risk of a released frame: prosecutor risk (the largest 1 / class size),
    the share of records in classes smaller than ``threshold``, and the number of classes."""

    prosecutor: float
    share_below: float
    threshold: int
    classes: int
    smallest_class: int

    def to_json(self) -> dict[str, Any]:
        return {
            "prosecutor_risk": self.prosecutor,
            "share_in_small_classes": self.share_below,
            "small_class_threshold": self.threshold,
            "classes": self.classes,
            "smallest_class": self.smallest_class,
        }


def risk(frame: pd.DataFrame, quasi: Sequence[str], threshold: int) -> Risk:
    if len(frame) == 0:
        return Risk(0.0, 0.0, threshold, 0, 0)
    sizes = frame.groupby(list(quasi), dropna=False, observed=True).size()
    below = int(sizes[sizes < threshold].sum())
    return Risk(
        prosecutor=float(1.0 / sizes.min()),
        share_below=below / len(frame),
        threshold=threshold,
        classes=len(sizes),
        smallest_class=int(sizes.min()),
    )


def verify(
    frame: pd.DataFrame,
    quasi: Sequence[str],
    k: int,
    *,
    l_diversity: int | None = None,
    sensitive: str | None = None,
) -> None:
    """Refuse (``DisclosureRefused``) unless every class of ``quasi`` holds at least ``k`` rows
    and (with ``l_diversity``) at least that many distinct values of ``sensitive``."""
    if len(frame) == 0:
        raise DisclosureRefused("the extract holds no row")
    groups = frame.groupby(list(quasi), dropna=False, observed=True)
    smallest = int(groups.size().min())
    if smallest < k:
        raise DisclosureRefused(f"the extract is not {k}-anonymous: a class holds {smallest} rows")
    if l_diversity is not None:
        if sensitive is None:
            raise DataError("l-diversity needs a sensitive column")
        fewest = int(groups[sensitive].nunique(dropna=False).min())
        if fewest < l_diversity:
            raise DisclosureRefused(
                f"the extract is not {l_diversity}-diverse in {sensitive!r}: a class holds "
                f"{fewest} distinct values"
            )


def _failing_rows(
    codes: list[np.ndarray[Any, Any]],
    cardinalities: list[int],
    k: int,
    l_diversity: int | None,
    sensitive: np.ndarray[Any, Any] | None,
) -> np.ndarray[Any, Any]:
    """A boolean mask of the rows in classes smaller than k (or less than l-diverse)."""
    key = np.zeros(len(codes[0]), dtype=np.int64)
    overflow = False
    for c, card in zip(codes, cardinalities, strict=True):
        if (
            not overflow
            and card > 0
            and key.max(initial=0) < (np.iinfo(np.int64).max // (card + 1))
        ):
            key = key * (card + 1) + c
        else:
            overflow = True
    if overflow:  # too many combinations for one integer: let NumPy find the distinct tuples
        _, key = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
        key = key.reshape(-1)
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    bad_class = counts < k
    if l_diversity is not None and sensitive is not None:
        pair = inverse.astype(np.int64) * (int(sensitive.max(initial=0)) + 2) + sensitive
        distinct_pairs = np.unique(pair)
        per_class = np.bincount(
            distinct_pairs // (int(sensitive.max(initial=0)) + 2), minlength=len(counts)
        )
        bad_class |= per_class < l_diversity
    mask: np.ndarray[Any, Any] = bad_class[inverse]
    return mask


@dataclass
class Report:
    """What :func:`deidentify` did, written beside an extract (no data value in it)."""

    quasi: list[str]
    k: int
    l_diversity: int | None
    sensitive: str | None
    rows_in: int
    rows_out: int
    rows_suppressed: int
    generalised: dict[str, str]
    dropped: list[str]
    pseudonymised: list[str]
    shifted: list[str]
    max_shift_days: int | None
    findings: list[Finding]
    risk: Risk
    steps: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "quasi_identifiers": self.quasi,
            "k": self.k,
            "l": self.l_diversity,
            "sensitive": self.sensitive,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "rows_suppressed": self.rows_suppressed,
            "generalised": self.generalised,
            "dropped": self.dropped,
            "pseudonymised": self.pseudonymised,
            "date_shifted": self.shifted,
            "max_shift_days": self.max_shift_days,
            "detected": [
                {"column": f.column, "kind": f.kind, "share": f.share} for f in self.findings
            ],
            "risk": self.risk.to_json(),
            "search": self.steps,
            "verified": True,
        }


def anonymise(
    frame: pd.DataFrame,
    quasi: Sequence[str],
    k: int,
    *,
    l_diversity: int | None = None,
    sensitive: str | None = None,
    hierarchies: Mapping[str, Hierarchy] | None = None,
    max_suppression: float = 0.05,
) -> tuple[pd.DataFrame, dict[str, str], int, list[dict[str, Any]]]:
    """Generalise ``quasi`` step by step (each step the one leaving the fewest rows to suppress)
    until at most ``max_suppression`` of the rows fail k (and l), then suppress those rows.
    Returns the frame, the step chosen for each quasi-identifier, the rows suppressed and the
    search's steps. Refused when every quasi-identifier at ``*`` still fails."""
    if k < 1:
        raise DataError("k must be at least 1")
    missing = [c for c in [*quasi, *([sensitive] if sensitive else [])] if c not in frame.columns]
    if missing:
        raise DataError(f"no such column: {', '.join(missing)}")
    if l_diversity is not None and sensitive is None:
        raise DataError("l-diversity needs a sensitive column (--sensitive)")
    chosen = {q: (hierarchies or {}).get(q) or default_hierarchy(frame[q]) for q in quasi}
    # Each quasi-identifier at each step, as integer codes (computed once, on demand).
    cache: dict[tuple[str, int], tuple[np.ndarray[Any, Any], int, pd.Series[Any]]] = {}

    def coded(q: str, step: int) -> tuple[np.ndarray[Any, Any], int, pd.Series[Any]]:
        if (q, step) not in cache:
            values = chosen[q].steps[step][1](frame[q])
            codes, uniques = pd.factorize(values, use_na_sentinel=False)
            cache[q, step] = (codes.astype(np.int64), len(uniques), values)
        return cache[q, step]

    sens_codes = None
    if sensitive is not None:
        sens_codes = pd.factorize(frame[sensitive], use_na_sentinel=False)[0].astype(np.int64)

    def failing(levels: Mapping[str, int]) -> np.ndarray[Any, Any]:
        parts = [coded(q, levels[q]) for q in quasi]
        return _failing_rows(
            [p[0] for p in parts], [p[1] for p in parts], k, l_diversity, sens_codes
        )

    n = len(frame)
    allowed = int(np.floor(max_suppression * n))
    levels = dict.fromkeys(quasi, 0)
    bad = failing(levels)
    steps: list[dict[str, Any]] = [{"levels": _names(chosen, levels), "failing": int(bad.sum())}]
    while int(bad.sum()) > allowed:
        best: tuple[int, int, str] | None = None
        best_bad = bad
        for q in quasi:
            if levels[q] + 1 >= len(chosen[q].steps):
                continue
            trial = {**levels, q: levels[q] + 1}
            trial_bad = failing(trial)
            # fewest rows to suppress; then the attribute with the most values left (least loss)
            score = (int(trial_bad.sum()), -coded(q, levels[q] + 1)[1], q)
            if best is None or score < best:
                best, best_bad = score, trial_bad
        if best is None:
            break
        levels[best[2]] += 1
        bad = best_bad
        steps.append({"levels": _names(chosen, levels), "failing": int(bad.sum())})
    suppressed = int(bad.sum())
    if suppressed >= n:
        raise DisclosureRefused(
            f"k = {k}"
            + (f", l = {l_diversity}" if l_diversity else "")
            + f" cannot be reached over {', '.join(quasi)} without suppressing every row"
        )
    out = frame.copy()
    for q in quasi:
        out[q] = coded(q, levels[q])[2]
    out = out.loc[~bad].reset_index(drop=True)
    return out, _names(chosen, levels), suppressed, steps


def _names(chosen: Mapping[str, Hierarchy], levels: Mapping[str, int]) -> dict[str, str]:
    return {q: chosen[q].steps[levels[q]][0] for q in levels}


def deidentify(
    frame: pd.DataFrame,
    *,
    quasi: Sequence[str],
    k: int,
    key: bytes,
    l_diversity: int | None = None,
    sensitive: str | None = None,
    drop: Iterable[str] = (),
    pseudonymise_columns: Iterable[str] = (),
    shift_date_columns: Iterable[str] = (),
    patient: str | None = None,
    max_shift_days: int = 30,
    hierarchies: Mapping[str, Hierarchy] | None = None,
    max_suppression: float = 0.05,
    findings: list[Finding] | None = None,
) -> tuple[pd.DataFrame, Report]:
    """The L0 extract of ``frame`` and its report, or ``DisclosureRefused``.

    Refused when a detector finds an identifier in a column the steward did not handle (drop,
    pseudonymise, shift; an address or a date of birth may instead be a generalised
    quasi-identifier), and when k (and l) cannot be reached. ``patient`` (default: the first
    pseudonymised column) is whose identifier the date shift is derived from."""
    drop, pseud, shifted = list(drop), list(pseudonymise_columns), list(shift_date_columns)
    quasi = list(quasi)
    named = [*drop, *pseud, *shifted, *quasi, *([sensitive] if sensitive else [])]
    if patient:
        named.append(patient)
    missing = sorted({c for c in named if c not in frame.columns})
    if missing:
        raise DataError(f"no such column: {', '.join(missing)}")
    both = set(drop) & (set(pseud) | set(shifted) | set(quasi))
    if both:
        raise DataError(f"a dropped column cannot also be kept: {', '.join(sorted(both))}")
    if sensitive and sensitive in set(drop) | set(pseud):
        raise DataError(f"the sensitive column {sensitive!r} is dropped or pseudonymised")
    found = detect(frame) if findings is None else findings
    handled = set(drop) | set(pseud) | set(shifted)
    unhandled = [
        f
        for f in found
        if f.column not in handled and not (f.kind in QUASI_KINDS and f.column in quasi)
    ]
    if unhandled:
        what = ", ".join(f"{f.column} ({f.kind}, {f.share:.0%})" for f in unhandled)
        raise DisclosureRefused(
            f"identifiers left in columns not handled: {what}; name each with --drop, "
            "--pseudonymise or --shift-dates (an address or date of birth may be a "
            "quasi-identifier)"
        )
    out = frame
    if shifted:
        who = patient or (pseud[0] if pseud else None)
        if who is None:
            raise DataError(
                "date shifting needs the patient's column (--patient or --pseudonymise)"
            )
        out = shift_dates(out, shifted, who, key, max_shift_days)
    out = out.drop(columns=drop)
    for name in pseud:
        out[name] = pseudonymise(out[name], key)
    out, generalised, suppressed, steps = anonymise(
        out,
        quasi,
        k,
        l_diversity=l_diversity,
        sensitive=sensitive,
        hierarchies=hierarchies,
        max_suppression=max_suppression,
    )
    verify(out, quasi, k, l_diversity=l_diversity, sensitive=sensitive)
    report = Report(
        quasi=quasi,
        k=k,
        l_diversity=l_diversity,
        sensitive=sensitive,
        rows_in=len(frame),
        rows_out=len(out),
        rows_suppressed=suppressed,
        generalised=generalised,
        dropped=drop,
        pseudonymised=pseud,
        shifted=shifted,
        max_shift_days=max_shift_days if shifted else None,
        findings=found,
        risk=risk(out, quasi, threshold=k),
        steps=steps,
    )
    return out, report
