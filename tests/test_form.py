"""Tests of b12ms.form: the human-writable patient form to a PatientRecord, and its schema."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from b12ms.errors import FormError, NotJsonError
from b12ms.form import (
    FORM_LAB_SYSTEM,
    LAB_LABELS,
    form_schema,
    load_yaml,
    record_from_form,
)
from b12ms.model import Coding, Concept, Patient, Quantity

D = dt.date
TODAY = D(2026, 11, 1)
ROOT = Path(__file__).resolve().parents[1]
SNOMED = "http://snomed.info/sct"


def _record(**fields):
    """The record of a form with the marker plus the given fields."""
    return record_from_form({"b12ms_form": 1, **fields}, name="f.yaml", today=TODAY)


def _error(**fields) -> str:
    """The FormError message a form with the given fields raises."""
    with pytest.raises(FormError) as info:
        _record(**fields)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("f.yaml: ")
    return message.removeprefix("f.yaml: ")


def test_schema_is_valid_draft_2020_12_and_documents_every_field():
    """The shipped schema is valid 2020-12 and every property has a description."""
    schema = form_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"

    def walk(node):
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                assert "description" in sub or "$ref" in sub, name
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)


def test_schema_lab_tests_match_the_labels():
    """The schema's allowed lab tests are exactly those the form knows labels for."""
    assert set(form_schema()["$defs"]["lab"]["properties"]["test"]["enum"]) == set(LAB_LABELS)


def test_example_form_reads_as_specified():
    """examples/patient-form.yaml is a valid form describing the documented patient."""
    document = load_yaml((ROOT / "examples/patient-form.yaml").read_text(), name="example")
    record = record_from_form(document, name="example", today=TODAY)
    assert record.patient == Patient(id="example-1", age_years=52, sex="female")
    names = {m.medication.text for m in record.medications}
    assert names == {"metformin", "omeprazole"}
    b12, mma, diet = record.observations
    assert (b12.quantity, b12.effective) == (Quantity(210.0, "ng/L"), D(2026, 9, 14))
    assert mma.quantity == Quantity(0.52, "umol/L")
    assert mma.reference_high == Quantity(0.40, "umol/L")
    assert diet.value_text == "vegan"
    texts = [c.code.text for c in record.conditions]
    assert texts == ["numbness", "pins and needles", "multiple sclerosis"]


def test_minimal_form_is_an_empty_record():
    """A form with only the marker is valid and describes an unknown patient."""
    record = _record()
    assert record.patient == Patient()
    assert record.observations == record.conditions == record.medications == ()


def test_patient_fields():
    """id, birth_date and sex fill the Patient; a numeric id becomes text."""
    record = _record(id=17, birth_date="1974-03-02", sex="female")
    assert record.patient == Patient(id="17", birth_date=D(1974, 3, 2), sex="female")


def test_age_fills_age_years():
    """age fills Patient.age_years."""
    assert _record(age=52).patient.age_years == 52


def test_lab_with_value():
    """A numeric lab becomes a final laboratory Observation coded with the form-lab system."""
    record = _record(
        labs=[{"test": "total_b12", "value": 210, "unit": "ng/L", "date": "2026-09-14"}]
    )
    (obs,) = record.observations
    label = LAB_LABELS["total_b12"]
    assert obs.ref == "Form/labs/0"
    assert obs.code == Concept((Coding(FORM_LAB_SYSTEM, "total_b12", label),), label)
    assert (obs.status, obs.effective) == ("final", D(2026, 9, 14))
    assert obs.quantity == Quantity(210.0, "ng/L")
    assert obs.category == ("laboratory",)


def test_lab_comparator_and_reference_range():
    """comparator goes into the Quantity; reference_range bounds are Quantities in the lab unit."""
    lab = {
        "test": "total_b12",
        "value": 100,
        "comparator": "<",
        "unit": "pmol/L",
        "date": "2025-01-01",
        "reference_range": {"low": 140, "high": 725},
    }
    (obs,) = _record(labs=[lab]).observations
    assert obs.quantity == Quantity(100.0, "pmol/L", "<")
    assert (obs.reference_low, obs.reference_high) == (
        Quantity(140.0, "pmol/L"),
        Quantity(725.0, "pmol/L"),
    )


@pytest.mark.parametrize(
    ("result", "code", "interpretation"),
    [
        ("positive", "10828004", "POS"),
        ("negative", "260385009", "NEG"),
        ("equivocal", "42425007", "IND"),
    ],
)
def test_lab_with_result_word(result, code, interpretation):
    """A result word becomes value_concept (SNOMED CT), value_text and an interpretation code."""
    lab = {"test": "intrinsic_factor_antibody", "result": result, "date": "2026-09-20"}
    (obs,) = _record(labs=[lab]).observations
    assert obs.value_concept is not None
    assert obs.value_concept.codings[0] == Coding(SNOMED, code, result.capitalize())
    assert obs.value_text == result
    assert obs.interpretation == (interpretation,)
    assert obs.quantity is None


