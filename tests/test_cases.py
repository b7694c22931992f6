"""Clinical case suite: FHIR R4 Bundles in tests/cases/, each checked against the outcome that
the specification of NICE NG239 in b12ms expects (tests/cases/<case>.expected.json).

The expected outcomes are written from the specification, not from the engine's behaviour. A
case the engine gets wrong carries an `xfail` reason in its expected file; xfail is strict, so
the case fails loudly once the engine is fixed and the marker must then be removed.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from typing import Any

import pytest

from b12ms.assessment import Assessment
from b12ms.engine import assess
from b12ms.inputs import load_record
from b12ms.knowledge import load_knowledge

CASES = pathlib.Path(__file__).parent / "cases"
EXPECTED = ".expected.json"
KB = load_knowledge()

# Every cut-off of the guideline profile, in each unit family, that some case must exercise.
BAND_BOUNDARIES = frozenset(
    {
        *(
            f"band.total_b12.mass.{b}"
            for b in ("below_low", "at_180", "between", "at_350", "above")
        ),
        *(
            f"band.total_b12.molar.{b}"
            for b in ("below_low", "at_133", "between", "at_258", "above")
        ),
        *(f"band.active_b12.{b}" for b in ("below_low", "at_25", "between", "at_70", "above")),
        "band.comparator.less_than",
        "band.comparator.greater_than",
        "band.unit.ng_per_ml",
    }
)
CONCLUSIONS = frozenset(
    {"deficiency_likely", "deficiency_possible", "deficiency_unlikely", "not_assessed"}
)
# Rules of the specification that have no id in the knowledge base, named for `covers`.
RULE_IDS = frozenset(
    {
        "rule.band",
        "rule.latest_result",
        "rule.same_day_lowest_band",
        "rule.after_as_of",
        "rule.observation_status",
        "rule.unknown_unit",
        "rule.impossible_value",
        "rule.marker_default_limit",
        "rule.marker_own_range",
        "rule.marker_pairing_window",
        "rule.mma_units",
        "rule.should_test",
        "rule.on_treatment",
        "rule.medication_window",
        "rule.condition_onset",
        "rule.active_symptom",
        "rule.active_only",
        "rule.family_history_not_own",
        "rule.older_age_boundary",
        "rule.deceased",
        "rule.safety_no_treat_normal",
        *(f"conclusion.{c}" for c in CONCLUSIONS),
    }
)
BANDS = frozenset({"low", "indeterminate", "normal", "untested"})
RESOURCE_TYPES = frozenset(
    {
        "Patient",
        "Observation",
        "Condition",
        "MedicationRequest",
        "MedicationStatement",
        "Procedure",
    }
)


def _name(expected_path: pathlib.Path) -> str:
    return expected_path.name[: -len(EXPECTED)]


def _read(path: pathlib.Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _expected_paths() -> list[pathlib.Path]:
    return sorted(CASES.glob(f"*{EXPECTED}"))


def _bundle_paths() -> list[pathlib.Path]:
    return sorted(p for p in CASES.glob("*.json") if not p.name.endswith(EXPECTED))


def _case_params() -> list[Any]:
    params = []
    for path in _expected_paths():
        reason = _read(path).get("xfail")
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        params.append(pytest.param(path, id=_name(path), marks=marks))
    return params


def _all_covers() -> set[str]:
    return {c for p in _expected_paths() for c in _read(p)["covers"]}


def _mismatches(a: Assessment, expect: dict[str, Any]) -> list[str]:
    """Every way the assessment differs from the expectation (empty when it matches)."""
    out: list[str] = []
    status = a.b12_status
    found = {f.id for f in a.findings}
    recs = {r.id for r in a.recommendations}
    if status.band != expect["band"]:
        out.append(f"band is {status.band!r}, expected {expect['band']!r}")
    if status.conclusion != expect["conclusion"]:
        out.append(f"conclusion is {status.conclusion!r}, expected {expect['conclusion']!r}")
    if a.should_test != expect["should_test"]:
        out.append(f"should_test is {a.should_test}, expected {expect['should_test']}")
    out += [f"finding {f} missing" for f in expect["findings"] if f not in found]
    out += [f"finding {f} present" for f in expect["no_findings"] if f in found]
    out += [f"recommendation {r} missing" for r in expect["recommendations"] if r not in recs]
    out += [f"recommendation {r} present" for r in expect["no_recommendations"] if r in recs]
    if "urgent" in expect:
        urgent = any(r.urgency == "urgent" for r in a.recommendations)
        if urgent != expect["urgent"]:
            out.append(f"urgent is {urgent}, expected {expect['urgent']}")
    if "basis_value_si" in expect:
        values = [r.value_si for r in status.basis if r.value_si is not None]
        if not any(abs(v - expect["basis_value_si"]) <= 0.1 for v in values):
            out.append(f"basis value_si is {values}, expected {expect['basis_value_si']}")
    reasons = [s.reason for s in a.skipped]
    for part in expect.get("skipped", []):
        if not any(part in r for r in reasons):
            out.append(f"no skip reason contains {part!r} (skipped: {reasons})")
    # Safety: b12ms never recommends treatment for a normal or absent B12 result.
    if status.band in ("normal", "untested"):
        treat = sorted(r.id for r in a.recommendations if r.action == "treat")
        if treat:
            out.append(f"SAFETY: treatment {treat} recommended with band {status.band!r}")
    return out


@pytest.mark.parametrize("expected_path", _case_params())
def test_case(expected_path: pathlib.Path) -> None:
    """The assessment of the case's bundle at its as-of date matches its expected outcome."""
    case = _read(expected_path)
    record = load_record(CASES / f"{_name(expected_path)}.json")
    a = assess(record, KB, as_of=dt.date.fromisoformat(case["as_of"]))
    problems = _mismatches(a, case["expect"])
    assert not problems, f"{case['description']}\n  " + "\n  ".join(problems)


