"""Assessment -> text a person reads: plain text (terminal), Markdown, and the JSON contract.

Order is the clinician's: the conclusion first, then why, then what to do, then the sources.
Every statement is followed by its source ids; contested and research findings say so.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable

from b12ms.assessment import Assessment, Finding, Reading
from b12ms.knowledge import Knowledge

CONCLUSION_TEXT = {
    "deficiency_likely": "B12 deficiency likely",
    "deficiency_possible": "B12 deficiency possible",
    "deficiency_unlikely": "B12 deficiency unlikely",
    "not_assessed": "B12 status not assessed: no B12 result on record",
}
BAND_TEXT = {
    "low": "low",
    "indeterminate": "indeterminate",
    "normal": "normal",
    "untested": "untested",
}
KIND_HEADINGS = (
    ("red_flag", "Red flags"),
    ("caveat", "Caveats"),
    ("ms_context", "MS context"),
    ("symptom", "Symptoms and signs"),
    ("risk_factor", "Risk factors"),
)
STATUS_TAG = {"contested": "CONTESTED EVIDENCE", "research": "RESEARCH ONLY"}
DISCLAIMER = (
    "b12ms supports clinical judgement; it does not replace it. Its knowledge base has not yet "
    "been reviewed by a clinician."
)


def to_json(assessment: Assessment) -> str:
    """The JSON contract, indented."""
    return json.dumps(assessment.to_dict(), indent=2, ensure_ascii=False) + "\n"


def _reading_text(r: Reading) -> str:
    value = f"{r.comparator or ''}{r.value:g} {r.unit}"
    if r.value_si is not None and r.si_unit and r.si_unit.lower() != r.unit.lower():
        value += f" ({r.value_si:.4g} {r.si_unit})"
    text = f"{r.label} {value} on {r.date.isoformat()}"
    if r.band:
        text += f": {r.band}"
    elif r.flag and r.flag != "unknown":
        text += f": {r.flag}"
        if r.reference_range:
            text += f" (reference {r.reference_range})"
    return text


def _status_lines(a: Assessment) -> list[str]:
    s = a.b12_status
    lines = [f"{CONCLUSION_TEXT[s.conclusion]}."]
    for r in s.basis:
        lines.append(_reading_text(r) + ".")
    for r in s.functional_markers:
        lines.append(_reading_text(r) + ".")
    answer = "yes" if a.should_test else "no"
    lines.append(f"Should test now: {answer} ({a.should_test_reason}).")
    return lines


def _sources_used(a: Assessment) -> list[str]:
    ids: dict[str, None] = {}
    for sid in a.b12_status.sources:
        ids[sid] = None
    for f in a.findings:
        for sid in f.sources:
            ids[sid] = None
    for r in a.recommendations:
        for sid in r.sources:
            ids[sid] = None
    return list(ids)


def _finding_line(f: Finding) -> str:
    tag = STATUS_TAG.get(f.evidence_status)
    prefix = f"[{tag}] " if tag else ""
    return f"{prefix}{f.summary} [{', '.join(f.sources)}]"


def _evidence_line(f: Finding) -> str | None:
    parts = []
    for e in f.evidence[:4]:
        bit = e.display or e.code or e.resource
        if e.value is not None:
            bit += f" {e.value:g} {e.unit or ''}".rstrip()
        if e.date is not None:
            bit += f" ({e.date.isoformat()})"
        parts.append(bit)
    if not parts:
        return None
    more = f" and {len(f.evidence) - 4} more" if len(f.evidence) > 4 else ""
    return "from the record: " + "; ".join(parts) + more


def to_text(a: Assessment, kb: Knowledge, width: int = 100) -> str:
    """A clinician's summary for the terminal."""
    out: list[str] = []

    def para(text: str, indent: str = "", sub: str | None = None) -> None:
        out.extend(
            textwrap.wrap(
                text,
                width=width,
                initial_indent=indent,
                subsequent_indent=sub if sub is not None else indent + "  ",
                break_long_words=False,
                break_on_hyphens=False,
            )
            or [indent]
        )

    who = a.patient.id or "unnamed patient"
    details = ", ".join(
        x for x in (f"{a.patient.age}" if a.patient.age is not None else None, a.patient.sex) if x
    )
    out.append(f"b12ms assessment: {who}{f' ({details})' if details else ''}, as of {a.as_of}")
    out.append(
        f"Guideline {a.guideline}; knowledge base {a.kb_version} (sha256 {a.kb_sha256[:12]})"
    )
    if a.patient.deceased:
        out.append("The record says this patient has died: no recommendations are made.")
    out.append("")
    out.append("CONCLUSION")
    for line in _status_lines(a):
        para(line, "  ")
    out.append(f"  [{', '.join(a.b12_status.sources)}]")
    out.append("")
    out.append("WHY")
    if not a.findings:
        out.append("  Nothing relevant found in the record.")
    for kind, heading in KIND_HEADINGS:
        items = [f for f in a.findings if f.kind == kind]
        if not items:
            continue
        out.append(f"  {heading}")
        for f in items:
            para(_finding_line(f), "  - ", "      ")
            ev = _evidence_line(f)
            if ev:
                para(ev, "      ", "        ")
    out.append("")
    out.append("WHAT TO DO")
    if not a.recommendations:
        out.append("  No action recommended by the guideline rules.")
    for r in a.recommendations:
        para(f"{r.urgency.upper():8}{r.text} [{', '.join(r.sources)}]", "  ", "          ")
    if a.skipped:
        out.append("")
        out.append(f"SKIPPED ({len(a.skipped)} entries not assessed)")
        for s in a.skipped:
            para(f"{s.resource}: {s.reason}", "  - ", "      ")
    out.append("")
    out.append("SOURCES")
    for sid in _sources_used(a):
        src = kb.sources[sid]
        para(f"[{sid}] ({src.evidence}) {src.citation} {src.url}", "  ", "      ")
    out.append("")
    para(DISCLAIMER, "", "")
    return "\n".join(out) + "\n"


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()<>#+!|~"} | {"\n": " ", "\r": " "})


