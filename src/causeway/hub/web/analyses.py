"""The analyses a project page offers, one form each. A form names its fields and builds the
algorithm's own typed parameters from them (defaults stay the parameter dataclass's); the task is
then queued exactly as the API queues it. To offer another analysis, add an
:class:`AnalysisForm` to :data:`ANALYSES`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from causeway.algorithms.count import CountParams
from causeway.algorithms.crosstab import CrosstabParams
from causeway.algorithms.family import Family
from causeway.algorithms.glm_spec import GLMParams
from causeway.algorithms.km import KMParams
from causeway.algorithms.registry import get_algorithm
from causeway.algorithms.summary import SummaryParams
from causeway.algorithms.table_one import TableOneParams
from causeway.hub.web.session import Form
from causeway.model.errors import InvalidRequest
from causeway.model.task import TaskSpec
from causeway.query import as_wire


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    required: bool = True
    choices: tuple[str, ...] = ()  # a select of these; otherwise text
    hint: str = ""
    columns: bool = False  # suggest the dataset's column names


@dataclass(frozen=True)
class AnalysisForm:
    algorithm: str
    title: str
    fields: tuple[Field, ...]
    build: Callable[[Form], object]  # the algorithm's typed parameters from the posted form


def _required(form: Form, name: str) -> str:
    value = form.text(name)
    if not value:
        raise InvalidRequest(f"fill in {name}")
    return value


def _names(form: Form, name: str) -> tuple[str, ...]:
    """A comma-separated list of column names (empty entries dropped)."""
    return tuple(part.strip() for part in form.text(name).split(",") if part.strip())


def _column(name: str, label: str, *, required: bool = True, hint: str = "") -> Field:
    return Field(name, label, required=required, hint=hint, columns=True)


ANALYSES: dict[str, AnalysisForm] = {
    form.algorithm: form
    for form in (
        AnalysisForm("count", "Count", (), lambda f: CountParams()),
        AnalysisForm(
            "summary",
            "Summary of a column",
            (_column("column", "Column"),),
            lambda f: SummaryParams(_required(f, "column")),
        ),
        AnalysisForm(
            "table_one",
            "Table 1",
            (
                Field("columns", "Columns", hint="comma-separated, for example: age, sex, bmi"),
                _column("by", "Group by", required=False, hint="a categorical or boolean column"),
                Field(
                    "nonnormal",
                    "Median [IQR] for",
                    required=False,
                    hint="numeric columns among the above, comma-separated",
                ),
            ),
            lambda f: TableOneParams(
                _names(f, "columns"), f.optional("by"), _names(f, "nonnormal")
            ),
        ),
        AnalysisForm(
            "crosstab",
            "Cross-tabulation",
            (_column("row", "Rows"), _column("col", "Columns")),
            lambda f: CrosstabParams(_required(f, "row"), _required(f, "col")),
        ),
        AnalysisForm(
            "glm",
            "Generalised linear model",
            (
                Field("formula", "Formula", hint="for example: died ~ age + C(sex)"),
                Field("family", "Family", choices=tuple(f.value for f in Family)),
            ),
            lambda f: GLMParams(_required(f, "formula"), Family.parse(f.text("family"))),
        ),
        AnalysisForm(
            "km",
            "Kaplan–Meier survival",
            (
                _column("duration", "Time column"),
                _column("event", "Event column", hint="1 = event, 0 = censored"),
                _column("by", "Group by", required=False, hint="optional"),
            ),
            lambda f: KMParams(_required(f, "duration"), _required(f, "event"), f.optional("by")),
        ),
    )
}


def task_spec(project: str, form: Form) -> TaskSpec:
    """The task a posted analysis form asks for (its filter typed as text)."""
    analysis = ANALYSES.get(form.text("algorithm"))
    if analysis is None:
        raise InvalidRequest(f"unknown analysis {form.text('algorithm')!r}")
    algorithm = get_algorithm(analysis.algorithm)
    params: Any = analysis.build(form)
    where = form.text("where")
    return TaskSpec(
        algorithm=analysis.algorithm,
        dataset=_required(form, "dataset"),
        project=project,
        where=as_wire(where) if where else None,
        params=algorithm.encode_params(params),
    )
