"""Tests of b12ms.inputs: detecting an input's format and reading it into one PatientRecord."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from b12ms.errors import (
    EmptyInputError,
    FormError,
    InputError,
    NotFhirError,
    NotJsonError,
)
from b12ms.inputs import load_record, parse_record
from b12ms.model import Skipped
from fhir_builders import PID, bundle, ndjson, observation, patient

ROOT = Path(__file__).resolve().parents[1]
TODAY = dt.date(2026, 11, 1)


def _parse(data: bytes | str, name: str = "in.txt"):
    if isinstance(data, str):
        data = data.encode()
    return parse_record(data, name=name, today=TODAY)


def test_fhir_bundle_json():
    """A FHIR Bundle in JSON is read as FHIR."""
    record = _parse(json.dumps(bundle(patient(), observation())))
    assert record.patient.id == PID and len(record.observations) == 1


def test_single_fhir_resource_json():
    """A single FHIR resource in JSON is read as FHIR."""
    assert _parse(json.dumps(patient(gender="male"))).patient.sex == "male"


def test_ndjson_with_a_bad_line_keeps_the_rest():
    """NDJSON is read line by line; a bad line is skipped with its number, the rest kept."""
    data = ndjson(patient()) + b"{oops\n" + ndjson(observation(), observation("o2"))
    record = _parse(data)
    assert len(record.observations) == 2
    assert record.skipped == (Skipped("line 2", "not valid JSON"),)


def test_reader_and_extractor_skips_are_combined():
    """Skips from reading the file and from extracting resources both reach the record."""
    data = ndjson(patient()) + b"{oops\n" + ndjson(observation(status="preliminary"))
    reasons = [s.reason for s in _parse(data).skipped]
    assert reasons == ["not valid JSON", "status 'preliminary' is not a final result"]


def test_yaml_form():
    """A YAML document with b12ms_form is read as a patient form."""
    record = _parse("b12ms_form: 1\nsex: female\nsymptoms: [numbness]\n")
    assert record.patient.sex == "female"
    assert record.conditions[0].ref == "Form/symptoms/0"


def test_json_form():
    """A JSON object with b12ms_form is read as a patient form."""
    record = _parse(json.dumps({"b12ms_form": 1, "age": 40}))
    assert record.patient.age_years == 40


def test_yaml_flow_form_starting_with_a_brace():
    """A YAML flow mapping (not JSON) holding a form is still read as a form."""
    assert _parse("{b12ms_form: 1, age: 40}").patient.age_years == 40


def test_form_today_decides_medicine_status():
    """The `today` given to parse_record decides whether an ended medicine is completed."""
    text = "b12ms_form: 1\nmedicines: [{name: omeprazole, end: 2026-10-01}]\n"
    assert _parse(text).medications[0].status == "completed"
    later = parse_record(text.encode(), name="f", today=dt.date(2026, 9, 1))
    assert later.medications[0].status == "active"


def test_invalid_form_raises_form_error_naming_file_and_field():
    """An invalid form raises FormError naming the file and the field."""
    with pytest.raises(FormError, match=r"^p\.yaml: labs\[0\]\.unit: required when value"):
        _parse("b12ms_form: 1\nlabs: [{test: mma, value: 1, date: 2026}]\n", name="p.yaml")


@pytest.mark.parametrize("data", [b"", b"  \n \r\n\t"])
def test_empty_input(data):
    """An empty or whitespace-only input raises EmptyInputError."""
    with pytest.raises(EmptyInputError, match=r"^in\.txt: the file is empty$"):
        _parse(data)


@pytest.mark.parametrize(
    "data",
    ["[1, 2]", "[]", "3.5", '{"name": "x"}', "sex: female\nage: 3\n", "- a\n- b\n"],
)
def test_structured_but_not_fhir_or_form(data):
    """A JSON array, number or plain object, or YAML without b12ms_form, is NotFhirError."""
    with pytest.raises(NotFhirError) as info:
        _parse(data)
    assert "\n" not in str(info.value) and str(info.value).startswith("in.txt: ")


@pytest.mark.parametrize(
    "data",
    [
        "just some words",
        "key: [unclosed\n",
        '{"resourceType": "Patient", "id": }',
        "[1, 2,,]",
        b"\x00\x9f\x92\x96 binary",
    ],
)
def test_not_json_ndjson_or_yaml(data):
    """Plain text, broken YAML, broken JSON and binary raise NotJsonError, one line."""
    with pytest.raises(NotJsonError) as info:
        _parse(data)
    message = str(info.value)
    assert "\n" not in message and message.startswith("in.txt: ")
    assert "resourceType" not in message


def test_broken_json_reports_where():
    """Broken JSON is reported as JSON, with the line and column of the error."""
    with pytest.raises(NotJsonError, match=r"not valid JSON \(error at line 2, column 8\)"):
        _parse('{"resourceType": "Patient",\n "id": }')


def test_two_patients_in_a_bundle_point_to_screen():
    """A Bundle holding two patients raises InputError naming the file and `b12ms screen`."""
    data = json.dumps(bundle(patient("a"), patient("b")))
    with pytest.raises(InputError, match=r"^pop\.json: 2 patients .*b12ms screen"):
        _parse(data, name="pop.json")


def test_load_record_reads_files(tmp_path):
    """load_record reads a file from disk and names it in errors."""
    path = tmp_path / "patient.ndjson"
    path.write_bytes(ndjson(patient(), observation()))
    assert load_record(path).patient.id == PID
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    with pytest.raises(EmptyInputError, match=r"empty\.json"):
        load_record(str(empty))


def test_load_record_missing_file_and_directory(tmp_path):
    """A missing file or a directory raise InputError with a one-line message."""
    with pytest.raises(InputError, match=r"nope\.json: no such file$"):
        load_record(tmp_path / "nope.json")
    with pytest.raises(InputError, match="is a directory"):
        load_record(tmp_path)


def test_control_characters_in_the_name_are_escaped():
    """A file name with a newline still gives a one-line message."""
    with pytest.raises(EmptyInputError) as info:
        parse_record(b"", name="a\nb.json")
    assert "\n" not in str(info.value)


def test_example_form_loads():
    """The shipped example form loads."""
    record = load_record(ROOT / "examples/patient-form.yaml", today=TODAY)
    assert record.patient.age_years == 52 and record.skipped == ()
