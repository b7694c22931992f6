"""Inline SVG charts of an assessment's laboratory results, each with a table as its text.

- B12 over time: every total B12 result in pmol/L (`value_si`), with the guideline's bands
  shaded and labelled; active B12 on a panel of its own. Cut-offs come from the knowledge
  base, never from this module.
- Latest markers: MMA, homocysteine, MCV, haemoglobin and folate, each as a bar of its
  reference range (the one b12ms used) with a marker at the result.

Every chart is `role="img"` with a <title> and <desc>, and is followed by a data table.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from collections.abc import Sequence

from b12ms.assessment import Assessment, Reading
from b12ms.knowledge import Band, Knowledge
from b12ms.web.page import esc, human_date

MARKER_TESTS = ("mma", "homocysteine", "mcv", "haemoglobin", "folate")

BAND_FILL = {"low": "#f8d7d3", "indeterminate": "#fbe7c2", "normal": "#d6ecdd"}
BAND_INK = {"low": "#8a1c12", "indeterminate": "#6b3d00", "normal": "#14532d"}
INK = "#1b1f24"
MUTED = "#4a5560"
NAVY = "#1d3a5f"
GRID = "#c9d0d8"
FLAG_WORDS = {
    "raised": "Raised \u25b2",
    "low": "Low \u25bc",
    "normal": "Within range",
    "unknown": "No reference range",
    "positive": "Positive",
    "negative": "Negative",
}


def fmt(value: float) -> str:
    """A number as a clinician writes it: no trailing zeros, at most 4 significant figures."""
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:.0f}"
    return f"{value:.4g}"


def unit_text(unit: str) -> str:
    """A unit as printed: micro as µ (umol/L -> µmol/L)."""
    return "\u00b5" + unit[1:] if unit.startswith(("umol", "ug/")) else unit


def reading_value(r: Reading) -> str:
    """The result as reported: comparator, value and unit."""
    return f"{r.comparator or ''}{fmt(r.value)} {unit_text(r.unit)}"


def reading_si(r: Reading) -> str | None:
    """The result in the SI unit b12ms uses, when that differs from the reported unit."""
    if r.value_si is None or not r.si_unit or r.si_unit.lower() == r.unit.lower():
        return None
    return f"{r.comparator or ''}{fmt(r.value_si)} {unit_text(r.si_unit)}"


def range_words(text: str | None, absent: str = "\u2014") -> str:
    """A reference range as the engine wrote it, with ≤ and ≥ for <= and >=."""
    if not text:
        return absent
    text = text.replace(">=", "\u2265").replace("<=", "\u2264")
    return re.sub(r"(?<![A-Za-z])umol/", "\u00b5mol/", text)


def band_range_text(band: Band) -> str:
    """A band's limits in words: < 133, 133–258, > 258."""
    if band.below is not None:
        return f"< {fmt(band.below)}"
    if band.above is not None:
        return f"> {fmt(band.above)}"
    return f"{fmt(band.lower or 0)}\u2013{fmt(band.upper or 0)}"


def bands_of(kb: Knowledge, guideline: str, lab: str, family: str) -> tuple[Band, ...]:
    """The guideline's bands of one test in one unit family (empty when it has none)."""
    try:
        return kb.guideline(guideline).bands_for(lab, family)
    except KeyError:
        return ()


# --------------------------------------------------------------------------------------------
# Reference ranges, back from the words the engine wrote to numbers in the SI unit


@dataclasses.dataclass(frozen=True, slots=True)
class Range:
    """A reference range in a reading's SI unit; `kind` is laboratory, default or flag."""

    low: float | None
    high: float | None
    kind: str


def reference(kb: Knowledge, r: Reading) -> Range | None:
    """The reference range a reading was flagged against, in its SI unit, if it had one.

    The limits come from the engine as numbers (`reference_low_si`, `reference_high_si`);
    only the kind is read from the range's words."""
    text = r.reference_range
    if not text:
        return None
    if text == "laboratory flag":
        return Range(None, None, "flag")
    if r.reference_low_si is None and r.reference_high_si is None:
        return None
    kind = "laboratory" if text.endswith("(laboratory range)") else "default"
    return Range(r.reference_low_si, r.reference_high_si, kind)


