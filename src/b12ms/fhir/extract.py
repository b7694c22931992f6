"""FHIR R4 resources (plain dicts) to one `PatientRecord`: the only module that knows FHIR paths.

Lean on purpose: the population batch calls `record_from_resources` once per patient, millions
of times. Plain dict access, slicing instead of regular expressions, and no objects beyond the
model's own dataclasses.

What is kept, and what is skipped (with a reason shown to the user) is documented on each
`_xxx` function below; resource types other than Patient, Observation, Condition,
MedicationRequest, MedicationStatement, Procedure and Medication are ignored silently.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from typing import Any

from b12ms.errors import InputError
from b12ms.model import (
    Coding,
    Comparator,
    Concept,
    Condition,
    Medication,
    Observation,
    Patient,
    PatientRecord,
    Procedure,
    Quantity,
    Skipped,
)

UCUM = "http://unitsofmeasure.org"

_FINAL_OBSERVATION = frozenset({"final", "amended", "corrected"})
_COMPARATORS: dict[str, Comparator] = {"<": "<", "<=": "<=", ">=": ">=", ">": ">"}
_MED_REQUEST_SKIP = {
    "entered-in-error": "entered in error",
    "cancelled": "status 'cancelled': withdrawn before any dose was given",
    "draft": "status 'draft': not yet issued",
}
_MED_STATEMENT_SKIP = {
    "entered-in-error": "entered in error",
    "not-taken": "status 'not-taken': the medicine was not taken",
}
_PROCEDURE_SKIP = {
    "entered-in-error": "entered in error",
    "not-done": "status 'not-done': the procedure was not done",
}
_CONDITION_SKIP = {
    "entered-in-error": "entered in error",
    "refuted": "refuted",
}
_MALFORMED = "malformed {}: an element has the wrong JSON type"
_CACHE_MAX = 1 << 16  # entries in each of the bounded caches below


class _Skip(Exception):
    """Internal: the resource being read is left out, with this reason."""


# --------------------------------------------------------------------------------------------
# Dates


def parse_fhir_date(value: object) -> dt.date:
    """Parse a FHIR date, dateTime or instant into the calendar date as written.

    "2020" and "2020-05" give the first day of the period; a dateTime gives its own date part,
    never shifted to UTC. Raises ValueError for anything that is not a valid FHIR date(Time).
    The time part must be "Thh:mm:ss"; a zone written "+hhmm" or a time without a zone is
    tolerated (common in real exports, though R4 asks for "+hh:mm").
    """
    if type(value) is not str:
        raise ValueError("not a date string")
    s: str = value
    n = len(s)
    if n == 10 and s[4] == "-" and s[7] == "-" and s.isascii():
        return _fromisoformat(s)
    if n >= 19 and s[10] == "T" and s[4] == "-" and s[7] == "-" and s[13] == ":" and s.isascii():
        try:
            return _datetime_fromisoformat(s).date()
        except ValueError:
            _check_time(s)  # leap second "...:60", which Python does not parse
            return _fromisoformat(s[:10])
    if n == 7 and s[4] == "-" and s.isascii() and s[:4].isdigit() and s[5:].isdigit():
        return dt.date(int(s[:4]), int(s[5:]), 1)
    if n == 4 and s.isascii() and s.isdigit():
        return dt.date(int(s), 1, 1)
    raise ValueError("not a FHIR date")


_fromisoformat = dt.date.fromisoformat
_datetime_fromisoformat = dt.datetime.fromisoformat


def _check_time(s: str) -> None:
    """Check the "Thh:mm:ss[.fff][Z|+hh:mm|-hh:mm]" tail of a dateTime; raise ValueError."""
    if (
        s[10] != "T"
        or len(s) < 19
        or s[13] != ":"
        or s[16] != ":"
        or not (s[11:13] + s[14:16] + s[17:19]).isdigit()
        or s[11:13] > "23"
        or s[14:16] > "59"
        or s[17:19] > "60"
    ):
        raise ValueError("bad time")
    rest = s[19:]
    if rest[:1] == ".":
        i = 1
        while i < len(rest) and rest[i].isdigit():
            i += 1
        if i == 1:
            raise ValueError("bad fraction")
        rest = rest[i:]
    if not rest or rest == "Z":
        return
    if (
        len(rest) != 6
        or rest[0] not in "+-"
        or rest[3] != ":"
        or not (rest[1:3] + rest[4:]).isdigit()
        or rest[1:3] > "14"
        or rest[4:] > "59"
    ):
        raise ValueError("bad time zone")


# Within one record the same dateTime string recurs (a condition's onset and recordedDate,
# everything done at one encounter): valid strings are remembered. Bounded: cleared when full.
_DATES: dict[str, dt.date] = {}


def _date(value: Any, element: str) -> dt.date | None:
    """Date of an optional element; an invalid one skips the resource, naming the element."""
    if value is None:
        return None
    if type(value) is str:
        day = _DATES.get(value)
        if day is not None:
            return day
    try:
        day = parse_fhir_date(value)
    except ValueError:
        shown = repr(value) if type(value) is str and len(value) <= 40 else "value"
        raise _Skip(f"invalid date {shown} in {element}") from None
    if len(_DATES) >= _CACHE_MAX:
        _DATES.clear()
    _DATES[value] = day
    return day


# --------------------------------------------------------------------------------------------
# Data types


# Concepts and quantities repeat across a population (the same LOINC code, the same reference
# range); the model's objects are immutable, so equal ones are shared. Bounded: cleared when full.
_CONCEPTS: dict[tuple[Any, ...], Concept] = {}
_QUANTITIES: dict[tuple[Any, ...], Quantity] = {}


def _concept(cc: Any) -> Concept | None:
    """CodeableConcept to Concept with every coding and the text; None when it holds neither."""
    if not cc:
        return None
    codings = cc.get("coding")
    text = cc.get("text")
    if not codings:
        return Concept((), text) if text else None
    if len(codings) == 1:
        c = codings[0]
        key: tuple[Any, ...] = (text, c.get("system"), c.get("code"), c.get("display"))
    else:
        key = (text, *[(c.get("system"), c.get("code"), c.get("display")) for c in codings])
    concept = _CONCEPTS.get(key)
    if concept is None:
        concept = Concept(
            tuple([Coding(c.get("system"), c.get("code"), c.get("display")) for c in codings]),
            text,
        )
        if len(_CONCEPTS) >= _CACHE_MAX:
            _CONCEPTS.clear()
        _CONCEPTS[key] = concept
    return concept


def _first_code(cc: Any) -> str | None:
    """The first code of a CodeableConcept (a status such as clinicalStatus), if any."""
    if cc:
        for c in cc.get("coding") or ():
            code = c.get("code")
            if code:
                return code  # type: ignore[no-any-return]
    return None


def _codes(ccs: Any) -> tuple[str, ...]:
    """Every coding's code across a list of CodeableConcepts (interpretation, category)."""
    if not ccs:
        return ()
    if len(ccs) == 1 and (codings := ccs[0].get("coding")) and len(codings) == 1:
        code = codings[0].get("code")
        return (code,) if code else ()
    return tuple([c["code"] for cc in ccs for c in cc.get("coding") or () if c.get("code")])


