"""Tiny builders for `PatientRecord`s, so rule tests read like clinical vignettes."""

from __future__ import annotations

import datetime as dt

from b12ms.model import (
    Coding,
    Concept,
    Condition,
    Medication,
    Observation,
    Patient,
    PatientRecord,
    Quantity,
)

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
AS_OF = dt.date(2026, 11, 1)
LAB_CODES = {
    "total_b12": "2132-9",
    "active_b12": "72160-5",
    "mma": "13964-2",
    "homocysteine": "13965-9",
    "folate": "2284-8",
    "mcv": "787-2",
    "haemoglobin": "718-7",
}
_counter = iter(range(10**9))


def lab(
    test: str,
    value: float,
    unit: str,
    when: dt.date = dt.date(2026, 9, 1),
    *,
    comparator: str | None = None,
    high: float | None = None,
    low: float | None = None,
) -> Observation:
    """A final laboratory result."""
    return Observation(
        ref=f"Observation/{test}-{next(_counter)}",
        code=Concept((Coding(LOINC, LAB_CODES[test]),)),
        status="final",
        effective=when,
        quantity=Quantity(value, unit, comparator),  # type: ignore[arg-type]
        reference_high=Quantity(high, unit) if high is not None else None,
        reference_low=Quantity(low, unit) if low is not None else None,
    )


def condition(text: str, onset: dt.date = dt.date(2020, 1, 1), **kw: object) -> Condition:
    """An active condition named in free text."""
    return Condition(
        ref=f"Condition/{next(_counter)}",
        code=Concept(text=text),
        clinical_status="active",
        onset=onset,
        **kw,  # type: ignore[arg-type]
    )


def medicine(text: str, start: dt.date = dt.date(2020, 1, 1), status: str = "active") -> Medication:
    """A medicine named in free text."""
    return Medication(
        ref=f"MedicationRequest/{next(_counter)}",
        medication=Concept(text=text),
        status=status,
        start=start,
    )


def record(
    *items: object, birth: dt.date = dt.date(1975, 6, 1), sex: str = "female"
) -> PatientRecord:
    """A record from a mix of observations, conditions and medicines."""
    return PatientRecord(
        patient=Patient(id="test", birth_date=birth, sex=sex),
        observations=tuple(i for i in items if isinstance(i, Observation)),
        conditions=tuple(i for i in items if isinstance(i, Condition)),
        medications=tuple(i for i in items if isinstance(i, Medication)),
    )
