"""The population report: one self-contained HTML file a quality lead can open offline.

`render_report` is a pure function from the screen's `PopulationSummary.to_dict()`, its worklist
rows and the knowledge base to an HTML string. Everything is inline: CSS, charts drawn as SVG
here (no plotting library), and a small script that makes the worklist sortable (the table reads
the same without it). Every piece of user data is HTML-escaped. The only links out are the URLs
of the cited sources. The same input always gives the same bytes: the only dates shown are the
as-of date and an optional `generated_at` the caller passes.
"""

from __future__ import annotations

import datetime as dt
import heapq
import html
import itertools
import math
import statistics
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from b12ms.dates import shift_months
from b12ms.knowledge import Band, Knowledge

__all__ = ["MAX_MALFORMED_LISTED", "MAX_TABLE_ROWS", "render_report"]

MAX_TABLE_ROWS = 5000
MAX_MALFORMED_LISTED = 20

GROUPS: tuple[tuple[str, str], ...] = (
    ("ms", "MS diagnosed"),
    ("ms_like", "MS-like symptoms, no MS diagnosis"),
    ("neither", "Neither MS nor MS-like symptoms"),
)
GROUP_SHORT = {"ms": "MS diagnosed", "ms_like": "MS-like symptoms", "neither": "Neither"}
# What the evidence tags of sources.toml mean (the vocabulary at the top of that file).
EVIDENCE_TAGS: tuple[tuple[str, str], ...] = (
    ("P", "primary text read (guideline, paper abstract, publisher or official page)"),
    ("S", "secondary source read (a summary or quotation); the primary itself was not read"),
    ("C", "code or terminology data read in a public repository or a bundled data file"),
    ("D", "added by the b12ms developers from a page not in the shared notes (to confirm)"),
    ("X", "b12ms convention: no guideline figure exists; the developers chose it"),
)
PRIORITY_WORDS = {1: "act now", 2: "high", 3: "medium", 4: "low", 5: "context only"}
BAND_ORDER = {"low": 0, "indeterminate": 1, "normal": 2, "untested": 3}
CONCLUSION_ORDER = {
    "deficiency_likely": 0,
    "deficiency_possible": 1,
    "deficiency_unlikely": 2,
    "not_assessed": 3,
}

# Colours: every text colour below has contrast >= 4.5:1 on its background.
INK = "#1b1f24"
MUTED = "#4b5563"
BAR = "#1f4e79"
# Priority colours, shared by the badges (CSS below) and the care-gap bars; white text on each
# has contrast >= 4.5:1. Priority is always also written as text (P1..P5).
PRIORITY_FILL = {1: "#9b1c1c", 2: "#9a4300", 3: "#1f5f8b", 4: "#3d6b35", 5: "#5b4a72"}
BAND_FILL = {"low": "#f9d9d6", "indeterminate": "#fcebc4", "normal": "#dcefe0"}
BAND_INK = {"low": "#8a1c12", "indeterminate": "#7a4b00", "normal": "#1e5b2e"}


def _e(value: object) -> str:
    """HTML-escaped text of any value (quotes too, so it is safe inside attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: float) -> str:
    """A number without a trailing '.0'."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _pct(n: int, d: int) -> str:
    return f"{100 * n / d:.1f}%" if d else "–"


def _human(identifier: str) -> str:
    """'deficiency_possible' -> 'deficiency possible'."""
    return identifier.replace("_", " ")


# ---- charts ---------------------------------------------------------------------------------


def _svg_open(
    chart_id: str, width: int, height: int, title: str, desc: str, extra: str = ""
) -> str:
    return (
        f'<svg id="{chart_id}" class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{chart_id}-t">{_e(title)}</title><desc id="{chart_id}-d">{_e(desc)}</desc>'
        f"{extra}"
    )


def _patterns(prefix: str) -> str:
    """Fill patterns, so the bands and research bars are told apart without colour."""
    return (
        "<defs>"
        f'<pattern id="{prefix}-hatch" width="8" height="8" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)">'
        f'<rect width="8" height="8" fill="{BAND_FILL["low"]}"/>'
        '<line x1="0" y1="0" x2="0" y2="8" stroke="#c98b84" stroke-width="2"/></pattern>'
        f'<pattern id="{prefix}-dots" width="8" height="8" patternUnits="userSpaceOnUse">'
        f'<rect width="8" height="8" fill="{BAND_FILL["indeterminate"]}"/>'
        '<circle cx="4" cy="4" r="1.3" fill="#c9a152"/></pattern>'
        f'<pattern id="{prefix}-research" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(-45)">'
        '<rect width="6" height="6" fill="#ece4f3"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#6b4a8c" stroke-width="2.5"/></pattern>'
        f'<pattern id="{prefix}-never" width="7" height="7" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)">'
        '<rect width="7" height="7" fill="#f3d3cf"/>'
        '<line x1="0" y1="0" x2="0" y2="7" stroke="#9b1c1c" stroke-width="3"/></pattern>'
        "</defs>"
    )


def _gap_chart(kb: Knowledge, counts: Mapping[str, int], living: int) -> str:
    gaps = sorted(kb.care_gaps.values(), key=lambda g: (g.priority, g.id))
    width, left, right, row_h, top = 1040, 8, 190, 50, 8
    height = top + row_h * max(len(gaps), 1) + 4
    peak = max([counts.get(g.id, 0) for g in gaps] + [1])
    span = width - left - right
    desc = "; ".join(
        f"{g.label}: {counts.get(g.id, 0)} patients ({_pct(counts.get(g.id, 0), living)} of "
        "living patients)"
        for g in gaps
    )
    out = [
        _svg_open("gap-chart", width, height, "Patients per care gap", desc, _patterns("gap-chart"))
    ]
    for i, g in enumerate(gaps):
        n = counts.get(g.id, 0)
        y = top + i * row_h
        research = g.evidence_status == "research"
        label = f"P{g.priority} · {g.label}"
        out.append(
            f'<text x="{left}" y="{y + 14}" class="lbl">{_e(label)}'
            + (
                '<tspan dx="10" class="tag-research">RESEARCH CONTEXT</tspan>'
                if research and "research" not in g.label.lower()
                else ""
            )
            + "</text>"
        )
        w = span * n / peak
        fill = "url(#gap-chart-research)" if research else PRIORITY_FILL.get(g.priority, BAR)
        stroke = ' stroke="#6b4a8c" stroke-width="1"' if research else ""
        out.append(
            f'<rect x="{left}" y="{y + 21}" width="{span}" height="20" fill="#f1f3f5"/>'
            f'<rect x="{left}" y="{y + 21}" width="{w:.1f}" height="20" fill="{fill}"{stroke}/>'
            f'<text x="{left + w + 8:.1f}" y="{y + 36}" class="val">{n:,}'
            f'<tspan class="muted"> ({_pct(n, living)})</tspan></text>'
        )
    out.append("</svg>")
    return "".join(out)


