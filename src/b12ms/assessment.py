"""What an assessment says: frozen dataclasses, and their JSON form (the stable contract).

The JSON contract (`Assessment.to_dict`) keeps these names; fields may be added, never renamed
or removed. Treat these objects as read-only. They are plain slotted dataclasses, not frozen
ones: an assessment builds dozens of them, and a frozen dataclass costs about three times as
much to construct (2.0 vs 0.64 µs measured for Evidence), which was a sixth of the time of a
whole assessment. Values that are absent are omitted inside evidence entries, but the contract's own
top-level fields are always present (null where unknown).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Literal

Band = Literal["low", "indeterminate", "normal", "untested"]
ConclusionName = Literal[
    "deficiency_likely", "deficiency_possible", "deficiency_unlikely", "not_assessed"
]
FindingKind = Literal["risk_factor", "symptom", "ms_context", "caveat", "red_flag"]
Urgency = Literal["routine", "soon", "urgent"]

URGENCY_ORDER: dict[str, int] = {"urgent": 0, "soon": 1, "routine": 2}
KIND_ORDER: dict[str, int] = {
    "red_flag": 0,
    "caveat": 1,
    "ms_context": 2,
    "symptom": 3,
    "risk_factor": 4,
}


@dataclasses.dataclass(slots=True, kw_only=True)
class Evidence:
    """Where in the record a finding comes from."""

    resource: str
    code: str | None = None
    system: str | None = None
    display: str | None = None
    date: dt.date | None = None
    value: float | None = None
    unit: str | None = None
    text: str | None = None  # a note span, or a note about the evidence

    def to_dict(self) -> dict[str, Any]:
        """JSON form, omitting absent values."""
        out: dict[str, Any] = {"resource": self.resource}
        for key in ("code", "system", "display", "value", "unit", "text"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.date is not None:
            out["date"] = self.date.isoformat()
        return out


@dataclasses.dataclass(slots=True, kw_only=True)
class Finding:
    """A risk factor, symptom, MS-context item, caveat or red flag found in the record."""

    id: str
    kind: FindingKind
    label: str
    summary: str
    evidence: tuple[Evidence, ...]
    sources: tuple[str, ...]
    evidence_status: str = "established"  # established | contested | research
    counts_for_testing: bool | None = None  # risk factors: whether NICE box 2 lists this route
    since: dt.date | None = None  # medicine risk factors: earliest order of that medicine

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "label": self.label,
            "summary": self.summary,
            "evidence": [e.to_dict() for e in self.evidence],
            "sources": list(self.sources),
            "evidence_status": self.evidence_status,
        }
        if self.counts_for_testing is not None:
            out["nice_common_risk_factor"] = self.counts_for_testing
        if self.since is not None:
            out["since"] = self.since.isoformat()
        return out


@dataclasses.dataclass(slots=True, kw_only=True)
class Recommendation:
    """What to do next."""

    id: str
    urgency: Urgency
    action: str
    text: str
    sources: tuple[str, ...]
    because: tuple[str, ...] = ()  # finding ids or status facts behind it
    orders: tuple[str, ...] = ()  # lab ids, for test recommendations
    evidence_status: str = "established"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out: dict[str, Any] = {
            "id": self.id,
            "urgency": self.urgency,
            "action": self.action,
            "text": self.text,
            "sources": list(self.sources),
            "because": list(self.because),
            "evidence_status": self.evidence_status,
        }
        if self.orders:
            out["orders"] = list(self.orders)
        return out


@dataclasses.dataclass(slots=True, kw_only=True)
class Reading:
    """One laboratory result as b12ms read it."""

    test: str  # lab id, e.g. total_b12
    label: str
    value: float
    unit: str
    value_si: float | None
    si_unit: str | None
    date: dt.date
    resource: str
    comparator: str | None = None
    band: str | None = None  # for B12 results
    flag: str | None = None  # raised | low | normal | positive | negative | unknown
    reference_range: str | None = None  # as used, e.g. "<= 0.40 umol/L (laboratory)"
    reference_low_si: float | None = None  # the limits used, in si_unit (lab range or default)
    reference_high_si: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out: dict[str, Any] = {
            "test": self.test,
            "label": self.label,
            "value": self.value,
            "unit": self.unit,
            "value_si": self.value_si,
            "si_unit": self.si_unit,
            "date": self.date.isoformat(),
            "resource": self.resource,
        }
        for key in (
            "comparator",
            "band",
            "flag",
            "reference_range",
            "reference_low_si",
            "reference_high_si",
        ):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclasses.dataclass(slots=True, kw_only=True)
class Exposure:
    """A course of B12 replacement found in the record."""

    resource: str
    display: str | None
    start: dt.date | None
    end: dt.date | None  # as recorded, or as b12ms reads a stopped order (see knowledge README)
    current: bool  # running at the as-of date or within the recent-result window

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "resource": self.resource,
            "display": self.display,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "current": self.current,
        }


@dataclasses.dataclass(slots=True, kw_only=True)
class B12Status:
    """How the B12 results read."""

    band: Band
    conclusion: ConclusionName
    basis: tuple[Reading, ...]
    functional_markers: tuple[Reading, ...]
    functional_raised: bool
    sources: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "band": self.band,
            "conclusion": self.conclusion,
            "basis": [r.to_dict() for r in self.basis],
            "functional_markers": [r.to_dict() for r in self.functional_markers],
            "functional_marker_raised": self.functional_raised,
            "sources": list(self.sources),
        }


@dataclasses.dataclass(slots=True, kw_only=True)
class PatientSummary:
    """Who was assessed."""

    id: str | None
    age: int | None
    sex: str | None
    deceased: bool = False


@dataclasses.dataclass(slots=True, kw_only=True)
class Skip:
    """An input entry left out, and why."""

    resource: str
    reason: str


@dataclasses.dataclass(slots=True, kw_only=True)
class Assessment:
    """The full result for one patient at one as-of date."""

    patient: PatientSummary
    as_of: dt.date
    kb_version: str
    kb_sha256: str
    guideline: str
    b12_status: B12Status
    should_test: bool
    should_test_reason: str
    findings: tuple[Finding, ...]
    recommendations: tuple[Recommendation, ...]
    skipped: tuple[Skip, ...]
    readings: tuple[Reading, ...] = ()  # every lab result read, oldest first (charts, reports)
    b12_treatments: tuple[Exposure, ...] = ()  # B12 replacement courses, oldest first

    def finding(self, finding_id: str) -> Finding | None:
        """The finding with this id, if present."""
        return next((f for f in self.findings if f.id == finding_id), None)

    def recommendation(self, rec_id: str) -> Recommendation | None:
        """The recommendation with this id, if present."""
        return next((r for r in self.recommendations if r.id == rec_id), None)

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON contract."""
        return {
            "patient": {
                "id": self.patient.id,
                "age": self.patient.age,
                "sex": self.patient.sex,
                "deceased": self.patient.deceased,
            },
            "as_of": self.as_of.isoformat(),
            "knowledge_base": {"version": self.kb_version, "sha256": self.kb_sha256},
            "guideline": self.guideline,
            "b12_status": self.b12_status.to_dict(),
            "should_test": self.should_test,
            "should_test_reason": self.should_test_reason,
            "findings": [f.to_dict() for f in self.findings],
            "recommendations": [r.to_dict() for r in self.recommendations],
            "skipped": [{"resource": s.resource, "reason": s.reason} for s in self.skipped],
            "readings": [r.to_dict() for r in self.readings],
            "b12_treatments": [t.to_dict() for t in self.b12_treatments],
        }
