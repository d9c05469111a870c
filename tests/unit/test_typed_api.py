"""One declaration per analysis: the parameter dataclass is the only place a parameter and its
default live; the client, the CLI and the wire all follow it."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import math
import typing
from pathlib import Path
from typing import Any

import pytest
import typer.main

import causeway
from causeway.algorithms import ALGORITHMS, Algorithm, Help, Released
from causeway.cli import app
from causeway.client.client import Client
from causeway.model import codec
from causeway.model.errors import InvalidRequest

SRC = Path(causeway.__file__).parent
ANALYSES = {
    "count": "count",
    "summary": "summary",
    "quantiles": "quantiles",
    "crosstab": "crosstab",
    "ttest": "ttest",
    "corr": "corr",
    "glm": "glm",
    "km": "km",
    "cox": "cox",
    "table_one": "table_one",
    "anova": "anova",
    "fisher": "fisher",
    "mannwhitney": "mannwhitney",
    "spearman": "spearman",
}
# the analysis' own arguments, which stay positional; every other option is keyword-only
OWN = {
    "count": ["dataset"],
    "summary": ["dataset", "column"],
    "quantiles": ["dataset", "column"],
    "crosstab": ["dataset", "row", "col"],
    "ttest": ["dataset", "column", "by"],
    "corr": ["dataset", "columns"],
    "glm": ["dataset", "formula"],
    "km": ["dataset", "duration", "event"],
    "cox": ["dataset", "formula", "duration", "event"],
    "table_one": ["dataset", "columns"],
    "anova": ["dataset", "column", "by"],
    "fisher": ["dataset", "row", "col"],
    "mannwhitney": ["dataset", "column", "by"],
    "spearman": ["dataset", "x", "y"],
}


def _fields(algorithm: Algorithm[Any, Any, Any]) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(algorithm.parameters)}


@pytest.mark.parametrize("method", list(ANALYSES))
def test_client_analysis_methods_are_fully_typed(method: str) -> None:
    function = getattr(Client, method)
    hints = typing.get_type_hints(function)
    signature = inspect.signature(function)
    names = [p for p in signature.parameters if p != "self"]
    positional = [
        p for p in names if signature.parameters[p].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    assert positional == OWN[method]
    assert all(
        signature.parameters[p].kind is inspect.Parameter.KEYWORD_ONLY
        for p in names
        if p not in positional
    )
    assert "where" in names and "project" in names
    returned = hints["return"]
    members = typing.get_args(returned) or (returned,)
    assert all(isinstance(m, type) and issubclass(m, Released) for m in members), returned
    for name, hint in hints.items():
        assert hint is not Any, f"{method}({name}) is Any"
    # no assert or type: ignore in the body
    source = inspect.getsource(function)
    assert "type: ignore" not in source
    assert not any(isinstance(n, ast.Assert) for n in ast.walk(ast.parse(source.strip())))


@pytest.mark.parametrize("method", list(ANALYSES))
def test_client_defaults_are_the_dataclass_defaults(method: str) -> None:
    algorithm = ALGORITHMS[ANALYSES[method]]
    fields = _fields(algorithm)
    signature = inspect.signature(getattr(Client, method))
    for name, parameter in signature.parameters.items():
        if name in fields:
            default = fields[name].default
            expected = inspect.Parameter.empty if default is dataclasses.MISSING else default
            assert parameter.default == expected, f"{method}({name})"
        if name in fields or name in (
            "self",
            "dataset",
            "where",
            "project",
            "per_site",
            "allow_missing_sites",
        ):
            continue
        raise AssertionError(f"{method}({name}) is not a field of {algorithm.parameters}")
    missing = set(fields) - set(signature.parameters)
    assert not missing, f"{method} cannot set {missing}"


def test_the_client_and_cli_hold_no_literal_default_of_a_parameter() -> None:
    """Grep-level: a default in client.py is None, False or a dataclass's own attribute."""
    tree = ast.parse((SRC / "client" / "client.py").read_text())
    client = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Client")
    for function in client.body:
        if not isinstance(function, ast.FunctionDef) or function.name not in ANALYSES:
            continue
        if any(ast.unparse(d) == "overload" for d in function.decorator_list):
            continue  # a typing stub: its defaults are ...
        for default in function.args.kw_defaults + function.args.defaults:
            if default is None or isinstance(default, ast.Attribute):
                continue
            assert isinstance(default, ast.Constant) and default.value in (None, False), (
                f"{function.name} holds the literal default {ast.unparse(default)}"
            )


def _run_commands() -> dict[str, Any]:
    group: Any = typer.main.get_command(app)
    return dict(group.commands["run"].commands)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_algorithm_has_a_cli_command_whose_options_are_its_fields(name: str) -> None:
    """The test that walks every algorithm: a field is an argument (required) or an option whose
    help states the dataclass's default; nothing else is declared for it."""
    algorithm = ALGORITHMS[name]
    command = _run_commands()[name.replace("_", "-")]
    params = {p.name: p for p in command.params}
    hints = typing.get_type_hints(algorithm.parameters, include_extras=True)
    for field_name, f in _fields(algorithm).items():
        param = params.pop(field_name)
        help_ = next(h for h in typing.get_args(hints[field_name]) if isinstance(h, Help))
        required = f.default is dataclasses.MISSING
        assert param.required is required, field_name
        is_option = param.param_type_name == "option"
        assert is_option is (help_.option or not required), field_name
        if is_option:
            assert help_.text in (param.help or "")
            assert param.opts == [f"--{help_.flag or field_name.replace('_', '-')}"]
            if not required and f.default is not None:
                shown = f.default.value if hasattr(f.default, "value") else f.default
                if isinstance(shown, tuple):
                    shown = " ".join(map(str, shown))
                assert f"(default: {shown})" in (param.help or "")
    common = {"dataset", "hub", "token", "where", "project", "as_json", "as_csv"}
    # how `run km` prints its curves (not parameters of the analysis)
    display = {"at", "full", "rmst"} if name == "km" else set()
    # where `--plot FILE` writes the result's figure
    display |= {"plot"} if name in {"km", "quantiles", "glm", "glm_meta", "cox"} else set()
    assert display <= set(params)
    assert set(params) - {"per_site", "allow_missing_sites"} - display == common
    assert ("allow_missing_sites" in params) is algorithm.allows_missing_sites


