"""An assessment as one self-contained HTML page, for clinicians: read it, print it, file it.

Order is the clinician's, as in `b12ms.render`: the conclusion first (with the B12 results
over time), then why, then what to do, then the sources, skipped entries and the disclaimer.
Everything that comes from the record is HTML-escaped; the page loads nothing from anywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from b12ms.assessment import Assessment, Evidence, Finding, Reading, Recommendation
from b12ms.knowledge import Knowledge
from b12ms.render import BAND_TEXT, CONCLUSION_TEXT, DISCLAIMER, KIND_HEADINGS
from b12ms.web import charts
from b12ms.web.page import esc, human_date, page, time_tag

STATUS_BADGE = {
    "contested": ("tag-contested", "Contested evidence"),
    "research": ("tag-research", "Research only"),
}
EVIDENCE_TAGS = {
    "P": "primary text read (guideline, paper, publisher or official page)",
    "S": "secondary summary read; the primary itself was not read",
    "C": "code or terminology data read",
    "D": "added by the b12ms developers; for a clinician to confirm",
    "X": "b12ms convention: no guideline figure exists",
}
URGENCY_TEXT = {"urgent": "Urgent", "soon": "Soon", "routine": "Routine"}
URGENCY_MARK = {"urgent": "\u25b2\u25b2 ", "soon": "\u25b2 ", "routine": ""}
FLAG_TEXT = {"raised": "raised", "low": "low", "normal": "within range", "unknown": ""}
MAX_EVIDENCE = 6

CiteFn = Callable[[Iterable[str]], str]  # source ids to linked text, noting them as cited


def patient_report_html(
    assessment: Assessment,
    kb: Knowledge,
    *,
    title: str | None = None,
    base_path: str = "",
    form_link: bool = True,
) -> str:
    """The whole report page for one assessment (inline CSS and SVG; nothing external).

    `base_path` is where the web form lives (the "New assessment" link goes to
    `base_path + "/"`; by default a relative link to the form next to the report).
    `form_link=False` leaves that link out, for a report saved as a file.
    """
    a = assessment
    who = a.patient.id or "Unnamed patient"
    title = title or f"B12 assessment: {who}, as of {a.as_of.isoformat()}"
    cited: dict[str, None] = {}

    def cite(ids: Iterable[str]) -> str:
        ids = list(ids)
        for sid in ids:
            cited[sid] = None
        if not ids:
            return ""
        links = ", ".join(f'<a href="#src-{esc(s)}">{esc(s)}</a>' for s in ids)
        return f'<span class="src">[{links}]</span>'

    body = [
        '<a class="skip" href="#conclusion">Skip to the conclusion</a>',
        _header(a, base_path, form_link),
        '<main id="main" class="wrap">',
        f'<p class="notice" role="note"><strong>Decision support only.</strong> '
        f"{esc(DISCLAIMER)}</p>",
        '<div class="grid">',
        _conclusion(a, kb, cite),
        _results(a, kb, cite),
        "</div>",
        _why(a, cite),
        _actions(a, kb, cite),
        _treatments(a),
        _skipped(a),
        _all_readings(a),
        _sources(kb, cited),
        f'<footer class="disclaimer" role="contentinfo"><strong>{esc(DISCLAIMER)}</strong> '
        f"Guideline {esc(a.guideline)}; knowledge base {esc(a.kb_version)} "
        f"(sha256 {esc(a.kb_sha256[:12])}); assessed as of {time_tag(a.as_of)}. "
        f"Knowledge base review status: {esc(kb.clinical_review)}.</footer>",
        "</main>",
    ]
    return page(title, "\n".join(body))


def _header(a: Assessment, base_path: str, form_link: bool) -> str:
    who = a.patient.id or "Unnamed patient"
    details = ", ".join(
        x
        for x in (
            f"{a.patient.age} years" if a.patient.age is not None else None,
            a.patient.sex,
        )
        if x
    )
    nav = ""
    if form_link:
        href = f"{base_path.rstrip('/')}/" if base_path else "./"
        nav = f'<nav aria-label="Pages"><a href="{esc(href)}">New assessment</a></nav>'
    return (
        '<header class="topbar" role="banner"><div class="wrap">'
        '<span class="brand">b12ms</span>'
        f'<h1 class="who" style="font-size:1.1rem;margin:0">B12 assessment: {esc(who)}'
        f"{f' <span class=meta>({esc(details)})</span>' if details else ''}</h1>"
        f'<span class="meta">as of {time_tag(a.as_of)} · guideline profile '
        f"{esc(a.guideline)} · knowledge base {esc(a.kb_version)}</span>"
        f"{nav}</div></header>"
    )


def _reading_line(r: Reading, cite_flag: bool = True) -> str:
    si = charts.reading_si(r)
    value = f'<span class="num">{esc(charts.reading_value(r))}</span>'
    if si:
        value += f" ({esc(si)})"
    text = f"{esc(r.label)} {value} on {time_tag(r.date)}"
    if r.band:
        text += (
            f' <span class="tag tag-band-{esc(r.band)}">{esc(BAND_TEXT.get(r.band, r.band))}</span>'
        )
    elif cite_flag and r.flag and r.flag != "unknown":
        text += f' <span class="tag tag-{esc(r.flag)}">{esc(FLAG_TEXT.get(r.flag, r.flag))}</span>'
        if r.reference_range:
            ref = charts.range_words(r.reference_range)
            text += f' <span class="muted">(reference {esc(ref)})</span>'
    return text


def _conclusion(a: Assessment, kb: Knowledge, cite: CiteFn) -> str:
    s = a.b12_status
    headline = CONCLUSION_TEXT[s.conclusion]
    if s.band != "untested" and s.basis:
        band = BAND_TEXT.get(s.band, s.band)
        nice = _nice_label(kb, a, s.basis[0])
        if nice and nice.lower().startswith(band):
            words = f"<strong>{esc(nice)}</strong>"
        elif nice:
            words = f"<strong>{esc(band)}</strong> (NICE: {esc(nice)})"
        else:
            words = f"<strong>{esc(band)}</strong>"
        raised = [r for r in s.functional_markers if r.flag == "raised"]
        if raised:
            names = " and ".join(charts.short_label(r) for r in raised)
            words += f", with a raised {esc(names)}"
        band_line = f'<p class="band">B12 band: {words}</p>'
    else:
        band_line = '<p class="band">No B12 result on record: the band cannot be read.</p>'
    facts = []
    for r in s.basis:
        facts.append(f'<li><span class="k">Latest B12 result</span>{_reading_line(r)}</li>')
    for r in s.functional_markers:
        facts.append(f'<li><span class="k">Functional marker</span>{_reading_line(r)}</li>')
    answer = "Yes" if a.should_test else "No"
    facts.append(
        '<li><span class="k">Should B12 be tested now?</span>'
        f'<span class="v"><span class="answer">{answer}</span>: '
        f"{esc(a.should_test_reason)}.</span></li>"
    )
    if a.patient.deceased:
        facts.append(
            '<li><span class="k">Note</span>The record says this patient has died: '
            "no recommendations are made.</li>"
        )
    urgent = [r for r in a.recommendations if r.urgency == "urgent"]
    callout = ""
    if urgent:
        items = "".join(
            f'<li><a href="#r-{esc(r.id)}">{esc(_first_sentence(r.text))}</a></li>' for r in urgent
        )
        callout = (
            '<div class="callout" role="note"><p><span class="urg urg-urgent">'
            f"{URGENCY_MARK['urgent']}URGENT</span></p><ul>{items}</ul></div>"
        )
    jump = (
        f'<p class="jump"><a href="#actions"><strong>{len(urgent)} urgent action'
        f"{'s' if len(urgent) != 1 else ''}</strong></a> · "
        if urgent
        else '<p class="jump">'
    )
    jump += (
        f'<a href="#actions">What to do ({len(a.recommendations)})</a> · '
        f'<a href="#why">Why ({len(a.findings)} findings)</a> · '
        '<a href="#sources">Sources</a></p>'
    )
    return (
        '<section id="conclusion" class="card" aria-labelledby="conclusion-h">'
        '<h2 id="conclusion-h">Conclusion</h2>'
        f'<div class="verdict v-{esc(s.conclusion)}"><p class="big">{esc(headline)}</p>'
        f"{band_line}</div>"
        f'<ul class="facts">{"".join(facts)}</ul>{callout}'
        f'<p class="src">Conclusion sources: {cite(s.sources)}</p>{jump}</section>'
    )


def _first_sentence(text: str) -> str:
    """The first sentence of a recommendation, for the conclusion's urgent call-out."""
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def _nice_label(kb: Knowledge, a: Assessment, r: Reading) -> str | None:
    """NICE's own words for the band of a B12 reading, from the knowledge base."""
    for family in ("mass", "molar"):
        for b in charts.bands_of(kb, a.guideline, r.test, family):
            if b.band == r.band:
                return b.nice_label
    return None


