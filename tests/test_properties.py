"""Property tests: unit conversion, band monotonicity, and the rule never to treat a normal B12."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from b12ms.engine import assess
from b12ms.knowledge import load_knowledge
from record_builders import AS_OF, condition, lab, medicine, record

KB = load_knowledge()
RANK = {"low": 0, "indeterminate": 1, "normal": 2}
values = st.floats(min_value=0, max_value=5000, allow_nan=False, allow_infinity=False)


def band(test: str, value: float, unit: str, comparator: str | None = None) -> str:
    return assess(
        record(lab(test, value, unit, comparator=comparator)), KB, as_of=AS_OF
    ).b12_status.band


class TestUnits:
    @given(values)
    def test_pg_per_ml_equals_ng_per_l(self, v: float) -> None:
        """pg/mL and ng/L are the same unit: same band, same SI value."""
        a = assess(record(lab("total_b12", v, "pg/mL")), KB, as_of=AS_OF).b12_status
        b = assess(record(lab("total_b12", v, "ng/L")), KB, as_of=AS_OF).b12_status
        assert a.band == b.band
        assert a.basis[0].value_si == b.basis[0].value_si

    @given(values)
    def test_ng_per_ml_is_a_thousand_ng_per_l(self, v: float) -> None:
        """A total B12 in ng/mL bands like the same amount in ng/L."""
        assert band("total_b12", v / 1000, "ng/mL") == band("total_b12", v, "ng/L")

    @given(values)
    def test_si_value_round_trips(self, v: float) -> None:
        """value_si (pmol/L) divided by the factor gives back the ng/L value."""
        si = assess(record(lab("total_b12", v, "ng/L")), KB, as_of=AS_OF).b12_status.basis[0]
        factor = KB.labs["total_b12"].families["mass"].to_canonical
        assert si.value_si is not None
        assert abs(si.value_si / factor - v) <= 1e-3 * max(1.0, v)

    @given(st.floats(min_value=0, max_value=5, allow_nan=False))
    def test_mma_units_agree(self, v: float) -> None:
        """MMA in nmol/L reads as a thousandth of the same number in umol/L."""
        a = assess(record(lab("total_b12", 250, "ng/L"), lab("mma", v, "umol/L")), KB, as_of=AS_OF)
        b = assess(
            record(lab("total_b12", 250, "ng/L"), lab("mma", v * 1000, "nmol/L")), KB, as_of=AS_OF
        )
        assert a.b12_status.functional_raised == b.b12_status.functional_raised


class TestBandMonotonicity:
    @given(
        values,
        values,
        st.sampled_from([("total_b12", "ng/L"), ("total_b12", "pmol/L"), ("active_b12", "pmol/L")]),
    )
    def test_higher_value_never_lower_band(
        self, a: float, b: float, test_unit: tuple[str, str]
    ) -> None:
        """For every test and unit, a higher B12 never gets a lower band."""
        test, unit = test_unit
        lo, hi = sorted((a, b))
        assert RANK[band(test, lo, unit)] <= RANK[band(test, hi, unit)]

    @given(values)
    def test_less_than_never_above_its_bound(self, v: float) -> None:
        """'<x' never bands higher than x itself; '>x' never lower."""
        assert RANK[band("total_b12", v, "ng/L", "<")] <= RANK[band("total_b12", v, "ng/L")]
        assert RANK[band("total_b12", v, "ng/L", ">")] >= RANK[band("total_b12", v, "ng/L")]


symptoms = st.lists(
    st.sampled_from(["numbness", "fatigue", "blurred vision", "low mood", "unsteady gait"]),
    max_size=3,
)
medicines = st.lists(
    st.sampled_from(
        ["metformin", "omeprazole", "famotidine", "hydroxocobalamin injection", "fingolimod"]
    ),
    max_size=3,
)


class TestSafety:
    @settings(max_examples=300)
    @given(
        st.floats(min_value=0, max_value=3000, allow_nan=False),
        st.sampled_from(["ng/L", "pmol/L"]),
        st.floats(min_value=0, max_value=5, allow_nan=False),
        symptoms,
        medicines,
        st.booleans(),
    )
    def test_normal_b12_is_never_treated(
        self, b12: float, unit: str, mma: float, syms: list[str], meds: list[str], ms: bool
    ) -> None:
        """Whatever else is in the record, a normal or absent B12 result never brings a
        treatment recommendation."""
        items: list[object] = [lab("total_b12", b12, unit), lab("mma", mma, "umol/L")]
        items += [condition(s, onset=dt.date(2026, 6, 1)) for s in syms]
        items += [medicine(m) for m in meds]
        if ms:
            items.append(condition("Multiple sclerosis"))
        a = assess(record(*items), KB, as_of=AS_OF)
        if a.b12_status.band in ("normal", "untested"):
            assert not [r for r in a.recommendations if r.action == "treat"]

    @given(symptoms, medicines)
    def test_untested_is_never_treated(self, syms: list[str], meds: list[str]) -> None:
        """Without any B12 result, b12ms may recommend a test but never treatment."""
        items: list[object] = [condition(s, onset=dt.date(2026, 6, 1)) for s in syms]
        items += [medicine(m) for m in meds]
        a = assess(record(*items), KB, as_of=AS_OF)
        assert a.b12_status.conclusion == "not_assessed"
        assert not [r for r in a.recommendations if r.action == "treat"]