def test_symptoms_are_active_conditions():
    """Each symptom becomes an active Condition with the name as text."""
    record = _record(symptoms=["numbness", "fatigue"])
    assert [(c.ref, c.code, c.clinical_status) for c in record.conditions] == [
        ("Form/symptoms/0", Concept((), "numbness"), "active"),
        ("Form/symptoms/1", Concept((), "fatigue"), "active"),
    ]


def test_conditions_as_names_and_objects():
    """Conditions may be names or objects with code, system, onset and status."""
    record = _record(
        conditions=[
            "coeliac disease",
            {"name": "multiple sclerosis", "code": 24700007, "system": SNOMED, "onset": "2015"},
            {"name": "anaemia", "status": "resolved"},
        ]
    )
    coeliac, ms, anaemia = record.conditions
    assert (coeliac.ref, coeliac.code, coeliac.clinical_status) == (
        "Form/conditions/0",
        Concept((), "coeliac disease"),
        "active",
    )
    assert ms.code == Concept((Coding(SNOMED, "24700007"),), "multiple sclerosis")
    assert ms.onset == D(2015, 1, 1)
    assert anaemia.clinical_status == "resolved"


def test_medicines_status_from_end_date():
    """A medicine is active unless its end date is before today, then completed."""
    record = _record(
        medicines=[
            "metformin",
            {"name": "omeprazole", "start": "2023-01-01", "end": None},
            {"name": "ranitidine", "start": "2010", "end": "2019-12"},
            {"name": "lansoprazole", "end": TODAY.isoformat()},
        ]
    )
    statuses = [(m.ref, m.medication.text, m.status) for m in record.medications]
    assert statuses == [
        ("Form/medicines/0", "metformin", "active"),
        ("Form/medicines/1", "omeprazole", "active"),
        ("Form/medicines/2", "ranitidine", "completed"),
        ("Form/medicines/3", "lansoprazole", "active"),
    ]
    assert (record.medications[2].start, record.medications[2].end) == (
        D(2010, 1, 1),
        D(2019, 12, 1),
    )


def test_diet_and_substances_are_social_history():
    """diet and substances become social-history Observations holding the text."""
    record = _record(diet="vegan", substances=["nitrous oxide"])
    diet, substance = record.observations
    assert (diet.ref, diet.code, diet.value_text) == ("Form/diet", Concept((), "Diet"), "vegan")
    assert substance.ref == "Form/substances/0"
    assert substance.code == Concept((), "Recreational substance use")
    assert substance.value_text == "nitrous oxide"
    assert diet.category == substance.category == ("social-history",)
    assert diet.status == substance.status == "final"


def test_pregnant_true_is_a_pregnancy_condition():
    """pregnant: true adds an active pregnancy Condition; false adds nothing."""
    (c,) = _record(pregnant=True).conditions
    assert c.ref == "Form/pregnant"
    assert c.code == Concept((Coding(SNOMED, "72892002", "Normal pregnancy"),), "Pregnancy")
    assert c.clinical_status == "active"
    assert _record(pregnant=False).conditions == ()


def test_family_history_conditions():
    """Family history entries become "Family history of <name>" Conditions."""
    (c,) = _record(family_history=["pernicious anaemia"]).conditions
    assert (c.ref, c.code.text) == ("Form/family_history/0", "Family history of pernicious anaemia")


