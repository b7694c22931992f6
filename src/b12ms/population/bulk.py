"""FHIR Bulk Data export folders: which files hold which resource type, and which to read.

A Bulk Data export is a folder of NDJSON files, one resource per line. The specification does
not name the files; the type is read from the name when a known convention gives it
(`Patient.000.ndjson`, `Observation_1.ndjson`, `<uuid>_Patient.ndjson`, `Condition.ndjson.gz`)
and otherwise from the first non-blank line's resourceType. `log.ndjson` (the SMART bulk-data
client's log), manifests and other files are left out.

Also here: the one rule that says which resources a screen keeps, and how a resource's patient
is found. Both engines apply it (DuckDB in SQL, Spark through `classify_line`), so they group
resources identically.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
from pathlib import Path
from typing import Any

from b12ms.errors import InputError
from b12ms.fhir.extract import reference_id

SUFFIXES = (".ndjson", ".jsonl", ".ndjson.gz", ".jsonl.gz")

# What the assessment reads (b12ms.fhir.extract); everything else in an export is ignored.
CLINICAL_TYPES = (
    "Observation",
    "Condition",
    "MedicationRequest",
    "MedicationStatement",
    "Procedure",
)
KEPT_TYPES = frozenset({"Patient", "Medication", *CLINICAL_TYPES})
# Types that can carry a medicationReference to a Medication resource.
MEDICATION_USERS = frozenset({"MedicationRequest", "MedicationStatement"})

_NOT_FHIR_NAMES = frozenset({"log", "manifest", "output", "error", "errors", "outcome"})
_TYPE_NAME = re.compile(r"^[A-Z][A-Za-z]+$")


@dataclasses.dataclass(frozen=True, slots=True)
class ExportFile:
    """One NDJSON file of an export: its path, its name relative to the export, its type."""

    path: Path
    name: str  # relative to the export folder, with forward slashes (used in reports)
    resource_type: str

    @property
    def kept(self) -> bool:
        """Whether the screen reads this file (its type is one the assessment can use)."""
        return self.resource_type in KEPT_TYPES


def _stem(name: str) -> str:
    for suffix in SUFFIXES[::-1]:  # longest first: ".ndjson.gz" before ".ndjson"
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def type_from_name(name: str) -> str | None:
    """The resource type a file name states, or None.

    Recognised: `Type.ndjson`, `Type.000.ndjson`, `Type_1.ndjson`, `Type-1.ndjson`,
    `<anything>_Type.ndjson` and `<anything>.Type.ndjson` (the type is a capitalised word).
    """
    stem = _stem(name)
    parts = [p for p in re.split(r"[._\-]", stem) if p]
    words = [p for p in parts if _TYPE_NAME.match(p)]
    if len(words) == 1:
        return words[0]
    return None


def _first_line_type(path: Path) -> str | None:
    """resourceType of the first non-blank line, or None when it is not a FHIR resource."""
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", errors="replace") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except ValueError:
                    return None
                rtype = value.get("resourceType") if isinstance(value, dict) else None
                return rtype if isinstance(rtype, str) and rtype else None
    except (OSError, EOFError):
        return None
    return None


def discover(directory: Path | str) -> list[ExportFile]:
    """Every FHIR NDJSON file under `directory` (recursively), sorted by name, with its type.

    Raises InputError when the folder is missing, is not a folder, or holds no FHIR NDJSON.
    Files of types the screen does not use are listed too (`kept` is False).
    """
    root = Path(directory)
    if not root.exists():
        raise InputError(f"{directory}: no such folder")
    if not root.is_dir():
        raise InputError(f"{directory}: not a folder (give the folder of a FHIR Bulk Data export)")
    found: list[ExportFile] = []
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if not path.is_file() or not path.name.lower().endswith(SUFFIXES):
            continue
        if _stem(path.name).lower() in _NOT_FHIR_NAMES:
            continue
        rtype = type_from_name(path.name)
        if rtype is None or rtype.lower() in _NOT_FHIR_NAMES:
            rtype = _first_line_type(path)
        if rtype is None or rtype in ("OperationOutcome", "Parameters"):
            continue
        found.append(ExportFile(path=path, name=name, resource_type=rtype))
    if not found:
        raise InputError(
            f"{directory}: no FHIR NDJSON files (*.ndjson, *.jsonl, optionally .gz) found"
        )
    return found


# --------------------------------------------------------------------------------------------
# One line: the rule both engines follow (the DuckDB engine states it again in SQL).


@dataclasses.dataclass(frozen=True, slots=True)
class Line:
    """What one NDJSON line is, for the screen.

    kind: "blank", "malformed" (reason set), "ignored" (a type the screen does not use),
    "orphan" (a kept type without a patient), "resource" (patient set), "medication"
    (a Medication resource; medication_id set).
    """

    kind: str
    reason: str | None = None
    patient: str | None = None
    medication_id: str | None = None
    medication_ref: str | None = None


BLANK = Line("blank")
IGNORED = Line("ignored")
ORPHAN = Line("orphan")


def _truthy_json(value: Any) -> bool:
    return bool(value)


def classify(value: Any) -> Line:
    """Classify one parsed line (see `Line`)."""
    if type(value) is not dict:
        return Line("malformed", reason="not a JSON object")
    rtype = value.get("resourceType")
    if type(rtype) is not str or not rtype:
        return Line("malformed", reason="no resourceType")
    if rtype not in KEPT_TYPES:
        return IGNORED
    if rtype == "Medication":
        mid = value.get("id")
        return Line("medication", medication_id=mid) if type(mid) is str and mid else ORPHAN
    if rtype == "Patient":
        pid = value.get("id")
        return Line("resource", patient=pid) if type(pid) is str and pid else ORPHAN
    subject = value.get("subject") or value.get("patient")
    ref = subject.get("reference") if type(subject) is dict else None
    patient = reference_id(ref, "Patient")
    if patient is None:
        return ORPHAN
    mref = None
    if rtype in MEDICATION_USERS:
        m = value.get("medicationReference")
        if type(m) is dict:
            mref = reference_id(m.get("reference"), "Medication")
    return Line("resource", patient=patient, medication_ref=mref)


def classify_line(text: str | None) -> Line:
    """Classify one raw NDJSON line: blank, malformed (with a reason) or what it holds."""
    if text is None or not text.strip():
        return BLANK
    try:
        value = json.loads(text)
    except ValueError:
        return Line("malformed", reason="not valid JSON")
    return classify(value)