def test_every_case_has_an_expected_file_and_vice_versa() -> None:
    """Each bundle has an expected-outcome file and each expected-outcome file has a bundle."""
    bundles = {p.name[: -len(".json")] for p in _bundle_paths()}
    expected = {_name(p) for p in _expected_paths()}
    assert bundles == expected, {
        "bundles without expected file": sorted(bundles - expected),
        "expected files without bundle": sorted(expected - bundles),
    }
    assert len(expected) >= 45


@pytest.mark.parametrize("expected_path", _expected_paths(), ids=_name)
def test_expected_file_uses_known_ids(expected_path: pathlib.Path) -> None:
    """An expected file is well formed and names only ids that exist, so no check is vacuous."""
    text = expected_path.read_text(encoding="utf-8")
    case = json.loads(text)
    assert text == json.dumps(case, indent=2, ensure_ascii=False) + "\n"
    assert set(case) <= {"description", "as_of", "covers", "expect", "xfail", "source"}
    assert case["description"] and case["covers"]
    dt.date.fromisoformat(case["as_of"])
    expect = case["expect"]
    assert expect["band"] in BANDS
    assert expect["conclusion"] in CONCLUSIONS
    assert isinstance(expect["should_test"], bool)
    finding_ids = KB.finding_ids()
    rec_ids = set(KB.recommendations)
    for key in ("findings", "no_findings"):
        assert set(expect[key]) <= finding_ids, (key, set(expect[key]) - finding_ids)
    for key in ("recommendations", "no_recommendations"):
        assert set(expect[key]) <= rec_ids, (key, set(expect[key]) - rec_ids)
    assert not set(expect["findings"]) & set(expect["no_findings"])
    assert not set(expect["recommendations"]) & set(expect["no_recommendations"])
    known = finding_ids | rec_ids | BAND_BOUNDARIES | RULE_IDS
    assert set(case["covers"]) <= known, set(case["covers"]) - known


@pytest.mark.parametrize("bundle_path", _bundle_paths(), ids=lambda p: p.stem)
def test_bundle_is_a_minimal_collection(bundle_path: pathlib.Path) -> None:
    """A case bundle is a pretty-printed FHIR R4 collection of one patient's supported resources."""
    text = bundle_path.read_text(encoding="utf-8")
    bundle = json.loads(text)
    assert text == json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    types = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert set(types) <= RESOURCE_TYPES
    assert types.count("Patient") == 1
    for e in bundle["entry"]:
        r = e["resource"]
        if r["resourceType"] == "Observation":
            assert "effectiveDateTime" in r and "status" in r
            q = r.get("valueQuantity")
            if q is not None:
                assert {"value", "unit", "system", "code"} <= set(q)


def test_every_finding_is_covered() -> None:
    """Every finding id in the knowledge base is exercised by some case."""
    missing = KB.finding_ids() - _all_covers()
    assert not missing, sorted(missing)


def test_every_recommendation_is_covered() -> None:
    """Every recommendation id in the knowledge base is exercised by some case."""
    missing = set(KB.recommendations) - _all_covers()
    assert not missing, sorted(missing)


def test_every_band_boundary_is_covered() -> None:
    """Every band boundary of the specification, in each unit family, is exercised by some case."""
    missing = BAND_BOUNDARIES - _all_covers()
    assert not missing, sorted(missing)