def _quantity(q: Any, element: str) -> Quantity:
    """Quantity: value must be a finite number; unit is the UCUM code, else unit, else code."""
    value = q.get("value")
    if type(value) is not float and type(value) is not int:  # bool is not a number here
        if value is None:
            raise _Skip(f"{element} has no value")
        raise _Skip(f"{element}.value is not a number")
    key = (value, q.get("code"), q.get("system"), q.get("unit"), q.get("comparator"))
    quantity = _QUANTITIES.get(key)
    if quantity is not None:
        return quantity
    value = float(value)
    if not math.isfinite(value):
        raise _Skip(f"{element}.value is not a finite number")
    _, code, system, unit, comparator = key
    if (code and system == UCUM) or not unit:
        unit = code
    if comparator is not None:
        comparator = _COMPARATORS.get(comparator)
        if comparator is None:
            raise _Skip(f"{element}.comparator is not one of <, <=, >=, >")
    quantity = Quantity(value, unit, comparator)
    if len(_QUANTITIES) >= _CACHE_MAX:
        _QUANTITIES.clear()
    _QUANTITIES[key] = quantity
    return quantity


def _boolean(value: Any) -> bool | None:
    """valueBoolean: true, false or absent."""
    if value is None or type(value) is bool:
        return value
    raise _Skip("valueBoolean is not true or false")