# --------------------------------------------------------------------------------------------
# SVG helpers


def _text(
    x: float,
    y: float,
    text: str,
    *,
    anchor: str = "start",
    size: float = 12,
    fill: str = INK,
    weight: str = "normal",
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size:g}" '
        f'fill="{fill}" font-weight="{weight}">{esc(text)}</text>'
    )


def _svg_open(width: int, height: int, ident: str, title: str, desc: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{ident}-t {ident}-d" xmlns="http://www.w3.org/2000/svg" '
        'font-family="system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif">'
        f'<title id="{ident}-t">{esc(title)}</title><desc id="{ident}-d">{esc(desc)}</desc>'
    )


def _nice_step(span: float, target: int = 5) -> float:
    raw = span / max(target, 1)
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= mult * power:
            return mult * power
    return 10 * power


def _date_ticks(start: dt.date, end: dt.date) -> list[dt.date]:
    """Month or year starts between two dates, at most about six."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if months > 36:
        years = list(range(start.year + 1, end.year + 1))
        step = max(1, math.ceil(len(years) / 6))
        return [dt.date(y, 1, 1) for y in years[::step]]
    step = max(1, math.ceil((months + 1) / 6))
    ticks = []
    y, m = start.year, start.month
    while True:
        m += 1
        if m > 12:
            y, m = y + 1, 1
        d = dt.date(y, m, 1)
        if d > end:
            break
        ticks.append(d)
    return ticks[::step]


# --------------------------------------------------------------------------------------------
# B12 over time


def b12_timeline(
    kb: Knowledge,
    a: Assessment,
    lab: str,
    *,
    ident: str,
    alt_family: str | None = None,
) -> str | None:
    """One panel: a B12 test's results over time on its guideline bands (None: no results)."""
    readings = [r for r in a.readings if r.test == lab and r.value_si is not None]
    if not readings:
        return None
    lab_def = kb.labs[lab]
    unit = lab_def.canonical_unit or readings[0].si_unit or ""
    molar = bands_of(kb, a.guideline, lab, "molar")
    alt = {b.band: b for b in bands_of(kb, a.guideline, lab, alt_family)} if alt_family else {}
    to_si = lab_def.families["molar"].to_canonical if "molar" in lab_def.families else 1.0

    width, height = 640, 290
    left, right, top, bottom = 50, 206, 28, 46
    pw, ph = width - left - right, height - top - bottom

    values = [r.value_si or 0.0 for r in readings]
    cut_top = max([(b.above or b.upper or b.below or 0.0) * to_si for b in molar] or [max(values)])
    y_max_raw = max(cut_top * 1.55, max(values) * 1.18)
    step = _nice_step(y_max_raw)
    y_max = math.ceil(y_max_raw / step) * step

    dates = [r.date for r in readings] + [a.as_of]
    d0, d1 = min(dates), max(dates)
    span = (d1 - d0).days
    pad = max(20, round(span * 0.1))
    x0 = d0 - dt.timedelta(days=pad)
    x1 = d1 + dt.timedelta(days=pad)
    total_days = (x1 - x0).days

    def sx(d: dt.date) -> float:
        return left + pw * (d - x0).days / total_days

    def sy(v: float) -> float:
        return top + ph * (1 - min(max(v, 0.0), y_max) / y_max)

    title = f"{lab_def.label} over time, in {unit}, on the {a.guideline} bands"
    latest = readings[-1]
    desc = (
        f"{len(readings)} result{'s' if len(readings) != 1 else ''}; latest "
        f"{reading_value(latest)} on {human_date(latest.date)}"
        + (f", band {latest.band}" if latest.band else "")
        + ". Bands: "
        + "; ".join(f"{b.band} {band_range_text(b)} {unit}" for b in molar)
        + "."
    )
    out = [_svg_open(width, height, ident, title, desc)]

    # Bands, shaded and labelled on the right.
    for b in molar:
        lo = (b.lower if b.lower is not None else b.above if b.above is not None else 0.0) * to_si
        hi = (b.upper if b.upper is not None else b.below if b.below is not None else y_max) * to_si
        if b.above is not None:
            hi = y_max
        y_hi, y_lo = sy(hi), sy(lo)
        out.append(
            f'<rect x="{left}" y="{y_hi:.1f}" width="{pw}" height="{max(y_lo - y_hi, 0):.1f}" '
            f'fill="{BAND_FILL.get(b.band, "#eee")}"/>'
        )
        out.append(
            f'<rect x="{left + pw}" y="{y_hi:.1f}" width="{right - 8}" '
            f'height="{max(y_lo - y_hi, 0):.1f}" fill="{BAND_FILL.get(b.band, "#eee")}"/>'
        )
        mid = (y_hi + y_lo) / 2
        ink = BAND_INK.get(b.band, INK)
        out.append(
            _text(left + pw + 10, mid - 4, b.band.capitalize(), size=14, fill=ink, weight="bold")
        )
        limits = f"{band_range_text(b)} {lab_def.families['molar'].unit}"
        if b.band in alt and alt_family:
            limits += f" ({band_range_text(alt[b.band])} {lab_def.families[alt_family].unit})"
        out.append(_text(left + pw + 10, mid + 13, limits, size=11.5, fill=ink))
    # Cut-off lines.
    for b in molar:
        for cut in (b.below, b.above):
            if cut is not None:
                y = sy(cut * to_si)
                out.append(
                    f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" '
                    f'stroke="{MUTED}" stroke-width="1" stroke-dasharray="4 3"/>'
                )
    # Axes.
    v = 0.0
    while v <= y_max + 1e-9:
        y = sy(v)
        out.append(_text(left - 8, y + 4, fmt(v), anchor="end", size=12.5, fill=MUTED))
        out.append(
            f'<line x1="{left - 4}" x2="{left}" y1="{y:.1f}" y2="{y:.1f}" stroke="{MUTED}"/>'
        )
        v += step
    out.append(
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}" stroke="{MUTED}"/>'
        f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="{MUTED}"/>'
    )
    out.append(
        f'<text transform="translate(14 {top + ph / 2:.1f}) rotate(-90)" text-anchor="middle" '
        f'font-size="12" fill="{MUTED}">{esc(unit)}</text>'
    )
    for d in _date_ticks(x0, x1):
        x = sx(d)
        label = str(d.year) if d.month == 1 else d.strftime("%b %Y")
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + ph}" y2="{top + ph + 4}" '
            f'stroke="{MUTED}"/>'
        )
        out.append(_text(x, top + ph + 18, label, anchor="middle", size=12.5, fill=MUTED))
    # The as-of date.
    xa = sx(a.as_of)
    out.append(
        f'<line x1="{xa:.1f}" x2="{xa:.1f}" y1="{top}" y2="{top + ph}" stroke="{NAVY}" '
        'stroke-width="1.5" stroke-dasharray="2 3"/>'
    )
    out.append(
        _text(
            xa,
            top - 8,
            f"as of {human_date(a.as_of)}",
            anchor="end" if xa > left + pw * 0.6 else "start",
            size=11.5,
            fill=NAVY,
        )
    )
    # The results: a line through them, then each point with its value and date.
    if len(readings) > 1:
        pts = " ".join(f"{sx(r.date):.1f},{sy(r.value_si or 0.0):.1f}" for r in readings)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{NAVY}" stroke-width="2"/>')
    for i, r in enumerate(readings):
        x, y = sx(r.date), sy(r.value_si or 0.0)
        shape = (
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{NAVY}" stroke="#fff" '
            'stroke-width="2"/>'
        )
        if r.comparator:  # a bound, not a value: an open marker
            shape = (
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="#fff" stroke="{NAVY}" '
                'stroke-width="2.5"/>'
            )
        out.append(shape)
        above = i % 2 == 0 or len(readings) == 1
        ly = y - 26 if above else y + 22
        if ly < top + 6:
            ly = y + 22
        if ly > top + ph - 16:
            ly = y - 26
        anchor = "end" if x > left + pw * 0.72 else "start" if x < left + pw * 0.28 else "middle"
        first = reading_value(r)
        si = reading_si(r)
        if si:
            first += f" = {si}"
        out.append(_text(x, ly, first, anchor=anchor, size=13.5, weight="bold"))
        out.append(_text(x, ly + 15, human_date(r.date), anchor=anchor, size=12.5, fill=MUTED))
    out.append("</svg>")
    return "".join(out)