def _results(a: Assessment, kb: Knowledge, cite: CiteFn) -> str:
    parts = [
        '<section id="results" class="card" aria-labelledby="results-h">'
        '<h2 id="results-h">Results</h2>'
    ]
    shown = False
    for lab, alt, ident in (
        ("total_b12", "mass", "chart-total"),
        ("active_b12", None, "chart-active"),
    ):
        svg = charts.b12_timeline(kb, a, lab, ident=ident, alt_family=alt)
        if svg is None:
            continue
        shown = True
        label = kb.labs[lab].label
        bounded = any(r.comparator for r in a.readings if r.test == lab)
        open_note = " Open circles: results reported as beyond a limit." if bounded else ""
        band_sources = [
            s for b in charts.bands_of(kb, a.guideline, lab, "molar") for s in b.sources
        ]
        parts.append(
            f'<figure aria-labelledby="{ident}-cap">{svg}'
            f'<figcaption id="{ident}-cap">{esc(label)} over time, in pmol/L. Shaded: the '
            "guideline bands (a value exactly on a cut-off reads as indeterminate)."
            f"{open_note} Bands: "
            f"{cite(dict.fromkeys(band_sources))}</figcaption></figure>"
        )
        parts.append(
            f"<details><summary>{esc(label)}: the results as a table</summary>"
            f"{charts.b12_table(a, lab, f'{label}: every result, latest first')}</details>"
        )
    if not shown:
        parts.append(
            '<p class="muted">No total or active B12 result on record, so there is nothing to '
            "chart.</p>"
        )
    svg = charts.markers_chart(kb, a, ident="chart-markers")
    if svg is not None:
        parts.append(
            '<h3 id="markers-h">Latest markers against their reference ranges</h3>'
            f'<figure aria-labelledby="markers-cap">{svg}<figcaption id="markers-cap">'
            "Green bar: the reference range used (the laboratory's own, or a published default "
            "where the result had none), in SI units. Diamond: the result.</figcaption></figure>"
            "<details><summary>Latest markers: the results as a table</summary>"
            f"{charts.markers_table(kb, a)}</details>"
        )
    parts.append("</section>")
    return "".join(parts)


