"""The population report: content, knowledge-base cut-offs, escaping, limits, well-formed HTML."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from b12ms.care_gaps import WORKLIST_COLUMNS, care_gaps, worklist_row
from b12ms.engine import assess
from b12ms.inputs import load_record
from b12ms.knowledge import Knowledge, load_knowledge
from b12ms.population.report import MAX_TABLE_ROWS, _metformin_buckets, render_report
from b12ms.population.summary import PopulationSummary

KB = load_knowledge()
AS_OF = dt.date(2026, 11, 1)
CASES = Path(__file__).parent / "cases"
VOID = {"meta", "br", "img", "input", "link", "hr", "col", "area", "base", "wbr", "source"}
SVG_VOID = {"rect", "line", "circle", "path"}  # written self-closing in the SVG


def _empty_summary() -> PopulationSummary:
    return PopulationSummary(as_of=AS_OF, kb_version=KB.version, kb_sha256=KB.sha256, engine="py")


@pytest.fixture(scope="module")
def population() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The case corpus screened as one population: (summary dict, worklist rows)."""
    summary = _empty_summary()
    rows: list[dict[str, Any]] = []
    for path in sorted(CASES.glob("*.json")):
        if path.name.endswith(".expected.json"):
            continue
        a = assess(load_record(path), KB, as_of=AS_OF)
        gaps = care_gaps(a, KB)
        summary.add(a, gaps)
        row = worklist_row(a, gaps)
        if row is not None:
            rows.append(row)
    summary.files_read = 1
    summary.resources_read = 900
    summary.malformed_lines = [{"file": "Observation.ndjson", "line": 7, "reason": "not JSON"}]
    return summary.to_dict(), rows


@pytest.fixture(scope="module")
def page(population: tuple[dict[str, Any], list[dict[str, Any]]]) -> str:
    """The report of the case corpus."""
    summary, rows = population
    return render_report(summary, rows, KB)


def section(page: str, heading_id: str) -> str:
    """The HTML of one report section, by the id of its heading."""
    start = page.index(f'<h2 id="{heading_id}"')
    end = page.find("</section>", start)
    return page[start:end]