def b12_table(a: Assessment, lab: str, caption: str) -> str:
    """Every result of a B12 test as a table: the chart's text alternative."""
    rows = [r for r in a.readings if r.test == lab]
    body = "".join(
        f'<tr><td class="n">{esc(human_date(r.date))}</td>'
        f'<td class="n">{esc(reading_value(r))}</td>'
        f'<td class="n">{esc(fmt(r.value_si)) if r.value_si is not None else "—"}</td>'
        f"<td>{_band_tag(r.band)}</td><td>{esc(range_words(r.reference_range))}</td></tr>"
        for r in reversed(rows)
    )
    return (
        f"<table><caption>{esc(caption)}</caption><thead><tr><th scope=col>Date</th>"
        f"<th scope=col>Result as reported</th><th scope=col>{esc(_si(rows))}</th>"
        "<th scope=col>Guideline band</th><th scope=col>Laboratory range</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _si(rows: Sequence[Reading]) -> str:
    unit = next((r.si_unit for r in rows if r.si_unit), None)
    return f"In {unit}" if unit else "SI value"


def _band_tag(band: str | None) -> str:
    if not band:
        return "—"
    return f'<span class="tag tag-band-{esc(band)}">{esc(band)}</span>'


# --------------------------------------------------------------------------------------------
# Latest markers against their reference ranges


def latest_markers(a: Assessment, tests: Sequence[str] = MARKER_TESTS) -> list[Reading]:
    """The latest reading of each marker test that has one, in the order given."""
    latest: dict[str, Reading] = {}
    for r in a.readings:  # oldest first: later ones win
        if r.test in tests:
            latest[r.test] = r
    return [latest[t] for t in tests if t in latest]


def markers_chart(kb: Knowledge, a: Assessment, *, ident: str) -> str | None:
    """Range bars with a marker at each latest result (None: no marker results)."""
    readings = latest_markers(a)
    if not readings:
        return None
    row_h = 50
    width, top = 600, 8
    height = top + row_h * len(readings) + 6
    bar_x, bar_w = 150, 300
    title = "Latest blood results against their reference ranges"
    parts = []
    for r in readings:
        word = FLAG_WORDS.get(r.flag or "unknown", r.flag or "")
        parts.append(f"{r.label} {reading_value(r)} on {human_date(r.date)}: {word}")
    out = [_svg_open(width, height, ident, title, "; ".join(parts) + ".")]
    for i, r in enumerate(readings):
        y = top + i * row_h
        mid = y + 24
        if i:
            out.append(f'<line x1="0" x2="{width}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        out.append(_text(0, mid - 3, short_label(r), size=13, weight="bold"))
        out.append(_text(0, mid + 13, human_date(r.date), size=11.5, fill=MUTED))
        rng = reference(kb, r)
        value = r.value_si if r.value_si is not None else r.value
        low = rng.low if rng else None
        high = rng.high if rng else None
        lo_d, hi_d = _domain(value, low, high)

        def sx(v: float, lo_d: float = lo_d, hi_d: float = hi_d) -> float:
            return bar_x + bar_w * (min(max(v, lo_d), hi_d) - lo_d) / (hi_d - lo_d)

        out.append(
            f'<rect x="{bar_x}" y="{mid - 5}" width="{bar_w}" height="10" rx="3" '
            f'fill="#eef1f5" stroke="{GRID}"/>'
        )
        if low is not None or high is not None:
            rx0 = sx(low if low is not None else lo_d)
            rx1 = sx(high if high is not None else hi_d)
            out.append(
                f'<rect x="{rx0:.1f}" y="{mid - 7}" width="{max(rx1 - rx0, 1):.1f}" height="14" '
                f'rx="3" fill="#cfe6d7" stroke="#2f7a4c"/>'
            )
            for edge in (low, high):
                if edge is not None:
                    out.append(
                        _text(sx(edge), mid + 22, fmt(edge), anchor="middle", size=11, fill=MUTED)
                    )
        flagged = r.flag in ("raised", "low")
        mx = sx(value)
        colour = "#a3211a" if flagged else NAVY
        out.append(
            f'<path d="M{mx:.1f} {mid - 10:.1f} l7 10 l-7 10 l-7 -10 z" fill="{colour}" '
            'stroke="#fff" stroke-width="1.5"/>'
        )
        si_unit = unit_text(r.si_unit or r.unit)
        out.append(
            _text(
                mx,
                mid - 13,
                f"{r.comparator or ''}{fmt(value)}",
                anchor="middle",
                size=12,
                weight="bold",
                fill=colour,
            )
        )
        word = FLAG_WORDS.get(r.flag or "unknown", r.flag or "")
        out.append(
            _text(
                bar_x + bar_w + 16,
                mid - 3,
                word,
                size=13,
                weight="bold",
                fill="#a3211a" if flagged else INK,
            )
        )
        ref_note = si_unit
        if rng is not None and rng.kind == "default":
            ref_note += " · default range"
        elif rng is not None and rng.kind == "flag":
            ref_note += " · laboratory flag"
        elif rng is None:
            ref_note += " · no range"
        out.append(_text(bar_x + bar_w + 16, mid + 13, ref_note, size=11.5, fill=MUTED))
    out.append("</svg>")
    return "".join(out)


def short_label(r: Reading) -> str:
    """A short test name for a chart row: the abbreviation in brackets, if any."""
    m = re.search(r"\(([A-Z][A-Za-z0-9]*)\)$", r.label)
    return m.group(1) if m else r.label


def _domain(value: float, low: float | None, high: float | None) -> tuple[float, float]:
    """The scale of one range bar: the range with room either side, and the value."""
    if low is not None and high is not None and high > low:
        span = high - low
        lo_d, hi_d = max(0.0, low - span * 0.8), high + span * 0.8
    elif high is not None and high > 0:
        lo_d, hi_d = 0.0, high * 1.7
    elif low is not None and low > 0:
        lo_d, hi_d = 0.0, low * 2.2
    else:
        lo_d, hi_d = 0.0, max(abs(value) * 2, 1.0)
    lo_d = min(lo_d, value - abs(value) * 0.05)
    hi_d = max(hi_d, value * 1.08)
    lo_d = max(lo_d, 0.0) if value >= 0 else lo_d
    if hi_d <= lo_d:
        hi_d = lo_d + 1.0
    return lo_d, hi_d


def markers_table(kb: Knowledge, a: Assessment) -> str:
    """The latest markers as a table: the range chart's text alternative."""
    rows = []
    for r in latest_markers(a):
        si = reading_si(r)
        rows.append(
            f'<tr><th scope="row">{esc(r.label)}</th><td class="n">{esc(human_date(r.date))}</td>'
            f'<td class="n">{esc(reading_value(r))}{f" ({esc(si)})" if si else ""}</td>'
            f"<td>{esc(range_words(r.reference_range, 'none'))}</td>"
            f"<td>{_flag_tag(r.flag)}</td></tr>"
        )
    return (
        "<table><caption>Latest blood results</caption><thead><tr><th scope=col>Test</th>"
        "<th scope=col>Date</th><th scope=col>Result</th><th scope=col>Reference used</th>"
        "<th scope=col>Reading</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _flag_tag(flag: str | None) -> str:
    word = FLAG_WORDS.get(flag or "unknown", flag or "")
    return f'<span class="tag tag-{esc(flag or "unknown")}">{esc(word)}</span>'