def _evidence_item(e: Evidence) -> str:
    bit = esc(e.display or e.code or e.resource)
    if e.value is not None:
        bit += f" {esc(charts.fmt(e.value))} {esc(charts.unit_text(e.unit or ''))}".rstrip()
    if e.date is not None:
        bit += f" ({time_tag(e.date)})"
    if e.text and e.text != e.display:
        bit += f' <span class="muted">· {esc(charts.range_words(e.text))}</span>'
    return bit


def _finding(f: Finding, cite: CiteFn) -> str:
    badges = ""
    badge = STATUS_BADGE.get(f.evidence_status)
    if badge:
        badges += f' <span class="tag {badge[0]}">{esc(badge[1])}</span>'
    if f.counts_for_testing is False:
        badges += (
            ' <span class="tag tag-judgement">Not a NICE common risk factor: '
            "clinical judgement</span>"
        )
    evidence = ""
    if f.evidence:
        shown = [_evidence_item(e) for e in f.evidence[:MAX_EVIDENCE]]
        more = len(f.evidence) - MAX_EVIDENCE
        if more > 0:
            shown.append(f"and {more} more")
        if len(shown) == 1:
            evidence = f'<p class="evidence">From the record: {shown[0]}</p>'
        else:
            items = "".join(f"<li>{x}</li>" for x in shown)
            evidence = f'<div class="evidence">From the record:<ul>{items}</ul></div>'
    return (
        f'<li id="f-{esc(f.id)}" class="st-{esc(f.evidence_status)}">'
        f'<span class="f-label">{esc(f.label)}</span>{badges}'
        f'<p class="f-summary">{esc(f.summary)} {cite(f.sources)}</p>{evidence}</li>'
    )


def _why(a: Assessment, cite: CiteFn) -> str:
    parts = ['<section id="why" class="card" aria-labelledby="why-h"><h2 id="why-h">Why</h2>']
    if not a.findings:
        parts.append("<p>Nothing relevant found in the record.</p>")
    for kind, heading in KIND_HEADINGS:
        items = [f for f in a.findings if f.kind == kind]
        if not items:
            continue
        parts.append(f'<h3 id="why-{kind}">{esc(heading)} ({len(items)})</h3>')
        parts.append(f'<ul class="findings kind-{kind}">')
        parts.extend(_finding(f, cite) for f in items)
        parts.append("</ul>")
    parts.append("</section>")
    return "".join(parts)


def _because(a: Assessment, r: Recommendation) -> str:
    bits = []
    for why in r.because:
        f = a.finding(why)
        if f is not None:
            bits.append(f'<a href="#f-{esc(f.id)}">{esc(f.label)}</a>')
        elif why in CONCLUSION_TEXT:
            bits.append(esc(CONCLUSION_TEXT[why]))
        else:
            bits.append(esc(why))
    return ", ".join(bits)


