"""Tiny builders of FHIR R4 resource dicts for the tests: only what each test needs to vary."""

from __future__ import annotations

import json
from typing import Any

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
PID = "p1"


def cc(code: str, system: str = LOINC, display: str | None = None, text: str | None = None):
    """A CodeableConcept with one coding."""
    coding: dict[str, Any] = {"system": system, "code": code}
    if display is not None:
        coding["display"] = display
    out: dict[str, Any] = {"coding": [coding]}
    if text is not None:
        out["text"] = text
    return out


def status_cc(code: str) -> dict[str, Any]:
    """A status CodeableConcept (clinicalStatus, verificationStatus)."""
    return {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/x", "code": code}]}


def qty(value: Any, unit: str = "ng/L", *, ucum: bool = True, **extra: Any) -> dict[str, Any]:
    """A Quantity, UCUM-coded unless told otherwise."""
    out: dict[str, Any] = {"value": value, "unit": unit}
    if ucum:
        out |= {"system": UCUM, "code": unit}
    return out | extra


def patient(pid: str | None = PID, **kw: Any) -> dict[str, Any]:
    """A Patient."""
    out: dict[str, Any] = {"resourceType": "Patient"}
    if pid is not None:
        out["id"] = pid
    return out | kw


def _clinical(rtype: str, rid: str | None, subject: str | None, kw: dict[str, Any]):
    out: dict[str, Any] = {"resourceType": rtype}
    if rid is not None:
        out["id"] = rid
    if subject is not None:
        out["subject"] = {"reference": f"Patient/{subject}"}
    return out | kw


def observation(rid: str | None = "o1", *, subject: str | None = PID, **kw: Any):
    """A final B12 Observation (code 2132-9) unless told otherwise."""
    kw.setdefault("status", "final")
    kw.setdefault("code", cc("2132-9", display="Cobalamin [Mass/volume] in Serum or Plasma"))
    return _clinical("Observation", rid, subject, kw)


def condition(rid: str | None = "c1", *, subject: str | None = PID, **kw: Any):
    """A Condition coded as multiple sclerosis unless told otherwise."""
    kw.setdefault("code", cc("24700007", SNOMED, "Multiple sclerosis"))
    return _clinical("Condition", rid, subject, kw)


def medication_request(rid: str | None = "m1", *, subject: str | None = PID, **kw: Any):
    """An active MedicationRequest for metformin 860975 unless told otherwise."""
    kw.setdefault("status", "active")
    kw.setdefault("intent", "order")
    if "medicationReference" not in kw:
        kw.setdefault("medicationCodeableConcept", cc("860975", RXNORM, "Metformin 500 MG"))
    return _clinical("MedicationRequest", rid, subject, kw)


def medication_statement(rid: str | None = "s1", *, subject: str | None = PID, **kw: Any):
    """An active MedicationStatement for omeprazole unless told otherwise."""
    kw.setdefault("status", "active")
    if "medicationReference" not in kw:
        kw.setdefault("medicationCodeableConcept", cc("7646", RXNORM, "omeprazole"))
    return _clinical("MedicationStatement", rid, subject, kw)


def procedure(rid: str | None = "pr1", *, subject: str | None = PID, **kw: Any):
    """A completed Procedure (sleeve gastrectomy) unless told otherwise."""
    kw.setdefault("status", "completed")
    kw.setdefault("code", cc("445211000124108", SNOMED, "Sleeve gastrectomy"))
    return _clinical("Procedure", rid, subject, kw)


def bundle(*resources: Any, type: str = "collection") -> dict[str, Any]:
    """A Bundle whose entries hold the given resources as they are."""
    return {"resourceType": "Bundle", "type": type, "entry": [{"resource": r} for r in resources]}


def ndjson(*resources: Any) -> bytes:
    """NDJSON bytes, one resource per line."""
    return "".join(json.dumps(r) + "\n" for r in resources).encode()
