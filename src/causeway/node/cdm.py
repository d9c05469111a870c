"""The OMOP CDM v5.4 tables a node reads: columns, types, which are required, primary keys.

A compact transcription of the OHDSI CDM v5.4 specification for the clinical tables an analysis
frame draws on (person, observation_period, visit_occurrence, condition_occurrence, drug_exposure,
measurement, observation, procedure_occurrence, death), the derived eras (condition_era,
drug_era) and the vocabulary tables concept and concept_ancestor. Other CDM tables in a folder are
not read (the report names them).

``required`` is the specification's "required" (NOT NULL): such a column must be in the file's
header and must hold a value on every row. Optional columns may be absent from the header (they
are stored as NULL) so that a v5.3 export, whose few renamed columns are kept as text, still reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CdmType(StrEnum):
    INTEGER = "integer"
    FLOAT = "float"
    DATE = "date"
    DATETIME = "datetime"
    VARCHAR = "varchar"

    @property
    def sql(self) -> str:
        return _SQL[self]


_SQL = {
    CdmType.INTEGER: "BIGINT",
    CdmType.FLOAT: "DOUBLE",
    CdmType.DATE: "DATE",
    CdmType.DATETIME: "TIMESTAMP",
    CdmType.VARCHAR: "VARCHAR",
}


@dataclass(frozen=True)
class CdmColumn:
    name: str
    type: CdmType
    required: bool = False


@dataclass(frozen=True)
class CdmTable:
    name: str
    columns: tuple[CdmColumn, ...]
    primary_key: tuple[str, ...]
    person: bool = True  # has a person_id referring to person
    # A repeated primary key is refused (person: a frame has one row per person) or, elsewhere,
    # reported as a warning and kept (real exports repeat vocabulary rows and event ids).
    strict_key: bool = False

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> CdmColumn | None:
        return next((c for c in self.columns if c.name == name), None)


def _cols(text: str) -> tuple[CdmColumn, ...]:
    """Columns from ``name:type`` words; a trailing ``!`` marks a required column."""
    kinds = {"i": CdmType.INTEGER, "f": CdmType.FLOAT, "d": CdmType.DATE, "t": CdmType.DATETIME}
    out = []
    for word in text.split():
        name, _, kind = word.partition(":")
        required = kind.endswith("!")
        out.append(CdmColumn(name, kinds.get(kind.rstrip("!"), CdmType.VARCHAR), required))
    return tuple(out)


TABLES: dict[str, CdmTable] = {
    t.name: t
    for t in (
        CdmTable(
            "person",
            _cols(
                "person_id:i! gender_concept_id:i! year_of_birth:i! month_of_birth:i "
                "day_of_birth:i birth_datetime:t race_concept_id:i! ethnicity_concept_id:i! "
                "location_id:i provider_id:i care_site_id:i person_source_value:v "
                "gender_source_value:v gender_source_concept_id:i race_source_value:v "
                "race_source_concept_id:i ethnicity_source_value:v ethnicity_source_concept_id:i"
            ),
            ("person_id",),
            person=False,
            strict_key=True,
        ),
        CdmTable(
            "observation_period",
            _cols(
                "observation_period_id:i! person_id:i! observation_period_start_date:d! "
                "observation_period_end_date:d! period_type_concept_id:i!"
            ),
            ("observation_period_id",),
        ),
        CdmTable(
            "visit_occurrence",
            _cols(
                "visit_occurrence_id:i! person_id:i! visit_concept_id:i! visit_start_date:d! "
                "visit_start_datetime:t visit_end_date:d! visit_end_datetime:t "
                "visit_type_concept_id:i! provider_id:i care_site_id:i visit_source_value:v "
                "visit_source_concept_id:i admitted_from_concept_id:i "
                "admitted_from_source_value:v discharged_to_concept_id:i "
                "discharged_to_source_value:v preceding_visit_occurrence_id:i"
            ),
            ("visit_occurrence_id",),
        ),
        CdmTable(
            "condition_occurrence",
            _cols(
                "condition_occurrence_id:i! person_id:i! condition_concept_id:i! "
                "condition_start_date:d! condition_start_datetime:t condition_end_date:d "
                "condition_end_datetime:t condition_type_concept_id:i! "
                "condition_status_concept_id:i stop_reason:v provider_id:i "
                "visit_occurrence_id:i visit_detail_id:i condition_source_value:v "
                "condition_source_concept_id:i condition_status_source_value:v"
            ),
            ("condition_occurrence_id",),
        ),
        CdmTable(
            "drug_exposure",
            _cols(
                "drug_exposure_id:i! person_id:i! drug_concept_id:i! drug_exposure_start_date:d! "
                "drug_exposure_start_datetime:t drug_exposure_end_date:d! "
                "drug_exposure_end_datetime:t verbatim_end_date:d drug_type_concept_id:i! "
                "stop_reason:v refills:i quantity:f days_supply:i sig:v route_concept_id:i "
                "lot_number:v provider_id:i visit_occurrence_id:i visit_detail_id:i "
                "drug_source_value:v drug_source_concept_id:i route_source_value:v "
                "dose_unit_source_value:v"
            ),
            ("drug_exposure_id",),
        ),
        CdmTable(
            "measurement",
            _cols(
                "measurement_id:i! person_id:i! measurement_concept_id:i! measurement_date:d! "
                "measurement_datetime:t measurement_time:v measurement_type_concept_id:i! "
                "operator_concept_id:i value_as_number:f value_as_concept_id:i "
                "unit_concept_id:i range_low:f range_high:f provider_id:i "
                "visit_occurrence_id:i visit_detail_id:i measurement_source_value:v "
                "measurement_source_concept_id:i unit_source_value:v unit_source_concept_id:i "
                "value_source_value:v measurement_event_id:i meas_event_field_concept_id:i"
            ),
            ("measurement_id",),
        ),
        CdmTable(
            "observation",
            _cols(
                "observation_id:i! person_id:i! observation_concept_id:i! observation_date:d! "
                "observation_datetime:t observation_type_concept_id:i! value_as_number:f "
                "value_as_string:v value_as_concept_id:i qualifier_concept_id:i "
                "unit_concept_id:i provider_id:i visit_occurrence_id:i visit_detail_id:i "
                "observation_source_value:v observation_source_concept_id:i "
                "unit_source_value:v qualifier_source_value:v value_source_value:v "
                "observation_event_id:i obs_event_field_concept_id:i"
            ),
            ("observation_id",),
        ),
        CdmTable(
            "procedure_occurrence",
            _cols(
                "procedure_occurrence_id:i! person_id:i! procedure_concept_id:i! "
                "procedure_date:d! procedure_datetime:t procedure_end_date:d "
                "procedure_end_datetime:t procedure_type_concept_id:i! modifier_concept_id:i "
                "quantity:i provider_id:i visit_occurrence_id:i visit_detail_id:i "
                "procedure_source_value:v procedure_source_concept_id:i modifier_source_value:v"
            ),
            ("procedure_occurrence_id",),
        ),
        CdmTable(
            "death",
            _cols(
                "person_id:i! death_date:d! death_datetime:t death_type_concept_id:i "
                "cause_concept_id:i cause_source_value:v cause_source_concept_id:i"
            ),
            ("person_id",),
        ),
        CdmTable(
            "condition_era",
            _cols(
                "condition_era_id:i! person_id:i! condition_concept_id:i! "
                "condition_era_start_date:d! condition_era_end_date:d! "
                "condition_occurrence_count:i"
            ),
            ("condition_era_id",),
        ),
        CdmTable(
            "drug_era",
            _cols(
                "drug_era_id:i! person_id:i! drug_concept_id:i! drug_era_start_date:d! "
                "drug_era_end_date:d! drug_exposure_count:i gap_days:i"
            ),
            ("drug_era_id",),
        ),
        CdmTable(
            "concept",
            _cols(
                "concept_id:i! concept_name:v! domain_id:v! vocabulary_id:v! concept_class_id:v! "
                "standard_concept:v concept_code:v! valid_start_date:d! valid_end_date:d! "
                "invalid_reason:v"
            ),
            ("concept_id",),
            person=False,
        ),
        CdmTable(
            "concept_ancestor",
            _cols(
                "ancestor_concept_id:i! descendant_concept_id:i! min_levels_of_separation:i! "
                "max_levels_of_separation:i!"
            ),
            ("ancestor_concept_id", "descendant_concept_id"),
            person=False,
        ),
    )
}

# Columns CDM v5.4 renamed, by their v5.3 names: a v5.3 export's columns are read as v5.4's.
V53_NAMES = {
    "admitting_source_concept_id": "admitted_from_concept_id",
    "admitting_source_value": "admitted_from_source_value",
    "discharge_to_concept_id": "discharged_to_concept_id",
    "discharge_to_source_value": "discharged_to_source_value",
}

# Tables whose rows the ingestion requires (an OMOP source without persons is no source).
REQUIRED_TABLES = ("person",)


def table_name(source: str, table: str) -> str:
    """The node database's table holding ``table`` of the OMOP source ``source``."""
    return f"{source}__{table}"
