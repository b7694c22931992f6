"""Care gaps and worklist rows: each gap when it applies, and when it must not."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from b12ms.care_gaps import WORKLIST_COLUMNS, care_gaps, worklist_row
from b12ms.engine import assess
from b12ms.knowledge import load_knowledge
from b12ms.model import Patient, PatientRecord
from record_builders import AS_OF, condition, lab, medicine, record

KB = load_knowledge()
SYMPTOM = condition("Numbness in both feet", onset=dt.date(2026, 8, 1))


def gaps_of(rec: PatientRecord) -> set[str]:
    return {g.id for g in care_gaps(assess(rec, KB, as_of=AS_OF), KB)}


class TestGaps:
    def test_every_gap_has_a_rule(self) -> None:
        """Every care gap of the knowledge base is decided somewhere in care_gaps.py."""
        source = (Path(__file__).parent.parent / "src/b12ms/care_gaps.py").read_text()
        assert set(KB.care_gaps) == set(re.findall(r'"(gap\.[a-z0-9_]+)"', source))

    def test_untested_at_risk(self) -> None:
        """Symptom + common risk factor + no result: untested at risk."""
        assert "gap.untested_at_risk" in gaps_of(record(SYMPTOM, medicine("omeprazole 20 MG")))

    def test_ms_never_tested(self) -> None:
        """MS with no B12 result ever is a gap, even without other risk factors."""
        assert gaps_of(record(condition("Multiple sclerosis"))) == {"gap.ms_without_b12"}

    def test_ms_with_old_result_is_not_never_tested(self) -> None:
        """MS with any B12 result on record is not 'never tested'."""
        old = lab("total_b12", 500, "ng/L", dt.date(2019, 1, 1))
        assert "gap.ms_without_b12" not in gaps_of(record(condition("Multiple sclerosis"), old))

    def test_abnormal_unaddressed(self) -> None:
        """A low result with no treatment or follow-up test after it is unaddressed."""
        rec = record(lab("total_b12", 150, "ng/L", dt.date(2026, 3, 1)))
        assert "gap.abnormal_unaddressed" in gaps_of(rec)

    def test_abnormal_treated_within_window(self) -> None:
        """Treatment started within 3 months of the abnormal result addresses it."""
        rec = record(
            lab("total_b12", 150, "ng/L", dt.date(2026, 3, 1)),
            medicine("hydroxocobalamin 1 MG/ML injection", start=dt.date(2026, 4, 10)),
        )
        assert "gap.abnormal_unaddressed" not in gaps_of(rec)

    def test_abnormal_treated_too_late(self) -> None:
        """Treatment only after the 3-month window leaves the gap."""
        rec = record(
            lab("total_b12", 150, "ng/L", dt.date(2026, 3, 1)),
            medicine("hydroxocobalamin 1 MG/ML injection", start=dt.date(2026, 8, 1)),
        )
        assert "gap.abnormal_unaddressed" in gaps_of(rec)

    def test_possible_followed_by_mma(self) -> None:
        """An indeterminate result followed by an MMA test within the window is addressed."""
        rec = record(
            lab("total_b12", 250, "ng/L", dt.date(2026, 3, 1)),
            lab("mma", 0.2, "umol/L", dt.date(2026, 4, 1)),
        )
        assert "gap.abnormal_unaddressed" not in gaps_of(rec)

    def test_normal_result_is_no_gap(self) -> None:
        """A normal result with nothing else is no care gap."""
        assert gaps_of(record(lab("total_b12", 500, "ng/L"))) == set()

    def test_metformin_five_years_unmonitored(self) -> None:
        """Metformin since 2019, renewed yearly, with no B12 in 12 months, is a gap; the
        duration counts every yearly order, not only the current one."""
        orders = [
            medicine(
                "24 HR Metformin hydrochloride 500 MG", start=dt.date(y, 2, 1), status="stopped"
            )
            for y in range(2019, 2026)
        ]
        orders.append(medicine("24 HR Metformin hydrochloride 500 MG", start=dt.date(2026, 2, 1)))
        a = assess(record(*orders), KB, as_of=AS_OF)
        metformin = a.finding("risk.metformin")
        assert metformin is not None and metformin.since == dt.date(2019, 2, 1)
        assert "gap.metformin_monitoring" in {g.id for g in care_gaps(a, KB)}

    def test_metformin_short_use_is_not_a_gap(self) -> None:
        """Two years of metformin is below the five-year setting."""
        rec = record(medicine("metformin 500 MG", start=dt.date(2024, 11, 1)))
        assert "gap.metformin_monitoring" not in gaps_of(rec)

    def test_metformin_monitored(self) -> None:
        """A B12 result within 12 months is monitoring."""
        rec = record(
            medicine("metformin 500 MG", start=dt.date(2015, 1, 1)), lab("total_b12", 500, "ng/L")
        )
        assert "gap.metformin_monitoring" not in gaps_of(rec)

    def test_s1p_indeterminate_is_research_context(self) -> None:
        """Fingolimod with an indeterminate B12 is flagged as research context, lowest priority."""
        a = assess(
            record(medicine("fingolimod 0.5 MG"), lab("total_b12", 250, "ng/L")), KB, as_of=AS_OF
        )
        gap = next(g for g in care_gaps(a, KB) if g.id == "gap.s1p_indeterminate")
        assert gap.evidence_status == "research"
        assert gap.priority == 5

    def test_deceased_have_no_gaps(self) -> None:
        """A patient who has died is never on a worklist."""
        rec = record(condition("Multiple sclerosis"))
        dead = PatientRecord(
            patient=Patient(
                id="x",
                birth_date=dt.date(1960, 1, 1),
                deceased=True,
                deceased_date=dt.date(2025, 1, 1),
            ),
            conditions=rec.conditions,
        )
        assert gaps_of(dead) == set()


class TestWorklistRow:
    def test_row_has_the_columns_in_order(self) -> None:
        """A row has exactly the worklist columns, in order."""
        a = assess(record(SYMPTOM, medicine("omeprazole 20 MG")), KB, as_of=AS_OF)
        row = worklist_row(a, care_gaps(a, KB))
        assert row is not None
        assert tuple(row) == WORKLIST_COLUMNS

    def test_urgent_recommendation_is_priority_one(self) -> None:
        """Neurological symptoms with a low result put the patient at priority 1."""
        a = assess(
            record(SYMPTOM, lab("total_b12", 150, "ng/L", dt.date(2026, 3, 1))), KB, as_of=AS_OF
        )
        row = worklist_row(a, care_gaps(a, KB))
        assert row is not None and row["priority"] == 1 and row["urgent"] is True

    def test_no_gap_no_row(self) -> None:
        """A patient with no care gap has no worklist row."""
        a = assess(record(lab("total_b12", 500, "ng/L")), KB, as_of=AS_OF)
        assert worklist_row(a, care_gaps(a, KB)) is None