class _Balance(HTMLParser):
    """Checks that every opened element is closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
            return
        self.stack.pop()


def parse(page: str) -> _Balance:
    p = _Balance()
    p.feed(page)
    p.close()
    return p


def test_every_care_gap_count_appears(page: str, population: tuple[dict[str, Any], Any]) -> None:
    """Every care gap of the knowledge base is listed with its label, count and share."""
    summary = population[0]
    gaps = section(page, "h-gaps")
    living = summary["patients"] - summary["deceased"]
    assert summary["gap_counts"], "the case corpus should produce care gaps"
    for gid, gap in KB.care_gaps.items():
        n = summary["gap_counts"].get(gid, 0)
        row = gaps[gaps.index(f"{gap.label}</span>") :]
        row = row[: row.index("</tr>")]
        assert f'<td class="num">{n:,}</td>' in row
        assert f"{100 * n / living:.1f}%" in row
        assert f"{gap.label}: {n} patients" in gaps  # the chart's description


def test_research_gaps_are_labelled(page: str) -> None:
    """A research-context gap is marked as research context in the table, not by colour alone."""
    research = [g for g in KB.care_gaps.values() if g.evidence_status == "research"]
    assert research
    assert "Research context</span>" in section(page, "h-gaps")


def _kb_with_cutoffs(low: float, high: float) -> Knowledge:
    g = KB.guideline()
    bands = tuple(
        dataclasses.replace(
            b,
            below=low if b.band == "low" else b.below,
            lower=low if b.band == "indeterminate" else b.lower,
            upper=high if b.band == "indeterminate" else b.upper,
            above=high if b.band == "normal" else b.above,
        )
        if (b.lab, b.family) == ("total_b12", "molar")
        else b
        for b in g.bands
    )
    g2 = dataclasses.replace(g, bands=bands)
    return dataclasses.replace(KB, guidelines={**KB.guidelines, g.id: g2}, cache={})


def test_band_shading_uses_the_knowledge_base_cutoffs(
    population: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    """The B12 chart draws its cut-offs from the knowledge base: changing them moves the lines."""
    summary, rows = population
    bands = KB.guideline().bands_for("total_b12", "molar")
    lo = next(b.below for b in bands if b.band == "low")
    hi = next(b.above for b in bands if b.band == "normal")
    assert (lo, hi) == (133, 258)
    chart = section(render_report(summary, rows, KB), "h-b12")
    assert f'class="val">{lo:g}</text>' in chart and f'class="val">{hi:g}</text>' in chart

    moved = section(render_report(summary, rows, _kb_with_cutoffs(150, 300)), "h-b12")
    assert 'class="val">150</text>' in moved and 'class="val">300</text>' in moved
    assert 'class="val">133</text>' not in moved and "258" not in moved


def test_metformin_buckets_follow_the_monitoring_window() -> None:
    """A result exactly 12 months before the as-of date is within the window; a day more is not."""
    window = int(KB.care_gap_settings["monitoring_window_months"].value)
    days = [0, 365, 366, 731, 1000, 2000, None, None]
    buckets = _metformin_buckets(days, AS_OF, window)
    assert [(label, n) for label, n, _ in buckets] == [
        ("≤ 1 year", 2),
        ("1–2 years", 1),
        ("2–5 years", 2),
        ("5+ years", 1),
        ("Never tested", 2),
    ]


def test_user_data_is_escaped(population: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    """A patient id or malformed-line reason holding markup is shown as text, never run."""
    summary, rows = population
    evil = "<script>alert('x')</script>\"'&"
    row = dict(rows[0], patient_id=evil, latest_b12_unit="<b>pmol/L</b>")
    bad = dict(summary, malformed_lines=[{"file": "<img src=x onerror=alert(1)>", "line": 1}])
    page = render_report(bad, [row], KB, title="<i>Title</i>")
    assert "alert('x')</script>" not in page
    assert "<img src=x" not in page and "<b>pmol/L</b>" not in page and "<i>Title" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&quot;&#x27;&amp;" in page
    assert page.count("<script") == 1  # the report's own sorting script
    assert not parse(page).errors


def test_empty_population_renders() -> None:
    """A population with no patients renders every section with an empty-state message."""
    page = render_report(_empty_summary().to_dict(), [], KB)
    assert "No patients on the worklist." in page
    assert page.count("No total B12 results in this group") == 3
    assert "No living metformin users" in page
    for heading in ("h-gaps", "h-b12", "h-met", "h-work", "h-src", "h-in"):
        assert f'id="{heading}"' in page
    p = parse(page)
    assert not p.errors and p.stack == []


def test_worklist_is_capped_most_urgent_first(
    population: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    """Past 5,000 rows the table keeps the most urgent 5,000 and says where the rest are."""
    summary, rows = population
    base = next(r for r in rows if r["priority"] != 1)
    many = [dict(base, patient_id=f"p{i:05d}") for i in range(MAX_TABLE_ROWS + 1)]
    many.append(dict(base, patient_id="urgent-last", priority=1))
    page = render_report(summary, many, KB)
    assert page.count('<tr data-i="') == MAX_TABLE_ROWS
    assert f"first {MAX_TABLE_ROWS:,} of {MAX_TABLE_ROWS + 2:,} worklist rows" in page
    assert "CSV or Parquet" in page
    assert "urgent-last" in page


def test_rows_have_every_worklist_column(page: str, population: tuple[Any, list[Any]]) -> None:
    """The rows fed to the report carry the worklist schema, and each patient is listed once."""
    rows = population[1]
    assert rows and all(set(r) == set(WORKLIST_COLUMNS) for r in rows)
    work = section(page, "h-work")
    for r in rows:
        assert work.count(f'class="pid">{r["patient_id"]}<') == 1


def test_no_external_resources(page: str) -> None:
    """Nothing is fetched: no external scripts, styles, fonts or images; only sources link out."""
    p = parse(page)
    for tag, attrs in p.tags:
        assert not (tag == "script" and "src" in attrs)
        assert tag not in ("link", "img", "iframe", "object", "embed")
        if tag == "a" and str(attrs.get("href")).startswith("http"):
            continue
        for name, value in attrs.items():
            if value and re.match(r"\s*(https?:)?//", value):
                assert (tag, name) == ("svg", "xmlns"), (tag, name, value)
    assert "@import" not in page and "url(http" not in page and "url(//" not in page
    links = [a.get("href") for t, a in p.tags if t == "a" and str(a.get("href")).startswith("h")]
    sources = section(page, "h-src")
    assert links and all(f'href="{u}"' in sources for u in links)


def test_html_is_well_formed_and_accessible(page: str) -> None:
    """Tags balance; one h1, the six sections in order; charts have titles; headers have scope."""
    p = parse(page)
    assert not p.errors and p.stack == []
    assert [t for t, _ in p.tags].count("h1") == 1
    order = [page.index(f'id="{h}"') for h in ("h-gaps", "h-b12", "h-met", "h-work", "h-src")]
    assert order == sorted(order) and page.index('id="h-in"') > order[-1]
    svgs = [a for t, a in p.tags if t == "svg"]
    assert len(svgs) == 3
    for a in svgs:
        assert a.get("role") == "img" and a.get("aria-labelledby")
        for ref in str(a["aria-labelledby"]).split():
            assert f'id="{ref}"' in page
    assert all("scope" in a for t, a in p.tags if t == "th")


def test_header_and_sources(page: str) -> None:
    """The header names the knowledge base and its review state; every cited source is listed."""
    head = page[: page.index('id="h-gaps"')]
    assert KB.version in head and KB.sha256[:12] in head
    assert "does not replace it" in head and KB.clinical_review in head
    sources = section(page, "h-src")
    cited = {s for g in KB.care_gaps.values() for s in g.sources}
    cited |= {s for b in KB.guideline().bands_for("total_b12", "molar") for s in b.sources}
    for sid in cited:
        assert f'id="src-{sid}"' in sources
    for tag in "PSCDX":
        assert f"<dt>{tag}</dt>" in sources


def test_input_notes(page: str) -> None:
    """Input notes list files, resources, skipped entries and malformed lines with file:line."""
    notes = section(page, "h-in")
    assert "Observation.ndjson:7" in notes and "not JSON" in notes
    assert "Entries skipped inside records" in notes


def test_output_is_deterministic(population: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    """The same input gives the same bytes; a generated_at timestamp appears only when passed."""
    summary, rows = population
    first = render_report(summary, rows, KB)
    assert first == render_report(summary, list(rows), KB)
    assert "2026-11-02T09:00" in render_report(summary, rows, KB, generated_at="2026-11-02T09:00")


def test_knowledge_base_mismatch_is_flagged(
    population: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    """A summary screened with another knowledge base gets a visible warning."""
    summary, rows = population
    page = render_report(dict(summary, kb_sha256="0" * 64), rows, KB)
    assert "Knowledge-base mismatch" in page


def test_rows_read_back_from_csv(population: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    """Rows whose values are all strings (read back from the CSV) render the same facts."""
    summary, rows = population
    row = next(r for r in rows if r["latest_b12_value"] is not None and not r["ms"])
    as_text = {
        k: "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in row.items()
    }
    work = section(render_report(summary, [as_text], KB), "h-work")
    assert 'class="ms-tag"' not in work  # "false" is not true
    assert _badge_of(row["priority"]) in work
    assert f"{float(row['latest_b12_value']):.1f}".rstrip("0").rstrip(".") in work


def _badge_of(priority: int) -> str:
    return f'<span class="badge p{priority}"'
