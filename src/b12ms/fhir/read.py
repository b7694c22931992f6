"""FHIR input files to resource dicts: a Bundle of any type, NDJSON, or one resource.

Structural junk inside a readable input (a line that is not JSON, an entry that is not an
object, a resource without resourceType) becomes a `Skipped` entry and the rest is read; an
input that cannot be FHIR at all raises an `InputError` subclass whose one-line message names
the file and never quotes its content.
"""

from __future__ import annotations

import codecs
import json
from typing import Any

from b12ms.errors import EmptyInputError, NotFhirError, NotJsonError
from b12ms.model import Skipped

Resources = tuple[list[dict[str, Any]], list[Skipped]]


def decode_text(data: bytes, *, name: str) -> str:
    """Bytes to text: UTF-8 (with or without BOM) or UTF-16 with BOM; empty input is an error."""
    try:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            text = data.decode("utf-16")
        else:
            text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise NotJsonError(f"{name}: not UTF-8 text, so not JSON, NDJSON or YAML") from None
    if not text.strip():
        raise EmptyInputError(f"{name}: the file is empty")
    return text


def resources_from_bytes(data: bytes, *, name: str) -> Resources:
    """Read FHIR JSON (a Bundle or one resource) or NDJSON from bytes: (resources, skipped).

    Raises EmptyInputError, NotJsonError (neither JSON nor NDJSON) or NotFhirError (JSON, but
    no FHIR resource).
    """
    text = decode_text(data, name=name)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as e:
        found = resources_from_ndjson(text)
        if found is None:
            raise NotJsonError(
                f"{name}: not JSON (error at line {e.lineno}, column {e.colno}) nor NDJSON"
            ) from None
        return found
    return resources_from_document(document, name=name)


def resources_from_document(document: Any, *, name: str) -> Resources:
    """Resources of one parsed JSON document: a Bundle (any type) or a single resource."""
    if not isinstance(document, dict):
        kind = "an array" if isinstance(document, list) else "not an object"
        raise NotFhirError(f"{name}: JSON {kind}, not a FHIR resource or Bundle")
    rtype = document.get("resourceType")
    if not rtype or not isinstance(rtype, str):
        raise NotFhirError(
            f"{name}: JSON object without resourceType: not FHIR (nor a b12ms patient form, "
            "which starts with `b12ms_form: 1`)"
        )
    resources: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    _add(document, "", resources, skipped)
    return resources, skipped


def resources_from_ndjson(text: str) -> Resources | None:
    """Resources of NDJSON text, one per line; None unless most lines are JSON objects.

    Blank lines are ignored; a line that is not JSON, not an object or has no resourceType is
    skipped as "line <n>"; a line holding a Bundle contributes the Bundle's entries.
    """
    resources: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    objects = lines = 0
    loads = json.loads
    for n, line in enumerate(text.splitlines(), 1):
        if not line or line.isspace():
            continue
        lines += 1
        where = f"line {n}"
        try:
            value = loads(line)
        except json.JSONDecodeError:
            skipped.append(Skipped(where, "not valid JSON"))
            continue
        if type(value) is not dict:
            skipped.append(Skipped(where, "not a JSON object"))
            continue
        objects += 1
        rtype = value.get("resourceType")
        if rtype == "Bundle":
            _add(value, where + " ", resources, skipped)
        elif rtype and isinstance(rtype, str):
            resources.append(value)
        else:
            skipped.append(Skipped(where, "no resourceType"))
    # Pretty-printed JSON with a syntax error is not NDJSON with bad lines: almost none of its
    # lines is an object on its own. NDJSON is at least half objects.
    return (resources, skipped) if objects and objects * 2 >= lines else None


def _add(
    resource: dict[str, Any], where: str, resources: list[dict[str, Any]], skipped: list[Skipped]
) -> None:
    """Add a resource, or a Bundle's entries (recursively), labelling junk "entry <n>"."""
    if resource.get("resourceType") != "Bundle":
        resources.append(resource)
        return
    entries = resource.get("entry") or []
    if not isinstance(entries, list):
        skipped.append(Skipped(f"{where}Bundle.entry".strip(), "not a JSON array"))
        return
    for n, entry in enumerate(entries, 1):
        label = f"{where}entry {n}"
        if not isinstance(entry, dict):
            skipped.append(Skipped(label, "not a JSON object"))
            continue
        inner = entry.get("resource")
        if inner is None:
            skipped.append(Skipped(label, "no resource"))
        elif not isinstance(inner, dict):
            skipped.append(Skipped(label, "resource is not a JSON object"))
        elif not inner.get("resourceType") or not isinstance(inner["resourceType"], str):
            skipped.append(Skipped(label, "no resourceType"))
        else:
            _add(inner, label + " ", resources, skipped)