def reference_id(reference: Any, rtype: str) -> str | None:
    """The id in a reference string to `rtype`: "T/x", ".../T/x/_history/1" or "urn:uuid:x".

    The one reading of references in b12ms: the population screen groups resources by patient
    with it, so a resource is grouped with the patient the assessment attributes it to.
    """
    if type(reference) is not str:
        return None
    s = reference
    if s.startswith(rtype) and s[len(rtype) : len(rtype) + 1] == "/":
        return s[len(rtype) + 1 :].partition("/")[0] or None
    if s.startswith("urn:uuid:"):
        return s[9:] or None
    marker = "/" + rtype + "/"
    i = s.rfind(marker)
    if i >= 0:
        return s[i + len(marker) :].partition("/")[0] or None
    return None


def _reference_id(ref: Any, rtype: str) -> str | None:
    """The id in a Reference element to `rtype` (see `reference_id`)."""
    if not ref:
        return None
    return reference_id(ref.get("reference"), rtype)


# --------------------------------------------------------------------------------------------
# Resources


def _observation(r: Mapping[str, Any], ref: str) -> Observation:
    """Observation: final/amended/corrected only; needs a code; components and members ignored."""
    status = r.get("status")
    if status not in _FINAL_OBSERVATION:
        if status == "entered-in-error":
            raise _Skip("entered in error")
        if status is None:
            raise _Skip("no status, so not a final result")
        raise _Skip(f"status {status!r} is not a final result")
    code = _concept(r.get("code"))
    if code is None:
        raise _Skip("no code")
    if (v := r.get("effectiveDateTime")) is not None:
        effective = _date(v, "effectiveDateTime")
    elif (p := r.get("effectivePeriod")) and p.get("start") is not None:
        effective = _date(p["start"], "effectivePeriod.start")
    elif (v := r.get("effectiveInstant")) is not None:
        effective = _date(v, "effectiveInstant")
    else:
        effective = _date(r.get("issued"), "issued")
    value_concept = value_text = value_boolean = None
    q = r.get("valueQuantity")
    if q is None:  # value[x] is a choice: at most one is present
        value_concept = _concept(r.get("valueCodeableConcept"))
        value_text = r.get("valueString")
        value_boolean = _boolean(r.get("valueBoolean"))
    rr = r.get("referenceRange")
    low = high = None
    reference_text = None
    if rr:
        rr0 = rr[0]
        if (b := rr0.get("low")) is not None:
            low = _quantity(b, "referenceRange.low")
        if (b := rr0.get("high")) is not None:
            high = _quantity(b, "referenceRange.high")
        reference_text = rr0.get("text")
    return Observation(
        ref=ref,
        code=code,
        status=status,
        effective=effective,
        quantity=None if q is None else _quantity(q, "valueQuantity"),
        value_concept=value_concept,
        value_text=value_text,
        value_boolean=value_boolean,
        reference_low=low,
        reference_high=high,
        reference_text=reference_text,
        interpretation=_codes(r.get("interpretation")),
        category=_codes(r.get("category")),
    )


def _condition(r: Mapping[str, Any], ref: str) -> Condition:
    """Condition: needs a code; entered-in-error and refuted skipped; onsetString ignored."""
    verification = _first_code(r.get("verificationStatus"))
    if verification in _CONDITION_SKIP:
        raise _Skip(_CONDITION_SKIP[verification])
    code = _concept(r.get("code"))
    if code is None:
        raise _Skip("no code")
    if (v := r.get("onsetDateTime")) is not None:
        onset = _date(v, "onsetDateTime")
    elif p := r.get("onsetPeriod"):
        onset = _date(p.get("start"), "onsetPeriod.start")
    else:
        onset = None
    if (v := r.get("abatementDateTime")) is not None:
        abatement = _date(v, "abatementDateTime")
    elif p := r.get("abatementPeriod"):
        if p.get("end") is not None:
            abatement = _date(p["end"], "abatementPeriod.end")
        else:
            abatement = _date(p.get("start"), "abatementPeriod.start")
    else:
        abatement = None
    return Condition(
        ref=ref,
        code=code,
        clinical_status=_first_code(r.get("clinicalStatus")),
        verification_status=verification,
        onset=onset,
        abatement=abatement,
        recorded=_date(r.get("recordedDate"), "recordedDate"),
    )


