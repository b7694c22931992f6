"""Population care gaps and worklist rows, read from one patient's assessment. Pure functions.

A care gap is something a quality team should act on: a patient never tested though at risk,
an abnormal result nobody acted on, long-term metformin never monitored. Each gap's wording,
priority and settings live in knowledge/care_gaps.toml; the rules that decide whether it
applies are below. The worklist row is the stable, flat record the population screen writes
(CSV or Parquet), identical whichever engine produced it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from b12ms.assessment import Assessment
from b12ms.dates import shift_months
from b12ms.knowledge import Knowledge

B12_TESTS = frozenset({"total_b12", "active_b12"})
FUNCTIONAL_TESTS = frozenset({"mma", "homocysteine"})

# Columns of the worklist, in order. Stable: add columns at the end, never rename.
WORKLIST_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "priority",
    "care_gaps",
    "band",
    "conclusion",
    "latest_b12_test",
    "latest_b12_value",
    "latest_b12_unit",
    "latest_b12_value_si",
    "latest_b12_date",
    "should_test",
    "ms",
    "risk_factors",
    "recommendations",
    "urgent",
    "age",
    "sex",
    "as_of",
    "kb_version",
    "ms_like_symptoms",
)


@dataclasses.dataclass(slots=True, kw_only=True)
class CareGap:
    """One care gap found for one patient."""

    id: str
    label: str
    priority: int
    detail: str
    sources: tuple[str, ...]
    evidence_status: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dataclasses.asdict(self) | {"sources": list(self.sources)}


def care_gaps(a: Assessment, kb: Knowledge) -> tuple[CareGap, ...]:
    """The care gaps of one assessed patient, most urgent first (none for the deceased)."""
    if a.patient.deceased:
        return ()
    settings = kb.care_gap_settings
    found: list[tuple[str, str]] = []
    status = a.b12_status
    b12_dates = [r.date for r in a.readings if r.test in B12_TESTS]

    if status.conclusion in ("deficiency_likely", "deficiency_possible") and status.basis:
        result_date = status.basis[0].date
        window_end = shift_months(result_date, int(settings["unaddressed_window_months"].value))
        until = min(window_end, a.as_of)
        treated = any(
            t.start is not None
            and (
                result_date <= t.start <= until
                or (t.start < result_date and (t.end is None or t.end >= result_date))
            )
            for t in a.b12_treatments
        )
        followed = any(
            r.test in FUNCTIONAL_TESTS and result_date < r.date <= until for r in a.readings
        )
        if not treated and not followed:
            found.append(
                (
                    "gap.abnormal_unaddressed",
                    f"{status.conclusion.replace('_', ' ')} on {result_date.isoformat()}; "
                    f"no B12 treatment or follow-up MMA/homocysteine by {until.isoformat()}",
                )
            )
    if a.should_test:
        found.append(("gap.untested_at_risk", a.should_test_reason))
    ms = a.finding("ms.diagnosis") is not None
    ms_like = a.finding("ms.overlapping_symptoms") is not None
    if (ms or ms_like) and not b12_dates:
        found.append(
            (
                "gap.ms_without_b12",
                ("MS diagnosed" if ms else "MS-like symptoms") + "; no B12 result on record",
            )
        )
    metformin = a.finding("risk.metformin")
    if metformin is not None and metformin.since is not None:
        years = (a.as_of - metformin.since).days / 365.25
        monitor_from = shift_months(a.as_of, -int(settings["monitoring_window_months"].value))
        if years >= settings["metformin_years"].value and not any(
            d >= monitor_from for d in b12_dates
        ):
            found.append(
                (
                    "gap.metformin_monitoring",
                    f"metformin since {metformin.since.isoformat()} (about {years:.0f} years); "
                    f"no B12 result since {monitor_from.isoformat()}",
                )
            )
    if a.finding("ms.s1p_modulator") is not None and status.band in ("low", "indeterminate"):
        found.append(("gap.s1p_indeterminate", f"S1P receptor modulator; B12 {status.band}"))

    gaps = [
        CareGap(
            id=gid,
            label=kb.care_gaps[gid].label,
            priority=kb.care_gaps[gid].priority,
            detail=detail,
            sources=kb.care_gaps[gid].sources,
            evidence_status=kb.care_gaps[gid].evidence_status,
        )
        for gid, detail in found
    ]
    return tuple(sorted(gaps, key=lambda g: (g.priority, g.id)))


def row_priority(a: Assessment, gaps: tuple[CareGap, ...]) -> int | None:
    """1 when the assessment has an urgent recommendation, else the most urgent gap's priority;
    None when the patient needs no action."""
    if not gaps:
        return None
    if any(r.urgency == "urgent" for r in a.recommendations):
        return 1
    return min(g.priority for g in gaps)


def worklist_row(a: Assessment, gaps: tuple[CareGap, ...]) -> dict[str, Any] | None:
    """The flat worklist row of a patient who needs action (None when no gap applies)."""
    priority = row_priority(a, gaps)
    if priority is None:
        return None
    basis = a.b12_status.basis[0] if a.b12_status.basis else None
    return {
        "patient_id": a.patient.id,
        "priority": priority,
        "care_gaps": ";".join(g.id for g in gaps),
        "band": a.b12_status.band,
        "conclusion": a.b12_status.conclusion,
        "latest_b12_test": basis.test if basis else None,
        "latest_b12_value": basis.value if basis else None,
        "latest_b12_unit": basis.unit if basis else None,
        "latest_b12_value_si": basis.value_si if basis else None,
        "latest_b12_date": basis.date.isoformat() if basis else None,
        "should_test": a.should_test,
        "ms": a.finding("ms.diagnosis") is not None,
        "risk_factors": ";".join(f.id for f in a.findings if f.kind == "risk_factor"),
        "recommendations": ";".join(r.id for r in a.recommendations),
        "urgent": any(r.urgency == "urgent" for r in a.recommendations),
        "age": a.patient.age,
        "sex": a.patient.sex,
        "as_of": a.as_of.isoformat(),
        "kb_version": a.kb_version,
        "ms_like_symptoms": a.finding("ms.overlapping_symptoms") is not None,
    }
