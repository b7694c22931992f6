"""The patient record the engine reads: small frozen dataclasses, free of FHIR and of I/O.

Every input edge (FHIR Bundle or NDJSON, the simple patient form, clinical notes) turns its
input into one `PatientRecord`; the engine never sees anything else. Values are kept as the
record wrote them (unit strings, status codes, codings); interpreting them is the engine's
job, with the knowledge base. Dates are calendar dates as written in the source (the local
date part of a FHIR dateTime, never shifted to UTC): a B12 result taken late on 1 March in
New York is a 1 March result.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Literal

Comparator = Literal["<", "<=", ">=", ">"]


@dataclasses.dataclass(frozen=True, slots=True)
class Coding:
    """One code from one code system, as FHIR `Coding`."""

    system: str | None
    code: str | None
    display: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Concept:
    """A coded concept with optional free text, as FHIR `CodeableConcept`."""

    codings: tuple[Coding, ...] = ()
    text: str | None = None
    # Concepts are dictionary keys in the engine's memos; hashing a nested tuple every time
    # costs more than the lookups themselves, so the hash is computed once (the object is frozen).
    _hash: int | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = hash((self.codings, self.text))
            object.__setattr__(self, "_hash", h)
        return h

    def names(self) -> tuple[str, ...]:
        """Every human-readable name of the concept: the text, then each coding's display."""
        out = [self.text] if self.text else []
        out.extend(c.display for c in self.codings if c.display)
        return tuple(out)


@dataclasses.dataclass(frozen=True, slots=True)
class Quantity:
    """A measured amount. `unit` is the UCUM code when the source gave one, else its unit text."""

    value: float
    unit: str | None
    comparator: Comparator | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """A laboratory result, a social-history entry or a recorded finding."""

    ref: str  # "Observation/<id>": how findings point back at the record
    code: Concept
    status: str | None
    effective: dt.date | None
    quantity: Quantity | None = None
    value_concept: Concept | None = None  # valueCodeableConcept, e.g. "Positive"
    value_text: str | None = None  # valueString
    value_boolean: bool | None = None
    reference_low: Quantity | None = None
    reference_high: Quantity | None = None
    reference_text: str | None = None
    interpretation: tuple[str, ...] = ()  # v3 ObservationInterpretation codes: H, L, POS, ...
    category: tuple[str, ...] = ()  # observation-category codes: laboratory, social-history, ...


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Condition:
    """A diagnosis, problem, symptom or status (e.g. bariatric surgery status)."""

    ref: str
    code: Concept
    clinical_status: str | None = None  # active, recurrence, relapse, inactive, remission, resolved
    verification_status: str | None = None  # confirmed, unconfirmed, provisional, refuted, ...
    onset: dt.date | None = None
    abatement: dt.date | None = None
    recorded: dt.date | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Medication:
    """A medicine the patient was prescribed (MedicationRequest) or takes (MedicationStatement)."""

    ref: str
    medication: Concept
    status: str | None
    start: dt.date | None = None  # period start, else authoredOn / effectiveDateTime / dateAsserted
    end: dt.date | None = None  # period end, when the record gives one


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Procedure:
    """An operation or other procedure."""

    ref: str
    code: Concept
    status: str | None
    performed: dt.date | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class NoteMention:
    """A concept found in free text (clinical notes edge); only present, patient-own mentions."""

    ref: str  # the note, e.g. "DocumentReference/<id>"
    concept_id: str  # knowledge-base id, e.g. "symptom.paraesthesia" or "risk.metformin"
    text: str  # the span as written
    start: int  # character offsets of the span within the note
    end: int
    date: dt.date | None = None
    sentence: str | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Patient:
    """Who the record is about."""

    id: str | None = None
    birth_date: dt.date | None = None
    age_years: int | None = None  # when only an age is known (patient form, web page)
    sex: str | None = None  # FHIR administrative gender: female, male, other, unknown
    deceased: bool = False
    deceased_date: dt.date | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Skipped:
    """An input entry left out of the assessment, and why (shown to the user, never silent)."""

    resource: str  # "Observation/obs-7", or "line 12" when no id could be read
    reason: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PatientRecord:
    """Everything known about one patient, as read from one input."""

    patient: Patient = dataclasses.field(default_factory=Patient)
    observations: tuple[Observation, ...] = ()
    conditions: tuple[Condition, ...] = ()
    medications: tuple[Medication, ...] = ()
    procedures: tuple[Procedure, ...] = ()
    mentions: tuple[NoteMention, ...] = ()
    skipped: tuple[Skipped, ...] = ()