def test_procedures_are_completed():
    """Procedures become completed Procedures with their date."""
    record = _record(
        procedures=[{"name": "sleeve gastrectomy", "date": "2019-06-01"}, "ileal resection"]
    )
    first, second = record.procedures
    assert (first.ref, first.code.text, first.status, first.performed) == (
        "Form/procedures/0",
        "sleeve gastrectomy",
        "completed",
        D(2019, 6, 1),
    )
    assert (second.code.text, second.performed) == ("ileal resection", None)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"labs": [{"test": "total_b12", "value": 1, "unit": "ng/L", "date": "2026-01-01"},
                   {"test": "mma", "value": 0.5, "date": "2026-01-01"}]},
         "labs[1].unit: required when value is given"),
        ({"labs": [{"test": "b12", "value": 1, "unit": "ng/L", "date": "2026"}]},
         "labs[0].test: must be one of: total_b12, active_b12"),
        ({"labs": [{"test": "mma", "value": "0.5", "unit": "umol/L", "date": "2026"}]},
         "labs[0].value: must be a number"),
        ({"labs": [{"test": "mma", "value": 0.5, "unit": "umol/L"}]},
         "labs[0].date: missing (required)"),
        ({"labs": [{"test": "mma", "unit": "umol/L", "date": "2026"}]},
         "labs[0].value: required when unit is given"),
        ({"labs": [{"test": "intrinsic_factor_antibody", "date": "2026"}]},
         "labs[0]: give either value (with unit) or result"),
        ({"labs": [{"test": "mma", "value": 1, "unit": "x", "result": "positive", "date": "2026"}]},
         "labs[0]: give either value (with unit) or result"),
        ({"labs": [{"test": "mma", "value": 1, "unit": "x", "date": "2026", "comparator": "~"}]},
         "labs[0].comparator: must be one of: <, <=, >=, >"),
        ({"labs": [{"test": "mma", "value": 1, "unit": "x", "date": "2026",
                    "reference_range": {}}]},
         "labs[0].reference_range: give low, high or both"),
        ({"labs": [{"test": "mma", "value": 1, "unit": "x", "date": "2026", "tset": 1}]},
         "labs[0].tset: unknown field (allowed: comparator, date,"),
        ({"labs": [{"test": "mma", "value": float("nan"), "unit": "x", "date": "2026"}]},
         "labs[0].value: must be a finite number"),
        ({"medicnes": ["metformin"]}, "medicnes: unknown field (allowed: age, b12ms_form,"),
        ({"sex": "f"}, "sex: must be one of: female, male, other, unknown"),
        ({"age": -1}, "age: must be at least 0"),
        ({"age": 200}, "age: must be at most 130"),
        ({"age": 52, "birth_date": "1974-03-02"}, "birth_date: give birth_date or age, not both"),
        ({"birth_date": "02/03/1974"}, "birth_date: must be a date written YYYY-MM-DD"),
        ({"birth_date": "1974-02-30"}, "birth_date: 1974-02-30 is not a real calendar date"),
        ({"medicines": [{"name": "x", "end": "soon"}]}, "medicines[0].end: must be a date"),
        ({"medicines": [{"start": "2020"}]}, "medicines[0].name: missing (required)"),
        ({"medicines": [""]}, "medicines[0]: must not be empty"),
        ({"medicines": [42]}, "medicines[0]: must be a name or a mapping of fields"),
        ({"conditions": [{"name": "ms", "code": "24700007"}]},
         "conditions[0].system: required when code is given"),
        ({"symptoms": "numbness"}, "symptoms: must be a list"),
        ({"symptoms": ["   "]}, "symptoms[0]: must not be empty"),
        ({"pregnant": "yes please"}, "pregnant: must be true or false"),
        ({"b12ms_form": 2}, "b12ms_form: must be 1"),
    ],
)  # fmt: skip
def test_invalid_forms_name_the_field(fields, message):
    """Each schema violation raises a one-line FormError naming the field path."""
    assert _error(**fields).startswith(message)


def test_missing_marker_is_a_form_error():
    """A document without b12ms_form given to the form reader is a FormError."""
    with pytest.raises(FormError, match="b12ms_form: missing"):
        record_from_form({"sex": "female"}, name="f")


def test_several_problems_are_counted():
    """When a form has several problems, the first is named and the others counted."""
    assert _error(sex="f", age="old", pregnant=3).endswith("(and 2 more problems)")


def test_error_messages_never_quote_values():
    """Error messages name fields, not the values written in them."""
    message = _error(diet={"secret": "patient name here"})
    assert "secret" not in message and "patient name" not in message


def test_yaml_keeps_dates_as_text_and_rejects_duplicate_keys():
    """YAML dates are read as text (checked by the schema); duplicate keys are errors."""
    assert load_yaml("d: 2026-09-14", name="f") == {"d": "2026-09-14"}
    with pytest.raises(NotJsonError, match=r"duplicate key 'labs' at line 3"):
        load_yaml("b12ms_form: 1\nlabs: []\nlabs: []\n", name="f")


def test_yaml_syntax_error_names_line_not_content():
    """A YAML syntax error gives its line and column, without quoting the text."""
    with pytest.raises(NotJsonError) as info:
        load_yaml("b12ms_form: 1\nsecret: [unclosed\n", name="f")
    message = str(info.value)
    assert "line" in message and "secret" not in message and "\n" not in message


def test_unquoted_yaml_form_values_are_read():
    """A form written in everyday YAML (unquoted dates, bare years, > in quotes) reads well."""
    text = (
        "b12ms_form: 1\n"
        "birth_date: 1974-03-02\n"
        "medicines:\n  - {name: metformin, start: 2014}\n"
        "labs:\n"
        '  - {test: total_b12, value: 100, comparator: "<", unit: pmol/L, date: 2025-01-01}\n'
    )
    record = record_from_form(load_yaml(text, name="f"), name="f", today=TODAY)
    assert record.patient.birth_date == D(1974, 3, 2)
    assert record.medications[0].start == D(2014, 1, 1)
    assert record.observations[0].quantity == Quantity(100.0, "pmol/L", "<")


def test_json_form_is_the_same_form():
    """The same form written as JSON gives the same record."""
    fields = {"sex": "male", "symptoms": ["fatigue"], "labs": [
        {"test": "folate", "value": 2.1, "unit": "ug/L", "date": "2026-01-02"}]}  # fmt: skip
    document = json.loads(json.dumps({"b12ms_form": 1, **fields}))
    assert record_from_form(document, name="f.yaml", today=TODAY) == _record(**fields)
