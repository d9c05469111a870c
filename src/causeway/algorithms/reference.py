"""The reference page of every analysis, written from the code: its parameters (from the
parameter dataclass), what leaves a node (from the disclosure profile) and its result's fields.

``python -m causeway.algorithms.reference > docs/reference/algorithms.md`` regenerates the page;
a test fails when the page and the code disagree.
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from typing import Any

from causeway.algorithms.base import Algorithm, Help
from causeway.algorithms.registry import ALGORITHMS
from causeway.model import codec

HEADER = """# Analyses

Every analysis Causeway runs, generated from the code (`python -m causeway.algorithms.reference`):
do not edit by hand. Each has one parameter dataclass, where its parameters and defaults live; the
Python client (`client.<name>(...)`), the CLI (`causeway run <name> ...`) and the wire form all
follow it. Options after an analysis' own arguments are keyword-only in Python and `--options` on
the command line; every analysis also takes `where` (a filter) and `project`. Those marked *may go
on without a silent site* also take `allow_missing_sites` (`--allow-missing-sites`): a site that
stays silent past the hub's `site_silence` is left out instead of failing the task, and the result
names it in `missing_sites`.

What leaves a node is the algorithm's disclosure profile: only the parts listed, each through the
node's release gate (minimum cell counts, dominance, leverage and residual checks, noise where the
dataset's level asks for it; see [privacy](../privacy.md)).
"""


def render() -> str:
    sections = [HEADER]
    for name in sorted(ALGORITHMS):
        sections.append(_section(ALGORITHMS[name]))
    return "\n".join(sections)


def _section(algorithm: Algorithm[Any, Any, Any]) -> str:
    lines = [f"## `{algorithm.name}`", "", algorithm.summary(), ""]
    lines += ["| parameter | type | default | meaning |", "|---|---|---|---|"]
    hints = typing.get_type_hints(algorithm.parameters, include_extras=True)
    for f in dataclasses.fields(algorithm.parameters):
        base, *extras = typing.get_args(hints[f.name])
        info = next((e for e in extras if isinstance(e, Help)), Help(""))
        default = "required" if f.default is dataclasses.MISSING else f"`{_value(f.default)}`"
        lines.append(f"| `{f.name}` | {_type(base)} | {default} | {info.text} |")
    if not dataclasses.fields(algorithm.parameters):
        lines.append("| (none) | | | |")
    notes = str(getattr(algorithm, "reference_notes", "")).strip()
    if notes:  # an algorithm's conventions, where its parameters' one-line help is not enough
        lines += ["", notes]
    profile = algorithm.profile
    lines += ["", f"**What leaves a node** ({_rounds(algorithm)}): {profile.description}.", ""]
    parts = ", ".join(f"`{part}` ({kind.value})" for part, kind in profile.parts.items())
    lines.append(f"- parts: {parts}")
    if profile.meta:
        lines.append(f"- declared meta: {', '.join(f'`{m}`' for m in sorted(profile.meta))}")
    if profile.guards:
        guards = ", ".join(f"`{p}` by `{g}`" for p, g in profile.guards.items())
        lines.append(f"- guarded (withheld when the guard is suppressed): {guards}")
    if algorithm.allows_missing_sites:
        lines.append(
            "- may go on without a silent site (`allow_missing_sites`); the result names it "
            "(`missing_sites`)"
        )
    if algorithm.estimates_per_site:
        lines.append(
            "- releases each site's own estimates: refused where a dataset's policy sets "
            "`per_site_estimates` to false"
        )
    result = algorithm.result_type
    members = typing.get_args(result) or (result,)
    for member in members:
        fields = ", ".join(f"`{f.name}`" for f, _ in codec.wire_fields(member))
        lines.append(f"- result: `causeway.{member.__name__}` ({fields}, `disclosure`)")
    return "\n".join(lines) + "\n"


def _rounds(algorithm: Algorithm[Any, Any, Any]) -> str:
    n = algorithm.max_rounds
    return "one round" if n == 1 else f"at most {n} rounds"


def _value(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return "none" if value is None else str(value)


def _type(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is tuple:
        return f"list of {_type(args[0])}"
    if origin is typing.Literal:
        return " or ".join(f"`{a}`" for a in args)
    if args and type(None) in args:
        return _type(next(a for a in args if a is not type(None))) + " (optional)"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return " or ".join(f"`{m.value}`" for m in tp)
    names = {str: "text", int: "whole number", float: "number", bool: "true/false"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


if __name__ == "__main__":
    print(render(), end="")