def _actions(a: Assessment, kb: Knowledge, cite: CiteFn) -> str:
    parts = [
        '<section id="actions" class="card" aria-labelledby="actions-h">'
        '<h2 id="actions-h">What to do</h2>'
    ]
    if not a.recommendations:
        parts.append("<p>No action recommended by the guideline rules.</p>")
    else:
        parts.append('<ol class="actions">')
        for r in a.recommendations:
            urg = URGENCY_TEXT.get(r.urgency, r.urgency)
            badge = STATUS_BADGE.get(r.evidence_status)
            tag = f' <span class="tag {badge[0]}">{esc(badge[1])}</span>' if badge else ""
            orders = ""
            if r.orders:
                names = ", ".join(kb.labs[o].label if o in kb.labs else o for o in r.orders)
                orders = f'<p class="a-why">Tests: {esc(names)}</p>'
            because = _because(a, r)
            parts.append(
                f'<li id="r-{esc(r.id)}" class="u-{esc(r.urgency)}"><div>'
                f'<span class="urg urg-{esc(r.urgency)}">'
                f"{URGENCY_MARK.get(r.urgency, '')}{esc(urg.upper())}</span></div><div>"
                f'<p class="a-text">{esc(r.text)}{tag} {cite(r.sources)}</p>{orders}'
                f"{f'<p class=a-why>Because: {because}</p>' if because else ''}</div></li>"
            )
        parts.append("</ol>")
    parts.append("</section>")
    return "".join(parts)


def _treatments(a: Assessment) -> str:
    if not a.b12_treatments:
        return ""
    rows = []
    for t in a.b12_treatments:
        start = time_tag(t.start) if t.start else "unknown"
        end = time_tag(t.end) if t.end else "—"
        rows.append(
            f"<tr><td>{esc(t.display or t.resource)}</td><td class=n>{start}</td>"
            f"<td class=n>{end}</td><td>{'yes' if t.current else 'no'}</td></tr>"
        )
    return (
        '<section id="treatment" class="card" aria-labelledby="treatment-h">'
        '<h2 id="treatment-h">B12 treatment on record</h2><table><thead><tr>'
        "<th scope=col>Medicine</th><th scope=col>Started</th><th scope=col>Ended</th>"
        "<th scope=col>Current or recent</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></section>"
    )


def _skipped(a: Assessment) -> str:
    if not a.skipped:
        return ""
    items = "".join(f"<li><code>{esc(s.resource)}</code>: {esc(s.reason)}</li>" for s in a.skipped)
    return (
        '<section id="skipped" class="card" aria-labelledby="skipped-h">'
        f'<h2 id="skipped-h">Skipped entries ({len(a.skipped)})</h2>'
        "<p>These entries could not be read and were not assessed; check them in the record."
        f"</p><ul>{items}</ul></section>"
    )


def _all_readings(a: Assessment) -> str:
    if not a.readings:
        return ""
    rows = "".join(
        f'<tr><td class="n">{esc(human_date(r.date))}</td><td>{esc(r.label)}</td>'
        f'<td class="n">{esc(charts.reading_value(r))}</td>'
        f"<td>{esc(r.band or FLAG_TEXT.get(r.flag or '', r.flag or '') or '—')}</td>"
        f"<td>{esc(charts.range_words(r.reference_range))}</td></tr>"
        for r in reversed(a.readings)
    )
    return (
        '<section id="labs" class="card" aria-labelledby="labs-h">'
        f'<h2 id="labs-h">All laboratory results ({len(a.readings)})</h2>'
        "<details><summary>Show every result read from the record, latest first</summary>"
        "<table><thead><tr><th scope=col>Date</th><th scope=col>Test</th>"
        "<th scope=col>Result</th><th scope=col>Reading</th><th scope=col>Reference used</th>"
        f"</tr></thead><tbody>{rows}</tbody></table></details></section>"
    )


def _sources(kb: Knowledge, cited: dict[str, None]) -> str:
    items = []
    used_tags: dict[str, None] = {}
    for sid in cited:
        src = kb.sources.get(sid)
        if src is None:
            items.append(f'<li id="src-{esc(sid)}"><span class="sid">{esc(sid)}</span></li>')
            continue
        used_tags[src.evidence] = None
        items.append(
            f'<li id="src-{esc(sid)}"><span class="sid">{esc(sid)}</span> '
            f'<span class="tag tag-judgement" title="{esc(EVIDENCE_TAGS.get(src.evidence, ""))}">'
            f"{esc(src.evidence)}</span> {esc(src.citation)} "
            f'<a class="url" href="{esc(src.url)}" rel="noreferrer">{esc(src.url)}</a></li>'
        )
    legend = "".join(
        f"<li><strong>{esc(t)}</strong>: {esc(EVIDENCE_TAGS.get(t, ''))}</li>"
        for t in EVIDENCE_TAGS
        if t in used_tags
    )
    return (
        '<section id="sources" class="card" aria-labelledby="sources-h">'
        f'<h2 id="sources-h">Sources ({len(cited)})</h2>'
        "<p>Each source carries a tag saying how directly b12ms read it:</p>"
        f'<ul class="legend">{legend}</ul><ol class="sources">{"".join(items)}</ol></section>'
    )