def _medication_concept(r: Mapping[str, Any], medications: Mapping[str, Any]) -> Concept:
    """medicationCodeableConcept, else the referenced Medication's code, else the display text."""
    concept = _concept(r.get("medicationCodeableConcept"))
    if concept is not None:
        return concept
    mref = r.get("medicationReference")
    if not mref:
        raise _Skip("no medication")
    target = None
    s = mref.get("reference")
    if type(s) is str and s[:1] == "#":
        for c in r.get("contained") or ():
            if c.get("resourceType") == "Medication" and c.get("id") == s[1:]:
                target = c
                break
    else:
        mid = _reference_id(mref, "Medication")
        if mid is not None:
            target = medications.get(mid)
    if target is not None:
        concept = _concept(target.get("code"))
        if concept is not None:
            return concept
    display = mref.get("display")
    if display:
        return Concept((), display)
    raise _Skip("no medication code or name")


def _medication_request(
    r: Mapping[str, Any], ref: str, medications: Mapping[str, Any]
) -> Medication:
    """MedicationRequest: entered-in-error, cancelled and draft skipped; validityPeriod dates."""
    status = r.get("status")
    if status in _MED_REQUEST_SKIP:
        raise _Skip(_MED_REQUEST_SKIP[status])
    concept = _medication_concept(r, medications)
    start = end = None
    if (dr := r.get("dispenseRequest")) and (vp := dr.get("validityPeriod")):
        start = _date(vp.get("start"), "dispenseRequest.validityPeriod.start")
        end = _date(vp.get("end"), "dispenseRequest.validityPeriod.end")
    if start is None:
        start = _date(r.get("authoredOn"), "authoredOn")
    return Medication(ref=ref, medication=concept, status=status, start=start, end=end)


def _medication_statement(
    r: Mapping[str, Any], ref: str, medications: Mapping[str, Any]
) -> Medication:
    """MedicationStatement: entered-in-error and not-taken skipped; effective period dates."""
    status = r.get("status")
    if status in _MED_STATEMENT_SKIP:
        raise _Skip(_MED_STATEMENT_SKIP[status])
    concept = _medication_concept(r, medications)
    start = end = None
    if p := r.get("effectivePeriod"):
        start = _date(p.get("start"), "effectivePeriod.start")
        end = _date(p.get("end"), "effectivePeriod.end")
    if start is None:
        if (v := r.get("effectiveDateTime")) is not None:
            start = _date(v, "effectiveDateTime")
        else:
            start = _date(r.get("dateAsserted"), "dateAsserted")
    return Medication(ref=ref, medication=concept, status=status, start=start, end=end)


def _procedure(r: Mapping[str, Any], ref: str) -> Procedure:
    """Procedure: entered-in-error and not-done skipped; needs a code."""
    status = r.get("status")
    if status in _PROCEDURE_SKIP:
        raise _Skip(_PROCEDURE_SKIP[status])
    code = _concept(r.get("code"))
    if code is None:
        raise _Skip("no code")
    if (v := r.get("performedDateTime")) is not None:
        performed = _date(v, "performedDateTime")
    elif p := r.get("performedPeriod"):
        performed = _date(p.get("start"), "performedPeriod.start")
    else:
        performed = None
    return Procedure(ref=ref, code=code, status=status, performed=performed)


def _patient(r: Mapping[str, Any], ref: str, skipped: list[Skipped]) -> Patient:
    """Patient: a bad birth or death date is dropped (and reported); the patient is kept."""
    try:
        birth = _date(r.get("birthDate"), "birthDate")
    except _Skip as e:
        skipped.append(Skipped(ref, f"{e}: birth date not used"))
        birth = None
    deceased = r.get("deceasedBoolean") is True
    deceased_date = None
    if (v := r.get("deceasedDateTime")) is not None:
        deceased = True
        try:
            deceased_date = _date(v, "deceasedDateTime")
        except _Skip as e:
            skipped.append(Skipped(ref, f"{e}: date of death not used"))
    gender = r.get("gender")
    return Patient(
        id=r.get("id"),
        birth_date=birth,
        sex=gender if type(gender) is str else None,
        deceased=deceased,
        deceased_date=deceased_date,
    )


_CLINICAL = ("Observation", "Condition", "MedicationRequest", "MedicationStatement", "Procedure")


