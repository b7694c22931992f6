"""Population-level figures gathered while screening, for the report: one small accumulator.

The screen feeds every assessed patient to `PopulationSummary.add`; the report reads
`to_dict()`. Memory stays small: counts, plus one number per tested patient (latest B12 in
pmol/L) and one per metformin user (days since the last B12 result), which for a million
patients is a few megabytes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from typing import Any

from b12ms.assessment import Assessment
from b12ms.care_gaps import CareGap

MS_GROUPS = ("ms", "ms_like", "neither")


def ms_group(a: Assessment) -> str:
    """'ms' (diagnosed), 'ms_like' (MS-like symptoms, no diagnosis) or 'neither'."""
    if a.finding("ms.diagnosis") is not None:
        return "ms"
    if a.finding("ms.overlapping_symptoms") is not None:
        return "ms_like"
    return "neither"


@dataclasses.dataclass(kw_only=True)
class PopulationSummary:
    """Counts and distributions over a screened population."""

    as_of: dt.date
    kb_version: str
    kb_sha256: str
    engine: str
    patients: int = 0  # every patient seen, deceased included
    deceased: int = 0
    on_worklist: int = 0
    gap_counts: Counter[str] = dataclasses.field(default_factory=Counter)
    priority_counts: Counter[int] = dataclasses.field(default_factory=Counter)
    band_counts: dict[str, Counter[str]] = dataclasses.field(
        default_factory=lambda: {g: Counter() for g in MS_GROUPS}
    )
    conclusion_counts: Counter[str] = dataclasses.field(default_factory=Counter)
    latest_b12_pmol: dict[str, list[float]] = dataclasses.field(
        default_factory=lambda: {g: [] for g in MS_GROUPS}
    )
    metformin_users: int = 0
    # Days since the last B12 result for each living metformin user; None = never tested.
    metformin_days_since_b12: list[int | None] = dataclasses.field(default_factory=list)
    should_test: int = 0
    skipped_entries: int = 0  # entries inside records that the engine skipped
    # Filled by the screen itself (not by add): input-level facts.
    resources_read: int = 0
    files_read: int = 0
    malformed_lines: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    seconds: float | None = None

    def add(self, a: Assessment, gaps: tuple[CareGap, ...]) -> None:
        """Count one assessed patient."""
        self.patients += 1
        self.skipped_entries += len(a.skipped)
        if a.patient.deceased:
            self.deceased += 1
            return
        group = ms_group(a)
        status = a.b12_status
        self.band_counts[group][status.band] += 1
        self.conclusion_counts[status.conclusion] += 1
        if (
            status.basis
            and status.basis[0].value_si is not None
            and status.basis[0].test == "total_b12"
        ):
            self.latest_b12_pmol[group].append(status.basis[0].value_si)
        if a.should_test:
            self.should_test += 1
        if a.finding("risk.metformin") is not None:
            self.metformin_users += 1
            dates = [r.date for r in a.readings if r.test in ("total_b12", "active_b12")]
            self.metformin_days_since_b12.append((a.as_of - max(dates)).days if dates else None)
        if gaps:
            self.on_worklist += 1
            self.gap_counts.update(g.id for g in gaps)
            priority = min(g.priority for g in gaps)
            if any(r.urgency == "urgent" for r in a.recommendations):
                priority = 1
            self.priority_counts[priority] += 1

    def merge(self, other: PopulationSummary) -> None:
        """Fold another partial summary (e.g. from a Spark partition) into this one."""
        self.patients += other.patients
        self.deceased += other.deceased
        self.on_worklist += other.on_worklist
        self.gap_counts.update(other.gap_counts)
        self.priority_counts.update(other.priority_counts)
        for g in MS_GROUPS:
            self.band_counts[g].update(other.band_counts[g])
            self.latest_b12_pmol[g].extend(other.latest_b12_pmol[g])
        self.conclusion_counts.update(other.conclusion_counts)
        self.metformin_users += other.metformin_users
        self.metformin_days_since_b12.extend(other.metformin_days_since_b12)
        self.should_test += other.should_test
        self.skipped_entries += other.skipped_entries

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (distributions sorted, so engines agree byte for byte)."""
        return {
            "as_of": self.as_of.isoformat(),
            "kb_version": self.kb_version,
            "kb_sha256": self.kb_sha256,
            "engine": self.engine,
            "patients": self.patients,
            "deceased": self.deceased,
            "on_worklist": self.on_worklist,
            "should_test": self.should_test,
            "gap_counts": dict(sorted(self.gap_counts.items())),
            "priority_counts": {str(k): v for k, v in sorted(self.priority_counts.items())},
            "band_counts": {g: dict(sorted(c.items())) for g, c in self.band_counts.items()},
            "conclusion_counts": dict(sorted(self.conclusion_counts.items())),
            "latest_b12_pmol": {g: sorted(v) for g, v in self.latest_b12_pmol.items()},
            "metformin_users": self.metformin_users,
            "metformin_days_since_b12": sorted(
                self.metformin_days_since_b12, key=lambda d: (d is None, d or 0)
            ),
            "skipped_entries": self.skipped_entries,
            "resources_read": self.resources_read,
            "files_read": self.files_read,
            "malformed_lines": self.malformed_lines,
            "seconds": self.seconds,
        }