def test_run_commands_and_algorithms_match_one_to_one() -> None:
    names = {n for n in _run_commands() if n not in ("result", "cancel")}
    assert names == {n.replace("_", "-") for n in ALGORITHMS}


# -- the codec ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_parameters_round_trip_through_json_text(name: str) -> None:
    algorithm = ALGORITHMS[name]
    required = {
        "column": "age",
        "row": "sex",
        "col": "ward",
        "by": "sex",
        "columns": ("age", "bmi"),
        "formula": "died ~ age",
        "duration": "days",
        "event": "died",
        "x": "age",
        "y": "bmi",
    }
    fields = _fields(algorithm)
    params = algorithm.parameters(
        **{
            k: v
            for k, v in required.items()
            if k in fields and fields[k].default is dataclasses.MISSING
        }
    )
    wire = json.loads(json.dumps(algorithm.encode_params(params), allow_nan=False))
    assert wire["version"] == 1
    assert algorithm.parse(wire) == params
    # an absent version is today's
    assert algorithm.parse({k: v for k, v in wire.items() if k != "version"}) == params


@dataclasses.dataclass(frozen=True)
class _Inner:
    kind: typing.ClassVar[str] = "inner"
    value: float


@dataclasses.dataclass(frozen=True)
class _Other:
    kind: typing.ClassVar[str] = "other"
    names: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class _Outer:
    version: typing.ClassVar[int] = 2
    items: tuple[_Inner | _Other, ...]
    pair: tuple[int, str]
    maybe: float | None = None
    table: dict[str, int] = dataclasses.field(default_factory=dict)


def test_codec_round_trips_unions_non_finite_floats_and_versions() -> None:
    value = _Outer(
        (_Inner(math.inf), _Other(("a", "b")), _Inner(-math.inf)), (3, "x"), None, {"a": 1}
    )
    wire = json.loads(json.dumps(codec.dump(value), allow_nan=False))
    assert wire["items"][0] == {"kind": "inner", "value": "Infinity"}
    assert wire["version"] == 2
    assert codec.load(_Outer, wire) == value
    nan = codec.load(_Outer, {**wire, "maybe": "NaN"})
    assert math.isnan(nan.maybe)


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        ({"items": [], "pair": [1, "x"], "version": 3}, "newer than this Causeway"),
        ({"items": [], "pair": [1, "x"], "version": True}, "wire version True"),
        ({"items": [{"kind": "nope"}], "pair": [1, "x"]}, r"items\[0\]: kind must be one of"),
        ({"items": [{"kind": "inner", "value": "1"}], "pair": [1, "x"]}, "expected a number"),
        ({"items": [], "pair": [1]}, r"pair: expected 2 values, got 1"),
        ({"items": [], "pair": [True, "x"]}, r"pair\[0\]: expected a whole number"),
        ({"items": [], "pair": [1, "x"], "extra": 1}, "does not take extra"),
        ({"pair": [1, "x"]}, "items: is required"),
        ({"items": [], "pair": [1, "x"], "table": {"a": 1.5}}, r"table\.a: expected a whole"),
        ({"items": [], "pair": [1, "x"], "maybe": "Inf"}, "maybe: expected a number"),
        ([], "expected an object"),
    ],
)
def test_codec_names_the_field_of_every_mismatch(wire: Any, message: str) -> None:
    with pytest.raises(codec.WireError, match=message):
        codec.load(_Outer, wire)
    assert issubclass(codec.WireError, InvalidRequest)


def test_result_classes_are_exported_and_every_algorithm_result_is_one() -> None:
    exported = {getattr(causeway, n) for n in causeway.__all__}
    for algorithm in ALGORITHMS.values():
        members = typing.get_args(algorithm.result_type) or (algorithm.result_type,)
        for member in members:
            assert member in exported, member
            assert dataclasses.is_dataclass(member) and issubclass(member, Released)
            assert not hasattr(member, "to_json") and not hasattr(member, "from_json")


def test_the_algorithms_reference_page_is_generated_from_the_code() -> None:
    from causeway.algorithms.reference import render

    page = SRC.parents[1] / "docs" / "reference" / "algorithms.md"
    assert page.read_text() == render(), (
        "docs/reference/algorithms.md is stale: "
        "python -m causeway.algorithms.reference > docs/reference/algorithms.md"
    )
    for name in ALGORITHMS:
        assert f"## `{name}`" in page.read_text()


def test_pooled_and_per_site_glm_declare_honest_profiles_of_their_own() -> None:
    """The pooled fit releases no per-site estimate; the meta-analysis no design cross-product."""
    glm, meta = ALGORITHMS["glm"], ALGORITHMS["glm_meta"]
    assert not any(part.startswith("meta_") for part in glm.profile.parts)
    assert not {"xtx", "xtwx", "xtwz"} & set(meta.profile.parts)
    assert meta.estimates_per_site and not glm.estimates_per_site
    assert glm.parameters is meta.parameters  # the same model, asked the same way
    assert glm.result_type is causeway.GLMResult and meta.result_type is causeway.MetaResult
    with pytest.raises(InvalidRequest, match="does not take per_site"):
        glm.parse({"formula": "y ~ x", "per_site": True})