def record_from_resources(
    resources: Iterable[Mapping[str, Any]],
    *,
    skipped: Iterable[Skipped] = (),
    source: str | None = None,
) -> PatientRecord:
    """Read one patient's FHIR R4 resources into a PatientRecord.

    `skipped` (entries the reader already left out) come first in the record's `skipped`.
    Raises InputError when the resources are about more than one patient; `source` (a file
    name) prefixes that message.
    """
    skips = list(skipped)
    patients: list[tuple[int, Mapping[str, Any]]] = []
    clinical: list[tuple[int, str, Mapping[str, Any]]] = []
    medications: dict[str, Any] = {}
    for n, r in enumerate(resources, 1):
        try:
            rtype = r.get("resourceType")
        except AttributeError:
            skips.append(Skipped(f"resource {n}", "not a JSON object"))
            continue
        if rtype in _CLINICAL:
            clinical.append((n, rtype, r))
        elif rtype == "Patient":
            patients.append((n, r))
        elif rtype == "Medication":
            mid = r.get("id")
            if type(mid) is str:
                medications[mid] = r
        elif rtype is None:
            skips.append(Skipped(f"resource {n}", "no resourceType"))

    patient_id, patient = _the_patient(patients, clinical, skips, source)
    patient_ref = f"Patient/{patient_id}"

    observations: list[Observation] = []
    conditions: list[Condition] = []
    meds: list[Medication] = []
    procedures: list[Procedure] = []
    for n, rtype, r in clinical:
        rid = r.get("id")
        ref = f"{rtype}/{rid}" if rid and type(rid) is str else f"{rtype}#{n}"
        try:
            if patient_id is not None:
                subject = r.get("subject") or r.get("patient")
                if subject and subject.get("reference") != patient_ref:
                    owner = _reference_id(subject, "Patient")
                    if owner is not None and owner != patient_id:
                        raise _Skip("belongs to another patient")
            if rtype == "Observation":
                observations.append(_observation(r, ref))
            elif rtype == "Condition":
                conditions.append(_condition(r, ref))
            elif rtype == "MedicationRequest":
                meds.append(_medication_request(r, ref, medications))
            elif rtype == "MedicationStatement":
                meds.append(_medication_statement(r, ref, medications))
            else:
                procedures.append(_procedure(r, ref))
        except _Skip as e:
            skips.append(Skipped(ref, str(e)))
        except (AttributeError, TypeError, KeyError, IndexError):
            skips.append(Skipped(ref, _MALFORMED.format(rtype)))

    return PatientRecord(
        patient=patient,
        observations=tuple(observations),
        conditions=tuple(conditions),
        medications=tuple(meds),
        procedures=tuple(procedures),
        skipped=tuple(skips),
    )


def _the_patient(
    patients: list[tuple[int, Mapping[str, Any]]],
    clinical: list[tuple[int, str, Mapping[str, Any]]],
    skips: list[Skipped],
    source: str | None,
) -> tuple[str | None, Patient]:
    """The one patient of the input and their id; InputError if the input holds several."""
    prefix = f"{source}: " if source else ""
    if patients:
        ids = {r.get("id") for _, r in patients}
        count = len(ids - {None}) + sum(1 for _, r in patients if r.get("id") is None)
        if count > 1:
            raise InputError(
                f"{prefix}{count} patients in one input; b12ms assesses one patient at a time, "
                "use `b12ms screen` for populations"
            )
        n, r = patients[0]
        pid = r.get("id")
        pid = pid if type(pid) is str and pid else None
        ref = f"Patient/{pid}" if pid else f"Patient#{n}"
        try:
            return pid, _patient(r, ref, skips)
        except (AttributeError, TypeError):
            skips.append(Skipped(ref, _MALFORMED.format("Patient") + "; only its id is used"))
            return pid, Patient(id=pid)
    # No Patient resource: the references must agree on one patient.
    owners: set[str] = set()
    for _, _, r in clinical:
        try:
            owner = _reference_id(r.get("subject") or r.get("patient"), "Patient")
        except AttributeError:
            continue
        if owner is not None:
            owners.add(owner)
    if len(owners) > 1:
        raise InputError(
            f"{prefix}{len(owners)} patients referenced in one input; b12ms assesses one "
            "patient at a time, use `b12ms screen` for populations"
        )
    pid = next(iter(owners)) if owners else None
    return pid, Patient(id=pid)
