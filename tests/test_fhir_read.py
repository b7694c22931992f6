"""Tests of b12ms.fhir.read: FHIR files (Bundle, NDJSON, one resource) to resource dicts."""

from __future__ import annotations

import codecs
import json

import pytest

from b12ms.errors import EmptyInputError, InputError, NotFhirError, NotJsonError
from b12ms.fhir import resources_from_bytes
from b12ms.model import Skipped
from fhir_builders import bundle, ndjson, observation, patient


def _read(data: bytes | str):
    if isinstance(data, str):
        data = data.encode()
    return resources_from_bytes(data, name="in.json")


@pytest.mark.parametrize("btype", ["collection", "searchset", "transaction", "batch", "document"])
def test_bundle_of_any_type_gives_its_entries(btype):
    """A Bundle of any type gives the resources of its entries, in order."""
    resources, skipped = _read(json.dumps(bundle(patient(), observation(), type=btype)))
    assert [r["resourceType"] for r in resources] == ["Patient", "Observation"]
    assert skipped == []


def test_single_resource_gives_itself():
    """A single resource JSON object is read as a one-resource input."""
    resources, skipped = _read(json.dumps(patient()))
    assert resources == [patient()]
    assert skipped == []


def test_ndjson_reads_each_line_and_ignores_blank_lines():
    """NDJSON gives one resource per line; blank and whitespace-only lines are ignored."""
    data = b"\n" + ndjson(patient()) + b"   \n\n" + ndjson(observation())
    resources, skipped = _read(data)
    assert [r["resourceType"] for r in resources] == ["Patient", "Observation"]
    assert skipped == []


def test_ndjson_bad_lines_are_skipped_and_the_rest_read():
    """An NDJSON line that is not JSON is skipped as "line <n>" and the other lines are read."""
    data = ndjson(patient()) + b'{"resourceType": "Obs\n' + ndjson(observation())
    resources, skipped = _read(data)
    assert [r["resourceType"] for r in resources] == ["Patient", "Observation"]
    assert skipped == [Skipped("line 2", "not valid JSON")]


def test_ndjson_line_not_object_or_without_resource_type_is_skipped():
    """NDJSON lines holding a non-object or an object without resourceType are skipped."""
    data = ndjson(patient(), [1, 2], {"id": "x"}, observation())
    resources, skipped = _read(data)
    assert len(resources) == 2
    assert skipped == [
        Skipped("line 2", "not a JSON object"),
        Skipped("line 3", "no resourceType"),
    ]


def test_ndjson_line_holding_a_bundle_gives_its_entries():
    """An NDJSON line that is a Bundle contributes the Bundle's entries."""
    resources, _ = _read(ndjson(patient(), bundle(observation("a"), observation("b"))))
    assert [r.get("id") for r in resources] == ["p1", "a", "b"]


def test_bundle_structural_junk_is_skipped_by_entry_number():
    """Bundle entries that are not objects, hold no resource or no resourceType are skipped."""
    doc = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": patient()},
            "junk",
            {"fullUrl": "urn:uuid:1"},
            {"resource": [1]},
            {"resource": {"id": "x"}},
        ],
    }
    resources, skipped = _read(json.dumps(doc))
    assert resources == [patient()]
    assert skipped == [
        Skipped("entry 2", "not a JSON object"),
        Skipped("entry 3", "no resource"),
        Skipped("entry 4", "resource is not a JSON object"),
        Skipped("entry 5", "no resourceType"),
    ]


def test_nested_bundle_entries_are_flattened():
    """A Bundle inside a Bundle entry contributes its own entries."""
    resources, _ = _read(json.dumps(bundle(patient(), bundle(observation()))))
    assert [r["resourceType"] for r in resources] == ["Patient", "Observation"]


def test_bundle_without_entries_is_empty_not_an_error():
    """A Bundle with no entries reads as no resources."""
    assert _read(json.dumps({"resourceType": "Bundle", "type": "searchset"})) == ([], [])


def test_bundle_entry_not_a_list_is_skipped():
    """A Bundle whose entry is not an array is reported, not crashed on."""
    resources, skipped = _read(json.dumps({"resourceType": "Bundle", "entry": {"a": 1}}))
    assert resources == []
    assert skipped == [Skipped("Bundle.entry", "not a JSON array")]


@pytest.mark.parametrize("data", [b"", b"   \n\t\n", codecs.BOM_UTF8])
def test_empty_input_raises_empty_input_error(data):
    """An empty or whitespace-only file raises EmptyInputError naming the file."""
    with pytest.raises(EmptyInputError, match=r"^in\.json: the file is empty$"):
        _read(data)


@pytest.mark.parametrize(
    "text",
    ["[1, 2]", "[]", "42", '"a string"', "null", '{"id": "x"}', '{"resourceType": 7}'],
)
def test_json_that_is_not_fhir_raises_not_fhir_error(text):
    """A JSON array, scalar or object without resourceType raises NotFhirError, one line."""
    with pytest.raises(NotFhirError) as info:
        _read(text)
    message = str(info.value)
    assert message.startswith("in.json: ")
    assert "\n" not in message


@pytest.mark.parametrize(
    "data",
    [
        b"hello: [world",
        b"<html><body>hi</body></html>",
        b'{\n  "resourceType": "Patient",\n  "id": "x"\n  "gender": "female"\n}\n',
        b"\xff\xfe\xfa\x00garbage\x80",
        b"\x80\x81\x82",
    ],
)
def test_not_json_raises_not_json_error_without_dumping_content(data):
    """Text that is neither JSON nor NDJSON raises NotJsonError, one line, no content."""
    with pytest.raises(NotJsonError) as info:
        _read(data)
    message = str(info.value)
    assert message.startswith("in.json: ")
    assert "\n" not in message
    assert "resourceType" not in message and "html" not in message


def test_pretty_json_syntax_error_names_line_and_column():
    """A syntax error in pretty-printed JSON is reported with its line and column."""
    data = b'{\n  "resourceType": "Patient",\n  "id": "x"\n  "gender": "female"\n}\n'
    with pytest.raises(NotJsonError, match=r"line 4, column 3"):
        _read(data)


def test_utf8_bom_and_utf16_are_read():
    """UTF-8 with a BOM and UTF-16 with a BOM are decoded."""
    text = json.dumps(patient())
    assert _read(codecs.BOM_UTF8 + text.encode())[0] == [patient()]
    assert _read(text.encode("utf-16"))[0] == [patient()]


def test_input_errors_are_input_error_subclasses():
    """Every read failure is an InputError, so the CLI maps it to the input exit code."""
    for data in (b"", b"[]", b"<x"):
        with pytest.raises(InputError):
            _read(data)
