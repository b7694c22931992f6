"""One input file to one `PatientRecord`: detect FHIR JSON, NDJSON or the patient form, dispatch.

Detection, in order:

1. the whole text is JSON: an object with `b12ms_form` is a patient form, an object with
   `resourceType` is FHIR (a Bundle or one resource); anything else is NotFhirError;
2. most non-blank lines are JSON objects: NDJSON, one FHIR resource per line;
3. YAML: a mapping with `b12ms_form` is a patient form; any other YAML is not an input
   b12ms reads (NotFhirError for a mapping or list, NotJsonError for plain text).

Every failure is an `InputError` subclass with a one-line message naming the file.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from b12ms.errors import InputError, NotFhirError, NotJsonError
from b12ms.fhir.extract import record_from_resources
from b12ms.fhir.read import decode_text, resources_from_document, resources_from_ndjson
from b12ms.form import is_form, load_yaml, record_from_form
from b12ms.model import PatientRecord


def load_record(path: str | Path, *, today: dt.date | None = None) -> PatientRecord:
    """Read one patient's record from a file (FHIR JSON or NDJSON, or a patient form).

    `today` is the date a form's medicine end dates are compared with (default: today).
    """
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{name}: is a directory, not a file") from None
    except PermissionError:
        raise InputError(f"{name}: permission denied") from None
    except OSError as e:
        raise InputError(f"{name}: cannot be read ({e.strerror or type(e).__name__})") from None
    return parse_record(data, name=name, today=today)


def parse_record(data: bytes, *, name: str, today: dt.date | None = None) -> PatientRecord:
    """Read one patient's record from the bytes of an input; `name` labels error messages."""
    name = _one_line(name)
    text = decode_text(data, name=name)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as e:
        json_error = f"line {e.lineno}, column {e.colno}"
    else:
        if is_form(document):
            return record_from_form(document, name=name, today=today)
        resources, skipped = resources_from_document(document, name=name)
        return record_from_resources(resources, skipped=skipped, source=name)

    found = resources_from_ndjson(text)
    if found is not None:
        resources, skipped = found
        return record_from_resources(resources, skipped=skipped, source=name)

    looks_like_json = text.lstrip()[:1] in ("{", "[")
    try:
        document = load_yaml(text, name=name)
    except NotJsonError:
        if looks_like_json:  # meant as JSON: say where the JSON broke
            raise NotJsonError(f"{name}: not valid JSON (error at {json_error})") from None
        raise
    if is_form(document):
        return record_from_form(document, name=name, today=today)
    if looks_like_json:
        raise NotJsonError(f"{name}: not valid JSON (error at {json_error})")
    if isinstance(document, dict | list):
        raise NotFhirError(
            f"{name}: YAML, but not a b12ms patient form (it must start with `b12ms_form: 1`)"
        )
    raise NotJsonError(f"{name}: not JSON, NDJSON or YAML")


def _one_line(name: str) -> str:
    """A file name fit for a one-line message (control characters escaped)."""
    return name if name.isprintable() else repr(name)[1:-1]
