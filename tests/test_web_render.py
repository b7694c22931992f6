"""The HTML report page: order, escaping, charts from the knowledge base, every item shown."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

from b12ms import assess, load_knowledge, load_record
from b12ms.assessment import Assessment
from b12ms.cli import main
from b12ms.form import record_from_form
from b12ms.knowledge import Knowledge
from b12ms.web import charts
from b12ms.web.render import patient_report_html

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "cases"
DEMO = ROOT / "examples" / "ms-numbness-metformin.json"
AS_OF = dt.date(2026, 11, 1)


@pytest.fixture(scope="module")
def kb() -> Knowledge:
    """The shipped knowledge base."""
    return load_knowledge()


def _from_form(kb: Knowledge, doc: dict[str, Any], as_of: dt.date = AS_OF) -> Assessment:
    record = record_from_form({"b12ms_form": 1, **doc}, today=as_of)
    return assess(record, kb, as_of=as_of)


def _case(kb: Knowledge, name: str) -> Assessment:
    expected = json.loads((CASES / f"{name}.expected.json").read_text())
    as_of = dt.date.fromisoformat(expected["as_of"])
    return assess(load_record(CASES / f"{name}.json", today=as_of), kb, as_of=as_of)


def _demo(kb: Knowledge) -> Assessment:
    return assess(load_record(DEMO, today=AS_OF), kb, as_of=AS_OF)


def _svg(page: str, ident: str) -> str:
    m = re.search(rf'<svg[^>]*aria-labelledby="{ident}-t[^>]*>.*?</svg>', page, re.S)
    assert m, f"no chart {ident}"
    return m.group(0)


def test_demo_page_is_complete_and_in_clinical_order(kb: Knowledge) -> None:
    """The demo page has the conclusion, why, what to do, sources and disclaimer, in that order."""
    page = patient_report_html(_demo(kb), kb)
    assert page.startswith("<!DOCTYPE html>")
    assert page.rstrip().endswith("</html>")
    order = [page.index(f'id="{s}"') for s in ("conclusion", "why", "actions", "sources")]
    assert order == sorted(order)
    assert "B12 deficiency likely" in page
    assert "210 ng/L" in page and "154.9 pmol/L" in page
    assert "14 Sep 2026" in page
    assert "Should B12 be tested now?" in page
    assert "it does not replace it" in page
    assert "not yet been reviewed by a clinician" in page
    assert "<main" in page and 'role="banner"' in page and 'role="contentinfo"' in page


def test_page_is_self_contained(kb: Knowledge) -> None:
    """The page loads nothing: no scripts, stylesheets, images or fonts from anywhere."""
    page = patient_report_html(_demo(kb), kb)
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert not re.search(r"\ssrc=", page)
    assert "@import" not in page and "url(" not in page
    external = re.findall(r'href="(https?://[^"]+)"', page)
    cited = {kb.sources[s].url for s in kb.sources}
    assert set(external) <= cited  # only the sources' own links


def test_record_text_is_escaped(kb: Knowledge) -> None:
    """A script in the patient id or a condition's text is shown as text, never run."""
    a = _from_form(
        kb,
        {
            "id": "<script>alert('id')</script>",
            "age": 40,
            "symptoms": ["numbness <script>alert('s')</script>"],
            "conditions": ['<img src=x onerror="alert(1)"> multiple sclerosis'],
            "labs": [{"test": "total_b12", "value": 150, "unit": "ng/L", "date": "2026-09-01"}],
        },
    )
    page = patient_report_html(a, kb)
    assert "<script" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(&#x27;id&#x27;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; multiple sclerosis" in page


def test_title_is_escaped(kb: Knowledge) -> None:
    """A caller's title is escaped too."""
    page = patient_report_html(_demo(kb), kb, title="</title><script>x</script>")
    assert "<script" not in page
    assert "<title>&lt;/title&gt;&lt;script&gt;x&lt;/script&gt;</title>" in page


def test_every_finding_and_recommendation_appears(kb: Knowledge) -> None:
    """Each finding (label, summary) and recommendation (urgency, text) of several cases shows."""
    assessments = [_demo(kb)] + [
        _case(kb, name)
        for name in (
            "ms_fingolimod_lhermitte_normal_b12",
            "pregnancy_nitrous_oxide_untested",
            "vignette_1_scd_low_molar",
            "tested_after_b12_injection",
            "vitiligo_only_not_box2",
        )
    ]
    for a in assessments:
        page = patient_report_html(a, kb)
        assert a.findings or a.recommendations
        for f in a.findings:
            assert f'id="f-{f.id}"' in page
            assert html.escape(f.label) in page
            assert html.escape(f.summary) in page
        for r in a.recommendations:
            item = re.search(rf'<li id="r-{re.escape(r.id)}".*?</li>', page, re.S)
            assert item, r.id
            assert html.escape(r.text) in item.group(0)
            assert r.urgency.upper() in item.group(0)  # urgency in words, not colour alone
        for sid in {s for f in a.findings for s in f.sources}:
            assert f'id="src-{sid}"' in page


def test_contested_and_research_findings_are_marked(kb: Knowledge) -> None:
    """The contested MS–B12 association and the S1P animal research carry visible labels."""
    a = _case(kb, "ms_fingolimod_lhermitte_normal_b12")
    page = patient_report_html(a, kb)
    contested = re.search(r'<li id="f-ms.b12_association_contested".*?</li>', page, re.S)
    research = re.search(r'<li id="f-ms.s1p_modulator".*?</li>', page, re.S)
    assert contested and "Contested evidence" in contested.group(0)
    assert research and "Research only" in research.group(0)


def test_bands_come_from_the_knowledge_base(kb: Knowledge) -> None:
    """The chart shades and labels each band at the knowledge base's cut-offs, whatever they are."""
    a = _demo(kb)
    chart = _svg(patient_report_html(a, kb), "chart-total")
    for band in kb.guideline().bands_for("total_b12", "molar"):
        assert html.escape(charts.band_range_text(band)) + " pmol/L" in chart
        assert band.band.capitalize() in chart
    for band in kb.guideline().bands_for("total_b12", "mass"):
        assert html.escape(charts.band_range_text(band)) + " ng/L" in chart

    g = kb.guideline()
    moved = tuple(
        dataclasses.replace(
            b,
            below=150.0 if b.below is not None else None,
            lower=150.0 if b.lower is not None else None,
        )
        if (b.lab, b.family) == ("total_b12", "molar")
        else b
        for b in g.bands
    )
    kb2 = dataclasses.replace(kb, guidelines={g.id: dataclasses.replace(g, bands=moved)})
    chart2 = _svg(patient_report_html(a, kb2), "chart-total")
    assert "&lt; 150 pmol/L" in chart2
    assert "150\u2013258 pmol/L" in chart2
    assert "&lt; 133 pmol/L" not in chart2


def test_chart_points_carry_value_and_date(kb: Knowledge) -> None:
    """Each B12 point is labelled with its value and date, and a table gives the same data."""
    a = _from_form(
        kb,
        {
            "labs": [
                {"test": "total_b12", "value": 150, "unit": "ng/L", "date": "2025-03-02"},
                {"test": "total_b12", "value": 400, "unit": "pmol/L", "date": "2026-06-10"},
                {
                    "test": "total_b12",
                    "value": 100,
                    "comparator": "<",
                    "unit": "pmol/L",
                    "date": "2026-09-01",
                },
            ]
        },
    )
    page = patient_report_html(a, kb)
    chart = _svg(page, "chart-total")
    assert "<title" in chart and "<desc" in chart and 'role="img"' in chart
    for text in ("150 ng/L = 110.7 pmol/L", "2 Mar 2025", "400 pmol/L", "10 Jun 2026"):
        assert text in chart
    assert "&lt;100 pmol/L" in chart  # a comparator result keeps its bound
    assert "Open circles" in page
    table = page[page.index("every result, latest first") :]
    assert table.index("1 Sep 2026") < table.index("10 Jun 2026") < table.index("2 Mar 2025")


def test_markers_against_reference_ranges(kb: Knowledge) -> None:
    """Latest MMA, homocysteine, MCV, haemoglobin and folate show with their range and flag."""
    a = _from_form(
        kb,
        {
            "labs": [
                {"test": "total_b12", "value": 210, "unit": "ng/L", "date": "2026-09-01"},
                {"test": "mma", "value": 0.1, "unit": "umol/L", "date": "2026-01-01"},
                {"test": "mma", "value": 520, "unit": "nmol/L", "date": "2026-09-01"},
                {"test": "homocysteine", "value": 12, "unit": "umol/L", "date": "2026-09-01"},
                {"test": "mcv", "value": 104, "unit": "fL", "date": "2026-09-01"},
                {
                    "test": "haemoglobin",
                    "value": 110,
                    "unit": "g/L",
                    "date": "2026-09-01",
                    "reference_range": {"low": 120, "high": 155},
                },
                {
                    "test": "folate",
                    "value": 2.1,
                    "unit": "ng/mL",
                    "date": "2026-09-01",
                    "reference_range": {"low": 3.0},
                },
            ]
        },
    )
    page = patient_report_html(a, kb)
    chart = _svg(page, "chart-markers")
    for label in ("MMA", "Homocysteine", "MCV", "Haemoglobin", "Serum folate"):
        assert label in chart
    assert chart.count(">Raised \u25b2</text>") == 2  # MMA over the default, MCV over 100 fL
    assert chart.count(">Low \u25bc</text>") == 2  # haemoglobin and folate under their ranges
    assert ">0.52<" in chart  # the latest MMA, in umol/L
    assert ">0.1<" not in chart  # not the earlier one
    hb = next(r for r in a.readings if r.test == "haemoglobin")
    rng = charts.reference(kb, hb)
    assert rng is not None and rng.low == pytest.approx(12.0) and rng.high == pytest.approx(15.5)
    assert "default range" in chart  # MMA had no laboratory range


def test_untested_patient(kb: Knowledge) -> None:
    """A patient with no B12 result: not assessed, no chart, and the should-test answer."""
    a = _case(kb, "coeliac_unsteady_gait_untested")
    page = patient_report_html(a, kb)
    assert a.b12_status.band == "untested"
    assert "B12 status not assessed" in page
    assert "No total or active B12 result on record" in page
    assert "chart-total" not in page and "chart-active" not in page
    assert '<span class="answer">Yes</span>' in page
    assert html.escape(a.should_test_reason) in page


def test_patient_with_only_active_b12(kb: Knowledge) -> None:
    """Only active B12 on record: its own panel with the active-B12 bands, no total panel."""
    a = _from_form(
        kb,
        {"labs": [{"test": "active_b12", "value": 30, "unit": "pmol/L", "date": "2026-10-01"}]},
    )
    page = patient_report_html(a, kb)
    assert "chart-total" not in page
    chart = _svg(page, "chart-active")
    for band in kb.guideline().bands_for("active_b12", "molar"):
        assert html.escape(charts.band_range_text(band)) + " pmol/L" in chart
    assert "30 pmol/L" in chart and "1 Oct 2026" in chart
    assert "B12 band: <strong>indeterminate" in page


def test_skipped_entries_and_treatment_are_listed(kb: Knowledge) -> None:
    """Skipped input entries and B12 treatment courses have their own sections."""
    skipped = _case(kb, "unknown_unit_skipped")
    page = patient_report_html(skipped, kb)
    assert skipped.skipped
    for s in skipped.skipped:
        assert html.escape(s.reason) in page
    treated = _case(kb, "tested_after_b12_injection")
    assert treated.b12_treatments
    assert "B12 treatment on record" in patient_report_html(treated, kb)


def test_every_case_renders(kb: Knowledge) -> None:
    """Every case bundle renders a page with its conclusion."""
    from b12ms.render import CONCLUSION_TEXT

    for path in sorted(CASES.glob("*.json")):
        if path.name.endswith(".expected.json"):
            continue
        a = _case(kb, path.stem)
        assert html.escape(CONCLUSION_TEXT[a.b12_status.conclusion]) in patient_report_html(a, kb)


def test_form_link(kb: Knowledge) -> None:
    """The "New assessment" link follows base_path, and is left out of saved reports."""
    a = _demo(kb)
    assert 'href="./">New assessment' in patient_report_html(a, kb)
    assert 'href="/b12/">New assessment' in patient_report_html(a, kb, base_path="/b12")
    assert "New assessment" not in patient_report_html(a, kb, form_link=False)


def test_cli_html_format(capsys: pytest.CaptureFixture[str]) -> None:
    """`b12ms assess FILE --format html` writes the report page to stdout."""
    code = main(["assess", str(DEMO), "--as-of", "2026-11-01", "--format", "html"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("<!DOCTYPE html>")
    assert "B12 deficiency likely" in out
    assert "New assessment" not in out