def _md_escape(text: str) -> str:
    """Escape Markdown and inline HTML: text from a record must not become links or markup."""
    return text.translate(_MD_SPECIAL)


def to_markdown(a: Assessment, kb: Knowledge) -> str:
    """The same summary as Markdown (for notes, tickets and reports)."""
    out: list[str] = []
    who = _md_escape(a.patient.id or "unnamed patient")
    out.append(f"# B12 assessment: {who}, as of {a.as_of}")
    out.append("")
    out.append(
        f"Guideline `{a.guideline}` · knowledge base `{a.kb_version}` (sha256 `{a.kb_sha256[:12]}`)"
    )
    out.append("")
    out.append("## Conclusion")
    out.append("")
    lines = _status_lines(a)
    out.append(f"**{lines[0]}**")
    out.append("")
    out.extend(f"- {_md_escape(line)}" for line in lines[1:])
    out.append(f"- Sources: {', '.join(a.b12_status.sources)}")
    out.append("")
    out.append("## Why")
    for kind, heading in KIND_HEADINGS:
        items = [f for f in a.findings if f.kind == kind]
        if not items:
            continue
        out.append("")
        out.append(f"### {heading}")
        out.append("")
        for f in items:
            out.append(f"- {_md_escape(_finding_line(f))}")
            ev = _evidence_line(f)
            if ev:
                out.append(f"  - {_md_escape(ev)}")
    out.append("")
    out.append("## What to do")
    out.append("")
    if not a.recommendations:
        out.append("No action recommended by the guideline rules.")
    else:
        out.append("| Urgency | Recommendation | Sources |")
        out.append("|---|---|---|")
        for r in a.recommendations:
            out.append(f"| {r.urgency} | {_md_escape(r.text)} | {', '.join(r.sources)} |")
    if a.skipped:
        out.append("")
        out.append("## Skipped entries")
        out.append("")
        out.extend(f"- {_md_escape(s.resource)}: {_md_escape(s.reason)}" for s in a.skipped)
    out.append("")
    out.append("## Sources")
    out.append("")
    for sid in _sources_used(a):
        src = kb.sources[sid]
        out.append(f"- **{sid}** ({src.evidence}): {src.citation} <{src.url}>")
    out.append("")
    out.append(f"_{DISCLAIMER}_")
    return "\n".join(out) + "\n"


def kb_summary(kb: Knowledge, guideline_ids: Iterable[str] | None = None) -> str:
    """`b12ms kb show`: what the knowledge base holds, in text."""
    out = [
        f"{kb.name} knowledge base {kb.version} (sha256 {kb.sha256})",
        f"Clinical review: {kb.clinical_review}",
        "",
    ]
    for gid in guideline_ids or kb.guidelines:
        g = kb.guidelines[gid]
        out.append(f"Guideline {g.id}: {g.title}")
        for b in g.bands:
            unit = kb.labs[b.lab].families[b.family].unit
            if b.below is not None:
                rng = f"< {b.below:g}"
            elif b.above is not None:
                rng = f"> {b.above:g}"
            else:
                rng = f"{b.lower:g} to {b.upper:g}"
            out.append(f"  {b.lab:<11} {b.band:<14} {rng} {unit}  [{', '.join(b.sources)}]")
        for key, setting in g.settings.items():
            out.append(f"  setting {key} = {setting.value:g}  [{', '.join(setting.sources)}]")
        out.append("")
    out.append(f"Risk factors ({len(kb.risk_factors)}):")
    for rf in kb.risk_factors:
        box2 = "NICE box 2" if any(r.nice_box2 for r in rf.routes) else "not NICE box 2"
        out.append(f"  {rf.id:<38} {box2:<15} {rf.label}")
    out.append(f"Symptoms and signs ({len(kb.symptoms)}):")
    for s in kb.symptoms:
        tags = ", ".join(
            t for t, on in (("MS-like", s.ms_overlap), ("neurological", s.neurological)) if on
        )
        out.append(f"  {s.id:<38} {tags:<22} {s.label}")
    out.append(f"Findings ({len(kb.findings)}):")
    for fid, f in kb.findings.items():
        out.append(f"  {fid:<38} {f.kind:<11} {f.evidence_status}")
    out.append(f"Recommendations ({len(kb.recommendations)}):")
    for rid, r in kb.recommendations.items():
        out.append(f"  {rid:<38} {r.urgency:<8} {r.action}")
    out.append(f"Value sets ({len(kb.valuesets)}):")
    for name, vs in kb.valuesets.items():
        out.append(f"  {name:<38} {len(vs.entries)} codes")
    out.append(f"Sources ({len(kb.sources)}):")
    for sid, src in kb.sources.items():
        out.append(f"  {sid:<28} ({src.evidence}) {src.kind}")
    return "\n".join(out) + "\n"
