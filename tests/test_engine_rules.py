"""Rules that the case suite's review sharpened, tested directly on model-level records."""

from __future__ import annotations

import datetime as dt

from b12ms.engine import assess
from b12ms.knowledge import load_knowledge
from b12ms.model import Coding, Concept, Condition
from record_builders import AS_OF, condition, lab, medicine, record

KB = load_knowledge()


def ids(a: object) -> set[str]:
    return {f.id for f in a.findings}  # type: ignore[attr-defined]


class TestAnaemiaFlag:
    def test_pernicious_anaemia_diagnosis_is_not_current_anaemia(self) -> None:
        """A lifelong pernicious-anaemia diagnosis (D51.0) does not raise the anaemia flag;
        it is a risk factor, and today's blood count decides anaemia."""
        pa = Condition(
            ref="Condition/pa",
            code=Concept(
                (Coding("http://hl7.org/fhir/sid/icd-10", "D51.0"),), "Pernicious anaemia"
            ),
            clinical_status="active",
            onset=dt.date(2010, 1, 1),
        )
        a = assess(record(pa), KB, as_of=AS_OF)
        assert "risk.autoimmune_gastritis" in ids(a)
        assert "flag.anaemia" not in ids(a)

    def test_anaemia_problem_and_low_haemoglobin_raise_it(self) -> None:
        """An active anaemia problem, or a haemoglobin below its own range, is anaemia."""
        assert "flag.anaemia" in ids(
            assess(record(condition("Anemia (disorder)")), KB, as_of=AS_OF)
        )
        low_hb = lab("haemoglobin", 10.1, "g/dL", low=12.0, high=15.5)
        assert "flag.anaemia" in ids(assess(record(low_hb), KB, as_of=AS_OF))

    def test_other_deficiency_anaemias_are_anaemia(self) -> None:
        """Iron- or folate-deficiency anaemia is current anaemia; only a B12-deficiency or
        pernicious anaemia diagnosis is left to the blood count."""
        for text in ("Iron deficiency anemia", "Folate deficiency anaemia"):
            assert "flag.anaemia" in ids(assess(record(condition(text)), KB, as_of=AS_OF))
        for text in ("Vitamin B12 deficiency anaemia", "Pernicious anemia"):
            assert "flag.anaemia" not in ids(assess(record(condition(text)), KB, as_of=AS_OF))


class TestMacrocytosis:
    def test_over_100_flagged_despite_a_wider_laboratory_range(self) -> None:
        """An MCV of 102 fL is macrocytosis even when the laboratory's upper limit is 104."""
        a = assess(record(lab("mcv", 102, "fL", high=104, low=80)), KB, as_of=AS_OF)
        assert "flag.macrocytosis" in ids(a)

    def test_above_a_narrower_laboratory_range_flagged(self) -> None:
        """An MCV of 99 fL above a laboratory upper limit of 98 is flagged."""
        a = assess(record(lab("mcv", 99, "fL", high=98, low=80)), KB, as_of=AS_OF)
        assert "flag.macrocytosis" in ids(a)

    def test_normal_mcv_not_flagged(self) -> None:
        """An MCV of 92 fL inside its range is not flagged."""
        a = assess(record(lab("mcv", 92, "fL", high=100, low=80)), KB, as_of=AS_OF)
        assert "flag.macrocytosis" not in ids(a)


class TestVocabulary:
    def test_asthenia_is_fatigue_and_gait_instability_is_gait(self) -> None:
        """'Asthenia' reads as fatigue and 'gait instability' as a gait problem."""
        a = assess(
            record(
                condition("Asthenia", onset=dt.date(2026, 8, 1)),
                condition("Gait instability", onset=dt.date(2026, 8, 1)),
            ),
            KB,
            as_of=AS_OF,
        )
        assert {"symptom.fatigue", "symptom.gait_balance"} <= ids(a)


class TestGait:
    def test_injury_falls_are_not_a_balance_symptom(self) -> None:
        """'Fall from ladder' is an injury, not a gait or balance symptom; recurrent falls are."""
        injury = condition("Fall from ladder", onset=dt.date(2026, 8, 1))
        assert "symptom.gait_balance" not in ids(assess(record(injury), KB, as_of=AS_OF))
        falls = condition("Recurrent falls", onset=dt.date(2026, 8, 1))
        assert "symptom.gait_balance" in ids(assess(record(falls), KB, as_of=AS_OF))

    def test_abnormal_gait_is_recognised(self) -> None:
        """'Abnormal gait', the usual SNOMED wording, is a gait symptom."""
        gait = condition("Abnormal gait (finding)", onset=dt.date(2026, 8, 1))
        assert "symptom.gait_balance" in ids(assess(record(gait), KB, as_of=AS_OF))


class TestDeceased:
    def test_age_is_age_at_death(self) -> None:
        """A patient who died in 2020 aged 64 is reported as 64, and is not 'older age'."""
        from b12ms.model import Patient, PatientRecord

        rec = PatientRecord(
            patient=Patient(
                id="d",
                birth_date=dt.date(1956, 3, 1),
                deceased=True,
                deceased_date=dt.date(2020, 6, 1),
            )
        )
        a = assess(rec, KB, as_of=AS_OF)
        assert a.patient.age == 64
        assert "risk.older_age" not in ids(a)


class TestShouldTestReason:
    def test_reasons_name_what_is_missing(self) -> None:
        """The should-test reason says why testing is or is not indicated."""
        sym = condition("Numbness", onset=dt.date(2026, 8, 1))
        cases = {
            "a symptom or sign, a common risk factor": record(sym, medicine("metformin 500 MG")),
            "no common (NICE box 2) risk factor": record(sym),
            "no symptom or sign": record(medicine("metformin 500 MG")),
            "is within 12 months": record(
                sym, medicine("metformin"), lab("total_b12", 400, "ng/L")
            ),
            "B12 treatment has already started": record(
                sym, medicine("metformin"), medicine("hydroxocobalamin 1 MG/ML injection")
            ),
        }
        for expected, rec in cases.items():
            assert expected in assess(rec, KB, as_of=AS_OF).should_test_reason


class TestSymptomLabels:
    def test_every_symptom_label_is_recognised(self) -> None:
        """A condition written as a symptom's own label is recognised as that symptom."""
        for s in KB.symptoms:
            a = assess(record(condition(s.label, onset=dt.date(2026, 8, 1))), KB, as_of=AS_OF)
            assert s.id in ids(a), s.label


class TestReferenceLimits:
    def test_limits_are_given_in_si(self) -> None:
        """Readings carry the reference limits used, converted to the SI unit."""
        a = assess(record(lab("total_b12", 250, "ng/L", low=180, high=900)), KB, as_of=AS_OF)
        reading = a.readings[0]
        assert reading.reference_low_si == round(180 * 0.7378, 4)
        assert reading.reference_high_si == round(900 * 0.7378, 4)
        mma = assess(record(lab("mma", 500, "nmol/L")), KB, as_of=AS_OF).readings[0]
        assert mma.reference_high_si == 0.4  # the default, already in umol/L