def _b12_cutoffs(bands: Sequence[Band]) -> tuple[float, float]:
    """The lower and upper cut-offs (pmol/L) of the indeterminate band."""
    low = next(b for b in bands if b.band == "low")
    normal = next(b for b in bands if b.band == "normal")
    if low.below is None or normal.above is None:
        raise ValueError("total B12 bands must be 'below' a cut-off (low) and 'above' one (normal)")
    return low.below, normal.above


def _nice_step(span: float, target: int) -> float:
    raw = span / target
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 4, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def _b12_chart(values: Mapping[str, Sequence[float]], bands: Sequence[Band]) -> str:
    lo_cut, hi_cut = _b12_cutoffs(bands)
    # The axis spans about three times the upper cut-off, where the decisions are; values
    # above it are counted beside each panel rather than stretching the axis.
    tick = _nice_step(3 * hi_cut, 8)
    x_max = math.ceil(3 * hi_cut / tick) * tick
    # Fewer, wider bins for small populations, so a histogram is not mostly ones and zeros.
    total = sum(len(values.get(g, ())) for g, _ in GROUPS)
    bin_w = _nice_step(x_max, 40 if total >= 2000 else 25 if total >= 300 else 16)
    n_bins = math.ceil(x_max / bin_w)
    x_max = n_bins * bin_w

    width, left, right = 1040, 210, 120
    strip_h, panel_h, gap_h, axis_h = 46, 96, 14, 46
    top = strip_h + 4
    height = top + len(GROUPS) * (panel_h + gap_h) - gap_h + axis_h
    span = width - left - right

    def x(v: float) -> float:
        return left + span * min(max(v, 0.0), x_max) / x_max

    n_text = ", ".join(f"{label}: n = {len(values.get(g, ()))}" for g, label in GROUPS)
    desc = (
        f"Histograms of the latest total B12 in pmol/L per MS group on one axis from 0 to "
        f"{_num(x_max)}, bin width {_num(bin_w)}; values above {_num(x_max)} are counted beside "
        f"each panel. NICE bands shaded: low below {_num(lo_cut)}, indeterminate "
        f"{_num(lo_cut)} to {_num(hi_cut)}, normal above {_num(hi_cut)}. {n_text}."
    )
    out = [_svg_open("b12-chart", width, height, "Latest total B12 by MS status", desc)]
    out.append(_patterns("b12-chart"))
    regions = (
        ("low", 0.0, lo_cut, "Low", "url(#b12-chart-hatch)"),
        ("indeterminate", lo_cut, hi_cut, "Indeterminate", "url(#b12-chart-dots)"),
        ("normal", hi_cut, x_max, "Normal", BAND_FILL["normal"]),
    )
    # Band names in a strip across the top, the cut-off values above it.
    for band, a, b, caption, fill in regions:
        out.append(
            f'<rect x="{x(a):.1f}" y="18" width="{x(b) - x(a):.1f}" height="{strip_h - 18}" '
            f'fill="{fill}"/>'
            f'<text x="{(x(a) + x(b)) / 2:.1f}" y="{strip_h - 9}" text-anchor="middle" '
            f'class="band-cap" fill="{BAND_INK[band]}">{_e(caption)}</text>'
        )
    for gi, (group, _label) in enumerate(GROUPS):
        vals = values.get(group, ())
        y0 = top + gi * (panel_h + gap_h)
        for _band, a, b, _caption, fill in regions:
            out.append(
                f'<rect x="{x(a):.1f}" y="{y0}" width="{x(b) - x(a):.1f}" height="{panel_h}" '
                f'fill="{fill}" opacity="0.6"/>'
            )
        out.append(
            f'<text x="{left - 14}" y="{y0 + 30}" text-anchor="end" class="lbl">'
            f"{_e(GROUP_SHORT[group])}</text>"
            f'<text x="{left - 14}" y="{y0 + 52}" text-anchor="end" class="val">n = {len(vals):,}'
            "</text>"
        )
        right_x = width - right + 10
        if vals:
            med = statistics.median(vals)
            above = sum(1 for v in vals if v > x_max)
            out.append(
                f'<text x="{left - 14}" y="{y0 + 72}" text-anchor="end" class="muted small">'
                f"median {_num(round(med))} pmol/L</text>"
                f'<text x="{right_x}" y="{y0 + panel_h - 20}" class="small">'
                f"+ {above:,} above</text>"
                f'<text x="{right_x}" y="{y0 + panel_h - 5}" class="small">'
                f"{_num(x_max)} pmol/L</text>"
            )
        if not vals:
            out.append(
                f'<text x="{left + span / 2:.1f}" y="{y0 + panel_h / 2 + 5}" '
                'text-anchor="middle" class="lbl">No total B12 results in this group</text>'
            )
        else:
            bins = [0] * n_bins
            for v in vals:
                if 0 <= v <= x_max:
                    bins[min(int(v // bin_w), n_bins - 1)] += 1
            peak = max([*bins, 1])
            inner = panel_h - 16
            for i, c in enumerate(bins):
                if not c:
                    continue
                h = max(inner * c / peak, 1.5)
                out.append(
                    f'<rect x="{x(i * bin_w) + 0.7:.1f}" y="{y0 + panel_h - h:.1f}" '
                    f'width="{span * bin_w / x_max - 1.4:.1f}" height="{h:.1f}" fill="{BAR}"/>'
                )
            out.append(
                f'<text x="{right_x}" y="{y0 + 16}" class="muted small">tallest bar</text>'
                f'<text x="{right_x}" y="{y0 + 31}" class="muted small">{peak:,} patients</text>'
            )
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y0 + panel_h}" y2="{y0 + panel_h}" '
            f'stroke="{MUTED}" stroke-width="1"/>'
        )
    bottom = top + len(GROUPS) * (panel_h + gap_h) - gap_h
    for cut in (lo_cut, hi_cut):
        out.append(
            f'<line x1="{x(cut):.1f}" x2="{x(cut):.1f}" y1="18" y2="{bottom}" stroke="{INK}" '
            'stroke-width="1.5" stroke-dasharray="5 3"/>'
            f'<text x="{x(cut):.1f}" y="13" text-anchor="middle" class="val">{_num(cut)}</text>'
        )
    t = 0.0
    while t <= x_max + 1e-9:
        out.append(
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{bottom}" y2="{bottom + 5}" '
            f'stroke="{MUTED}"/><text x="{x(t):.1f}" y="{bottom + 20}" text-anchor="middle" '
            f'class="small">{_num(t)}</text>'
        )
        t += tick
    out.append(
        f'<text x="{left + span / 2:.1f}" y="{bottom + 40}" text-anchor="middle" class="lbl">'
        f"Latest total B12 (pmol/L), bins of {_num(bin_w)} pmol/L</text></svg>"
    )
    return "".join(out)


def _months_text(months: int) -> str:
    if months % 12 == 0:
        years = months // 12
        return f"{years} year" + ("s" if years != 1 else "")
    return f"{months} months"


def _metformin_buckets(
    days: Sequence[int | None], as_of: dt.date, window_months: int
) -> list[tuple[str, int, str]]:
    """(label, count, kind) per bucket; kind is 'within', 'overdue' or 'never'."""
    bounds = sorted({window_months, 24, 60})
    bounds = [b for b in bounds if b >= window_months]
    limits = [(as_of - shift_months(as_of, -m)).days for m in bounds]
    labels = [f"≤ {_months_text(bounds[0])}"]
    for a, b in itertools.pairwise(bounds):
        if a % 12 == 0 and b % 12 == 0:
            labels.append(f"{a // 12}–{_months_text(b)}")
        else:
            labels.append(f"{_months_text(a)} – {_months_text(b)}")
    labels.append(f"{_months_text(bounds[-1])}+".replace(" years+", "+ years"))
    counts = [0] * (len(bounds) + 1)
    never = 0
    for d in days:
        if d is None:
            never += 1
            continue
        i = 0
        while i < len(limits) and d > limits[i]:  # on the day itself counts as within
            i += 1
        counts[i] += 1
    out = [(labels[0], counts[0], "within")]
    out += [(lab, c, "overdue") for lab, c in zip(labels[1:], counts[1:], strict=True)]
    out.append(("Never tested", never, "never"))
    return out


def _metformin_chart(buckets: Sequence[tuple[str, int, str]], window_months: int) -> str:
    total = sum(c for _, c, _ in buckets)
    width, height, left, right, top, bottom = 1040, 290, 60, 40, 62, 52
    span = width - left - right
    slot = span / len(buckets)
    inner = height - top - bottom
    peak = max([c for _, c, _ in buckets] + [1])
    desc = "; ".join(f"{lab}: {c} ({_pct(c, total)})" for lab, c, _ in buckets)
    out = [
        _svg_open(
            "met-chart",
            width,
            height,
            "Time since the last B12 result, metformin users",
            f"Monitoring window {window_months} months. {desc}.",
            _patterns("met-chart"),
        )
    ]
    fills = {"within": "#2f6f3e", "overdue": "#a04a00", "never": "url(#met-chart-never)"}
    for i, (label, c, kind) in enumerate(buckets):
        bx = left + i * slot + slot * 0.18
        bw = slot * 0.64
        h = inner * c / peak
        y = top + inner - h
        stroke = ' stroke="#9b1c1c" stroke-width="1.5"' if kind == "never" else ""
        out.append(
            f'<rect x="{bx:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{h:.1f}" '
            f'fill="{fills[kind]}"{stroke}/>'
            f'<text x="{bx + bw / 2:.1f}" y="{y - 8:.1f}" text-anchor="middle" class="val">'
            f"{c:,}<tspan class='muted'> ({_pct(c, total)})</tspan></text>"
            f'<text x="{bx + bw / 2:.1f}" y="{top + inner + 22}" text-anchor="middle" '
            f'class="lbl">{_e(label)}</text>'
            f'<text x="{bx + bw / 2:.1f}" y="{top + inner + 42}" text-anchor="middle" '
            f'class="muted small">{"within window" if kind == "within" else ""}'
            f"{'outside window' if kind == 'overdue' else ''}"
            f"{'no B12 result on record' if kind == 'never' else ''}</text>"
        )
    wx = left + slot
    out.append(
        f'<line x1="{left}" x2="{width - right}" y1="{top + inner}" y2="{top + inner}" '
        f'stroke="{MUTED}"/>'
        f'<line x1="{wx:.1f}" x2="{wx:.1f}" y1="{top - 30}" y2="{top + inner + 8}" '
        f'stroke="{INK}" stroke-width="2" stroke-dasharray="6 4"/>'
        f'<text x="{wx:.1f}" y="{top - 34}" text-anchor="middle" class="lbl">'
        f"Monitoring window: {window_months} months</text>"
        f'<text x="{wx - 8:.1f}" y="{top - 14}" text-anchor="end" class="small">◂ within</text>'
        f'<text x="{wx + 8:.1f}" y="{top - 14}" class="small">outside ▸</text></svg>'
    )
    return "".join(out)


# ---- sections -------------------------------------------------------------------------------


def _badge(priority: object) -> str:
    try:
        p = int(str(priority))
    except ValueError:
        return f'<span class="badge">{_e(priority)}</span>'
    word = PRIORITY_WORDS.get(p, "")
    return (
        f'<span class="badge p{min(max(p, 1), 5)}" title="Priority {p}: {_e(word)}">'
        f"P{p}<span class='badge-word'> {_e(word)}</span></span>"
    )


def _header(summary: Mapping[str, Any], kb: Knowledge, title: str, generated_at: str | None) -> str:
    patients = int(summary.get("patients", 0))
    deceased = int(summary.get("deceased", 0))
    living = patients - deceased
    on_worklist = int(summary.get("on_worklist", 0))
    priority_counts = summary.get("priority_counts", {}) or {}
    urgent = int(priority_counts.get("1", 0))
    sha = str(summary.get("kb_sha256", ""))
    g = kb.guideline()
    meta = [
        ("As of", summary.get("as_of", "")),
        ("Guideline", g.title),
        ("Engine", summary.get("engine", "")),
        ("Knowledge base", f"{summary.get('kb_version', '')} (sha256 {sha[:12]})"),
    ]
    if generated_at:
        meta.append(("Generated", generated_at))
    tiles = [
        ("Patients screened", f"{patients:,}", f"{living:,} living, {deceased:,} deceased"),
        ("On worklist", f"{on_worklist:,}", f"{_pct(on_worklist, living)} of living patients"),
        ("Priority 1 (act now)", f"{urgent:,}", "urgent recommendation or gap"),
        (
            "Should be tested now",
            f"{int(summary.get('should_test', 0)):,}",
            "NICE testing rule met",
        ),
        (
            "Metformin users",
            f"{int(summary.get('metformin_users', 0)):,}",
            "living patients",
        ),
    ]
    warn = ""
    if sha and sha != kb.sha256:
        warn = (
            '<p class="warn" role="note"><strong>Knowledge-base mismatch.</strong> The screen used '
            f"knowledge base {_e(summary.get('kb_version'))} (sha256 {_e(sha[:12])}), but this "
            f"report labels it with {_e(kb.version)} (sha256 {_e(kb.sha256[:12])}). Labels, "
            "cut-offs and sources below may not match the screen.</p>"
        )
    return (
        f"<header><h1>{_e(title)}</h1>"
        '<dl class="meta">'
        + "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in meta)
        + "</dl>"
        '<p class="caveat" role="note"><strong>b12ms supports clinical judgement; it does not '
        "replace it.</strong> "
        f"Knowledge base {_e(kb.version)}: {_e(kb.clinical_review)}.</p>"
        + warn
        + '<ul class="tiles">'
        + "".join(
            f'<li><span class="tile-k">{_e(k)}</span><span class="tile-v">{_e(v)}</span>'
            f'<span class="tile-s">{_e(s)}</span></li>'
            for k, v, s in tiles
        )
        + "</ul></header>"
    )


def _gap_section(summary: Mapping[str, Any], kb: Knowledge) -> str:
    counts: Mapping[str, int] = summary.get("gap_counts", {}) or {}
    living = int(summary.get("patients", 0)) - int(summary.get("deceased", 0))
    gaps = sorted(kb.care_gaps.values(), key=lambda g: (g.priority, g.id))
    rows = []
    for g in gaps:
        n = int(counts.get(g.id, 0))
        research = g.evidence_status == "research"
        status = (
            '<span class="tag-research-box">Research context</span>'
            if research
            else _e(g.evidence_status)
        )
        srcs = ", ".join(f'<a href="#src-{_e(s)}">{_e(s)}</a>' for s in g.sources)
        rows.append(
            f"<tr{' class=research' if research else ''}>"
            f'<th scope="row"><span title="{_e(g.summary)}">{_e(g.label)}</span>'
            f'<span class="gap-summary">{_e(g.summary)}</span></th>'
            f'<td class="num">{n:,}</td><td class="num">{_pct(n, living)}</td>'
            f'<td>{_badge(g.priority)}</td><td>{status}</td><td class="srcs">{srcs}</td></tr>'
        )
    unknown = sorted(set(counts) - set(kb.care_gaps))
    for gid in unknown:
        n = int(counts[gid])
        rows.append(
            f'<tr><th scope="row">{_e(gid)} <em>(not in this knowledge base)</em></th>'
            f'<td class="num">{n:,}</td><td class="num">{_pct(n, living)}</td>'
            "<td></td><td></td><td></td></tr>"
        )
    pc: Mapping[str, int] = summary.get("priority_counts", {}) or {}
    prio = " ".join(
        f'<span class="prio-count">{_badge(p)} {int(n):,}</span>'
        for p, n in sorted(pc.items(), key=lambda kv: int(kv[0]))
    )
    return (
        '<section aria-labelledby="h-gaps"><h2 id="h-gaps">Care gaps</h2>'
        '<p class="lead">Patients with each care gap; a patient can have several. Share is of '
        f"the {living:,} living patients. Priority runs from 1 (act now) to 5 (context only) "
        "and colours the bars; research-context gaps are hatched and are not evidence for "
        "treatment.</p>"
        f"<figure>{_gap_chart(kb, counts, living)}</figure>"
        + (
            f'<p class="prio-line"><strong>Worklist rows by priority</strong> '
            f"(a row takes its most urgent gap, and P1 with an urgent recommendation): {prio}</p>"
            if pc
            else ""
        )
        + '<table class="data gaps-table"><caption>Care gap counts</caption><thead><tr>'
        '<th scope="col">Care gap</th><th scope="col" class="num">Patients</th>'
        '<th scope="col" class="num">Share of living</th><th scope="col">Priority</th>'
        '<th scope="col">Evidence</th><th scope="col">Sources</th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table></section>"
    )


def _b12_section(summary: Mapping[str, Any], kb: Knowledge) -> str:
    bands = kb.guideline().bands_for("total_b12", "molar")
    lo_cut, hi_cut = _b12_cutoffs(bands)
    values: Mapping[str, Sequence[float]] = summary.get("latest_b12_pmol", {}) or {}
    band_counts: Mapping[str, Mapping[str, int]] = summary.get("band_counts", {}) or {}
    rows = []
    not_shown = 0
    for group, label in GROUPS:
        vals = list(values.get(group, ()))
        tested = sum(int(n) for b, n in band_counts.get(group, {}).items() if b != "untested")
        untested = int(band_counts.get(group, {}).get("untested", 0))
        not_shown += max(tested - len(vals), 0)
        per_band = {b.band: sum(1 for v in vals if b.holds(v)) for b in bands}
        cells = "".join(
            f'<td class="num">{per_band[b.band]:,} <span class="muted">'
            f"({_pct(per_band[b.band], len(vals))})</span></td>"
            for b in bands
        )
        med = _num(round(statistics.median(vals))) if vals else "–"
        rows.append(
            f'<tr><th scope="row">{_e(label)}</th><td class="num">{len(vals):,}</td>{cells}'
            f'<td class="num">{med}</td><td class="num">{untested:,}</td></tr>'
        )
    mass = kb.labs["total_b12"].families.get("mass")
    conv = (
        f" Results reported in {_e(mass.unit)} are converted (× {_num(mass.to_canonical)}); "
        "the engine bands each result in the unit it was reported in, so a converted value "
        "within about 1 pmol/L of a cut-off can sit on the other side of the line here."
        if mass
        else ""
    )
    legend = "".join(
        f'<li><span class="swatch sw-{_e(b.band)}" aria-hidden="true"></span>'
        f"<strong>{_e(b.band.capitalize())}</strong> "
        f"({_e(_band_range(b))} pmol/L): {_e(b.nice_label)}</li>"
        for b in bands
    )
    return (
        '<section aria-labelledby="h-b12"><h2 id="h-b12">Latest total B12 by MS status</h2>'
        '<p class="lead">The latest total B12 of each living patient whose latest B12 result is '
        "a total B12, on one shared axis, with the NICE NG239 bands shaded. Cut-offs "
        f"{_num(lo_cut)} and {_num(hi_cut)} pmol/L come from the knowledge base; a result on a "
        f"cut-off counts as {_e(kb.guideline().on_cutoff)}.</p>"
        f'<figure>{_b12_chart(values, bands)}<figcaption><ul class="legend">{legend}</ul>'
        "</figcaption></figure>"
        '<table class="data"><caption>Latest total B12 per group (pmol/L)</caption><thead><tr>'
        '<th scope="col">Group</th><th scope="col" class="num">n</th>'
        + "".join(
            f'<th scope="col" class="num">{_e(b.band.capitalize())} ({_e(_band_range(b))})</th>'
            for b in bands
        )
        + '<th scope="col" class="num">Median</th>'
        '<th scope="col" class="num">No B12 result</th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table>"
        f'<p class="note">Not shown: {not_shown:,} tested patients whose latest result is an '
        f"active B12 (holotranscobalamin) or has no numeric value.{conv}</p></section>"
    )


def _band_range(b: Band) -> str:
    if b.below is not None:
        return f"< {_num(b.below)}"
    if b.above is not None:
        return f"> {_num(b.above)}"
    return f"{_num(b.lower or 0)}–{_num(b.upper or 0)}"


def _metformin_section(summary: Mapping[str, Any], kb: Knowledge) -> str:
    window = int(kb.care_gap_settings["monitoring_window_months"].value)
    days: Sequence[int | None] = summary.get("metformin_days_since_b12", []) or []
    as_of = dt.date.fromisoformat(str(summary.get("as_of") or "2000-01-01"))
    buckets = _metformin_buckets(days, as_of, window)
    total = len(days)
    within = buckets[0][1]
    if total:
        body = f"<figure>{_metformin_chart(buckets, window)}</figure>"
    else:
        body = '<p class="empty">No living metformin users in this population.</p>'
    return (
        '<section aria-labelledby="h-met"><h2 id="h-met">Metformin users: time since the last '
        "B12 result</h2>"
        f'<p class="lead">{total:,} living metformin users; {within:,} '
        f"({_pct(within, total)}) have a B12 result (total or active) within the "
        f"{window}-month monitoring window. The long-term metformin gap also needs "
        f"{_num(kb.care_gap_settings['metformin_years'].value)} or more years of use, so not "
        "everyone outside the window is on the worklist.</p>" + body + "</section>"
    )


def _split(value: object) -> list[str]:
    return [p for p in str(value or "").split(";") if p]


def _worklist_section(shown: Sequence[Mapping[str, Any]], total: int, kb: Knowledge) -> str:
    risk_labels = {rf.id: rf.label for rf in kb.risk_factors}
    body = []
    for i, r in enumerate(shown):
        gaps = []
        for gid in _split(r.get("care_gaps")):
            g = kb.care_gaps.get(gid)
            if g is None:
                gaps.append(f'<li class="gap">{_e(gid)}</li>')
            else:
                cls = "gap research" if g.evidence_status == "research" else "gap"
                gaps.append(f'<li class="{cls}" title="{_e(g.summary)}">{_e(g.label)}</li>')
        recs = []
        for rid in _split(r.get("recommendations")):
            rec = kb.recommendations.get(rid)
            if rec is None:
                recs.append(f"<li>{_e(rid)}</li>")
                continue
            urgent = rec.urgency == "urgent"
            short = _human(rid.split(".", 1)[-1])
            recs.append(
                f'<li class="rec{" urgent" if urgent else ""}" title="{_e(rec.text)}">'
                f"{'<strong>URGENT</strong> ' if urgent else ''}{_e(rec.action)}: "
                f"{_e(short)}</li>"
            )
        risks = "".join(
            f"<li>{_e(risk_labels.get(rid, rid))}</li>" for rid in _split(r.get("risk_factors"))
        )
        band = str(r.get("band") or "")
        conclusion = str(r.get("conclusion") or "")
        value = _as_float(r.get("latest_b12_value"))
        si = _as_float(r.get("latest_b12_value_si"))
        unit = str(r.get("latest_b12_unit") or "")
        if value is None:
            b12 = '<span class="muted">none</span>'
        else:
            test = "active " if r.get("latest_b12_test") == "active_b12" else ""
            b12 = f'<span class="nw">{_e(test)}{_e(_fmt_value(value))} {_e(unit)}</span>'
            if si is not None and unit != "pmol/L":
                b12 += f' <span class="muted">({_e(_fmt_value(si))} pmol/L)</span>'
        ms = '<span class="ms-tag">MS</span>' if _truthy(r.get("ms")) else ""
        body.append(
            f'<tr data-i="{i}">'
            f'<td data-sort="{_int_or(r.get("priority"), 99)}">{_badge(r.get("priority"))}</td>'
            f'<th scope="row" class="pid">{_e(r.get("patient_id"))}{ms}</th>'
            f'<td class="gapcell"><ul class="gaps">{"".join(gaps)}</ul></td>'
            f'<td data-sort="{BAND_ORDER.get(band, 9)}{CONCLUSION_ORDER.get(conclusion, 9)}">'
            f'<span class="band b-{_e(band)}">{_e(band)}</span>'
            f'<span class="concl">{_e(_human(conclusion))}</span></td>'
            f'<td data-sort="{_e(si if si is not None else "")}">{b12}</td>'
            f'<td class="date">{_e(r.get("latest_b12_date") or "")}</td>'
            f'<td><ul class="plain inline">{risks}</ul></td>'
            f'<td class="recs"><ul class="plain inline recs">{"".join(recs)}</ul></td></tr>'
        )
    cap = ""
    if total > len(shown):
        cap = (
            f'<p class="warn" role="note">This report lists the first {len(shown):,} of '
            f"{total:,} worklist rows (most urgent first). The full worklist is in the CSV or "
            "Parquet file the screen wrote beside this report.</p>"
        )
    if not shown:
        table = '<p class="empty">No patients on the worklist.</p>'
    else:
        heads = [
            ("Priority", True),
            ("Patient", False),
            ("Care gaps", False),
            ("Band and conclusion", True),
            ("Latest B12", True),
            ("Date", False),
            ("Risk factors", False),
            ("Recommendations", False),
        ]
        table = (
            '<div class="table-wrap"><table id="worklist" class="data worklist">'
            f"<caption>Worklist: {len(shown):,} of {total:,} patients</caption><thead><tr>"
            + "".join(
                f'<th scope="col"{" data-num" if num else ""}>{_e(h)}</th>' for h, num in heads
            )
            + "</tr></thead><tbody>"
            + "".join(body)
            + "</tbody></table></div>"
        )
    return (
        '<section aria-labelledby="h-work"><h2 id="h-work">Worklist</h2>'
        '<p class="lead">Patients who need action, most urgent first. Click a column heading to '
        "sort; hover over a care gap or recommendation for its full wording. MS marks a "
        "diagnosed MS."
        "</p>" + cap + table + "</section>"
    )


def _most_urgent(
    rows: Iterable[Mapping[str, Any]], limit: int
) -> tuple[list[Mapping[str, Any]], int]:
    """The `limit` most urgent rows (priority, then patient id, then input order) and the count
    of all rows; streams, so an iterator over a million rows is never held in memory."""
    total = 0

    def keyed() -> Iterator[tuple[int, str, int, Mapping[str, Any]]]:
        nonlocal total
        for i, r in enumerate(rows):
            total += 1
            yield (_int_or(r.get("priority"), 99), str(r.get("patient_id")), i, r)

    best = heapq.nsmallest(limit, keyed(), key=lambda k: k[:3])
    return [k[3] for k in best], total


def _badge_css() -> str:
    return "".join(f".badge.p{p}{{background:{c}}}" for p, c in sorted(PRIORITY_FILL.items()))


def _int_or(value: object, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def _fmt_value(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _as_float(value: object) -> float | None:
    """A number from a row value (rows read back from CSV hold strings)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return float(str(value))
    except ValueError:
        return None


def _truthy(value: object) -> bool:
    """A boolean from a row value: True, or 'true'/'1' as read back from CSV."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _cited_sources(kb: Knowledge) -> list[str]:
    g = kb.guideline()
    ids: set[str] = set(g.sources) | set(g.boundary_sources)
    for gap in kb.care_gaps.values():
        ids.update(gap.sources)
    for setting in kb.care_gap_settings.values():
        ids.update(setting.sources)
    for band in g.bands_for("total_b12", "molar"):
        ids.update(band.sources)
    for fam in kb.labs["total_b12"].families.values():
        ids.update(fam.sources)
    return sorted(ids)


def _sources_section(kb: Knowledge) -> str:
    items = []
    for sid in _cited_sources(kb):
        s = kb.sources.get(sid)
        if s is None:
            items.append(f'<li id="src-{_e(sid)}"><code>{_e(sid)}</code> (unknown source)</li>')
            continue
        url = (
            f'<a href="{_e(s.url)}" rel="noreferrer">{_e(s.url)}</a>'
            if s.url.startswith(("https://", "http://"))
            else f"<code>{_e(s.url)}</code>"
        )
        note = f'<br><span class="muted">{_e(s.note)}</span>' if s.note else ""
        items.append(
            f'<li id="src-{_e(sid)}"><span class="ev" title="Evidence tag {_e(s.evidence)}">'
            f"{_e(s.evidence)}</span> <code>{_e(sid)}</code> {_e(s.citation)} "
            f'<span class="muted">[{_e(s.kind)}]</span><br>{url}{note}</li>'
        )
    tags = "".join(f"<div><dt>{t}</dt><dd>{_e(d)}</dd></div>" for t, d in EVIDENCE_TAGS)
    return (
        '<section aria-labelledby="h-src"><h2 id="h-src">Sources</h2>'
        '<p class="lead">Every source cited by the care gaps, their settings and the B12 bands '
        "in this report. The letter before each is its evidence tag:</p>"
        f'<dl class="tags">{tags}</dl><ul class="sources">{"".join(items)}</ul></section>'
    )


def _inputs_section(summary: Mapping[str, Any]) -> str:
    malformed: Sequence[Any] = summary.get("malformed_lines", []) or []
    malformed_total = int(summary.get("malformed_lines_total", len(malformed)))
    seconds = summary.get("seconds")
    facts = [
        ("Files read", f"{int(summary.get('files_read', 0)):,}"),
        ("FHIR resources read", f"{int(summary.get('resources_read', 0)):,}"),
        ("Patients", f"{int(summary.get('patients', 0)):,}"),
        ("Deceased (no care gaps)", f"{int(summary.get('deceased', 0)):,}"),
        ("Malformed lines (skipped)", f"{malformed_total:,}"),
        ("Entries skipped inside records", f"{int(summary.get('skipped_entries', 0)):,}"),
    ]
    if "resources_without_patient" in summary:
        facts.append(
            ("Resources without a patient", f"{int(summary['resources_without_patient']):,}")
        )
    if isinstance(seconds, int | float):
        facts.append(("Screen time", f"{seconds:,.1f} s"))
    listed = []
    for m in malformed[:MAX_MALFORMED_LISTED]:
        if isinstance(m, Mapping):
            where = f"{m.get('file', '?')}:{m.get('line', '?')}"
            why = m.get("reason", m.get("error", ""))
        else:
            where, why = str(m), ""
        listed.append(f"<li><code>{_e(where)}</code> {_e(why)}</li>")
    more = ""
    if malformed_total > len(listed):
        more = (
            f'<p class="note">First {len(listed)} of {malformed_total:,} malformed lines '
            "listed; the screen's JSON summary lists more.</p>"
        )
    return (
        '<section aria-labelledby="h-in"><h2 id="h-in">Input notes</h2><dl class="facts">'
        + "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in facts)
        + "</dl>"
        + (
            f'<h3>Malformed lines</h3><ol class="malformed">{"".join(listed)}</ol>{more}'
            if listed
            else ""
        )
        + '<p class="note">Entries skipped inside records (unknown units, impossible values, '
        "results without a date, entered-in-error) are left out of the assessment; "
        "each is listed in that patient's own assessment.</p></section>"
    )


CSS = """
:root{--ink:#1b1f24;--muted:#4b5563;--line:#d0d7de;--bg:#ffffff;--soft:#f6f8fa;--bar:#1f4e79}
*{box-sizing:border-box}
html{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue","DejaVu Sans",
Arial,sans-serif;color:var(--ink);background:var(--bg);font-size:15px;line-height:1.45}
body{margin:0}
main{max-width:1120px;margin:0 auto;padding:28px 32px 48px}
h1{font-size:1.9rem;margin:0 0 .4rem;letter-spacing:-.01em}
h3{font-size:1.05rem;margin:1rem 0 .3rem}
h2{font-size:1.35rem;margin:2.2rem 0 .4rem;padding-top:.9rem;border-top:2px solid var(--ink)}
.lead{margin:.2rem 0 .8rem;max-width:80ch;color:var(--ink)}
.note{color:var(--muted);font-size:.9rem;max-width:90ch}
.muted{color:var(--muted)}
.meta{display:flex;flex-wrap:wrap;gap:.3rem 1.6rem;margin:.2rem 0 .8rem}
.meta div{display:flex;gap:.4rem}.meta dt{color:var(--muted)}.meta dd{margin:0;font-weight:600}
.caveat{background:#fff8e1;border-left:5px solid #8a5a00;padding:.55rem .9rem;margin:.6rem 0}
.warn{background:#fdecea;border-left:5px solid #9b1c1c;padding:.55rem .9rem;margin:.6rem 0}
.tiles{list-style:none;padding:0;margin:1rem 0 0;display:grid;
grid-template-columns:repeat(5,1fr);gap:12px}
.tiles li{border:1px solid var(--line);border-radius:8px;padding:.7rem .9rem;background:var(--soft)}
.tile-k{display:block;font-size:.85rem;color:var(--muted);font-weight:600}
.tile-v{display:block;font-size:2rem;font-weight:700;line-height:1.15;font-variant-numeric:tabular-nums}
.tile-s{display:block;font-size:.82rem;color:var(--muted)}
figure{margin:.6rem 0 1rem}
svg.chart{width:100%;height:auto;display:block;font-family:inherit}
svg .lbl{font-size:14px;fill:#1b1f24;font-weight:600}
svg .val{font-size:14px;fill:#1b1f24;font-weight:700}
svg .muted{fill:#4b5563;font-weight:400}
svg .small{font-size:12.5px;fill:#1b1f24}
svg .muted.small{fill:#4b5563}
svg .band-cap{font-size:12.5px;font-weight:700}
svg .tag-research{font-size:11.5px;fill:#4a2a6b;font-weight:700;letter-spacing:.04em}
.legend{list-style:none;padding:0;margin:.3rem 0 0;display:flex;flex-wrap:wrap;gap:.3rem 1.4rem;
font-size:.9rem}
.swatch{display:inline-block;width:1.1em;height:1.1em;vertical-align:-.2em;margin-right:.35em;
border:1px solid #8c959f}
.sw-low{background:repeating-linear-gradient(45deg,#f9d9d6 0 3px,#c98b84 3px 5px)}
.sw-indeterminate{background:radial-gradient(circle,#c9a152 1.4px,#fcebc4 1.6px) 0 0/6px 6px}
.sw-normal{background:#dcefe0}
table.data{border-collapse:collapse;width:100%;margin:.6rem 0 .4rem;font-size:.92rem}
table.data caption{text-align:left;font-weight:700;padding:.3rem 0;caption-side:top}
table.data th,table.data td{border-bottom:1px solid var(--line);padding:.4rem .5rem;
text-align:left;vertical-align:top}
table.data thead th{background:#eef1f4;border-bottom:2px solid #8c959f;white-space:nowrap}
table.data tbody th{font-weight:600}
table.gaps-table th[scope=row]{width:44%}
table.gaps-table td.srcs{font-size:.82rem;width:22%}table.gaps-table td.srcs a{white-space:nowrap}
.num{text-align:right!important;font-variant-numeric:tabular-nums;white-space:nowrap}
.gap-summary{display:block;font-weight:400;color:var(--muted);font-size:.85rem;max-width:60ch}
tr.research th{border-left:4px solid #6b4a8c}
.tag-research-box{display:inline-block;border:1.5px dashed #4a2a6b;color:#4a2a6b;font-weight:700;
padding:0 .35rem;border-radius:4px;font-size:.8rem;white-space:nowrap}
.badge{display:inline-block;border-radius:4px;padding:.05rem .4rem;font-weight:700;
font-size:.8rem;color:#fff;background:#57606a;white-space:nowrap}
.badge-word{font-weight:600}
.prio-line{font-size:.95rem}.prio-count{margin-right:.9rem;white-space:nowrap}
.table-wrap{overflow-x:auto}
table.worklist{font-size:.86rem}
table.worklist td,table.worklist th{padding:.35rem .45rem}
.worklist .pid{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-weight:600;
overflow-wrap:anywhere;min-width:17ch;max-width:21ch}
ul.gaps,ul.plain{list-style:none;margin:0;padding:0}
ul.gaps li{margin:0 0 .15rem;padding-left:.6rem;border-left:3px solid var(--bar)}
ul.gaps li.research{border-left:3px dashed #6b4a8c;font-style:italic}
ul.gaps li[title],ul.recs li[title]{cursor:help}
ul.recs li.urgent{color:#9b1c1c;font-weight:600}
ul.inline li{display:inline}
ul.inline li+li::before{content:" · ";color:var(--muted);font-weight:400}
.worklist td.date{white-space:nowrap}.worklist td.recs{min-width:22ch}
table.worklist thead th{white-space:normal}
.worklist td.gapcell{min-width:16ch}
.worklist td.recs{font-size:.8rem}
.concl{display:block;margin-top:.15rem}.nw{white-space:nowrap}
.ms-tag{display:inline-block;margin-left:.4rem;padding:0 .3rem;border:1px solid var(--ink);
border-radius:3px;font-size:.75rem;font-family:system-ui,sans-serif;word-break:normal}
.band{display:inline-block;padding:0 .35rem;border-radius:3px;border:1px solid #8c959f;
white-space:nowrap}
.b-low{background:#f9d9d6;color:#8a1c12;font-weight:700}
.b-indeterminate{background:#fcebc4;color:#6b4100;font-style:italic}
.b-normal{background:#dcefe0;color:#1e5b2e}
.b-untested{background:#fff;color:var(--muted);border-style:dashed}
th button.sort{all:unset;cursor:pointer;font-weight:700}
th button.sort:focus-visible{outline:2px solid var(--bar);outline-offset:2px}
th button.sort::after{content:" ↕";color:var(--muted);font-weight:400}
th[aria-sort=ascending] button.sort::after{content:" ▲";color:var(--ink)}
th[aria-sort=descending] button.sort::after{content:" ▼";color:var(--ink)}
.tags{display:grid;grid-template-columns:auto 1fr;gap:.15rem .7rem;font-size:.9rem;margin:.3rem 0}
.tags div{display:contents}.tags dt{font-weight:700}.tags dd{margin:0}
.sources{list-style:none;padding-left:0;font-size:.9rem}.sources li{margin:.4rem 0}
.ev{display:inline-block;min-width:1.5em;text-align:center;font-weight:700;
border:1px solid var(--ink);border-radius:3px}
.sources a{color:#0b4f8a;word-break:break-all}
.facts{display:grid;grid-template-columns:repeat(3,1fr);gap:.5rem 1.5rem}
.facts div{border-bottom:1px solid var(--line);padding:.2rem 0}
.facts dt{color:var(--muted);font-size:.85rem}.facts dd{margin:0;font-weight:700;font-size:1.1rem}
.malformed{font-size:.88rem}
.empty{padding:1rem;border:1px dashed #8c959f;color:var(--muted);background:var(--soft)}
footer{margin-top:2rem;color:var(--muted);font-size:.85rem;border-top:1px solid var(--line);
padding-top:.6rem}
@media (max-width:900px){.tiles{grid-template-columns:repeat(2,1fr)}}
@media print{
 html{font-size:11pt}main{max-width:none;padding:0}
 h2{break-after:avoid}figure,.tiles,table.data tr{break-inside:avoid}
 thead{display:table-header-group}
 .tiles li,table.data thead th{background:#fff}
 th button.sort::after{content:""}
 .sources a::after{content:""}
 .table-wrap{overflow:visible}
}
"""

SCRIPT = """
(function(){
var t=document.getElementById('worklist');if(!t)return;
var hs=t.tHead.rows[0].cells;
function key(c,num){var v=c.getAttribute('data-sort');if(v===null)v=c.textContent.trim();
if(!num)return v;return v===''?null:parseFloat(v);}
function sortBy(i){var th=hs[i],num=th.hasAttribute('data-num');
var dir=th.getAttribute('aria-sort')==='ascending'?-1:1;
for(var j=0;j<hs.length;j++)hs[j].removeAttribute('aria-sort');
th.setAttribute('aria-sort',dir===1?'ascending':'descending');
var b=t.tBodies[0],rows=Array.prototype.slice.call(b.rows);
rows.sort(function(p,q){var x=key(p.cells[i],num),y=key(q.cells[i],num),r;
if(x===''||x===null)r=(y===''||y===null)?0:1;else if(y===''||y===null)r=-1;
else r=(num?x-y:x.localeCompare(y))*dir;
return r||(p.getAttribute('data-i')-q.getAttribute('data-i'));});
var f=document.createDocumentFragment();rows.forEach(function(r){f.appendChild(r);});
b.appendChild(f);}
for(var i=0;i<hs.length;i++){(function(i){var th=hs[i],btn=document.createElement('button');
btn.type='button';btn.className='sort';while(th.firstChild)btn.appendChild(th.firstChild);
th.appendChild(btn);btn.addEventListener('click',function(){sortBy(i);});})(i);}
})();
"""


def render_report(
    summary: Mapping[str, Any],
    rows: Iterable[Mapping[str, Any]],
    kb: Knowledge,
    *,
    title: str | None = None,
    generated_at: str | None = None,
) -> str:
    """The population report as one self-contained HTML document (pure: no I/O, no clock).

    `summary` is `PopulationSummary.to_dict()`, `rows` the worklist rows (WORKLIST_COLUMNS
    keys; the most urgent 5,000 are listed), `generated_at` an optional timestamp to print.
    """
    shown, total = _most_urgent(rows, MAX_TABLE_ROWS)
    as_of = str(summary.get("as_of", ""))
    heading = title or f"B12 care gaps: population report, {as_of}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="b12ms {_e(summary.get("engine", ""))}">',
        f"<title>{_e(heading)}</title><style>{CSS}{_badge_css()}</style></head><body><main>",
        _header(summary, kb, heading, generated_at),
        _gap_section(summary, kb),
        _b12_section(summary, kb),
        _metformin_section(summary, kb),
        _worklist_section(shown, total, kb),
        _sources_section(kb),
        _inputs_section(summary),
        f"<footer>b12ms population report · knowledge base {_e(kb.version)} "
        f"(sha256 {_e(kb.sha256)}) · {_e(kb.guideline().title)}. b12ms supports clinical "
        "judgement; it does not replace it.</footer>",
        f"</main><script>{SCRIPT}</script></body></html>",
    ]
    return "\n".join(parts) + "\n"
