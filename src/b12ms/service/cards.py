"""Assessment -> CDS Hooks cards (plain JSON-ready dicts, the shape of `hooks.Card`).

Rules (CDS Hooks 2.0 and the project's brief):

- no element is ever null, an empty string or an empty array: optional parts are left out;
- `summary` is one sentence under 140 characters;
- `indicator`: `critical` when neurological symptoms meet a low or indeterminate B12
  (recommendation `treat.urgent_neuro`), `warning` when deficiency is likely or possible or the
  patient should be tested, else `info`;
- suggestions create draft FHIR R4 ServiceRequests (intent `proposal`) for the labs a test
  recommendation orders, coded with the first LOINC code of the lab's value set;
- the link points at this service's own short-lived copy of the full report.

Record-derived text placed in Markdown (units, laboratory-supplied words) is escaped.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from b12ms.assessment import Assessment, Finding, Reading, Recommendation
from b12ms.dates import shift_months
from b12ms.knowledge import Knowledge, Matcher
from b12ms.model import Medication
from b12ms.render import CONCLUSION_TEXT, DISCLAIMER, KIND_HEADINGS, STATUS_TAG

SOURCE_ID = "nice-ng239"
SOURCE_LABEL = "NICE NG239 via b12ms"
LOINC = "http://loinc.org"
OVERRIDE_SYSTEM = "urn:b12ms:cds-override-reason"
OVERRIDE_REASONS = (
    ("already-tested", "Already tested elsewhere"),
    ("patient-declined", "Patient declined"),
    ("not-relevant", "Not clinically relevant"),
)
# Draft-order triggers for order-select/order-sign: knowledge-base ids whose medication matchers
# recognise the drug, and how a sentence names it.
ORDER_TRIGGERS = (
    ("risk.metformin", "metformin"),
    ("risk.proton_pump_inhibitor", "a proton pump inhibitor"),
    ("risk.h2_receptor_antagonist", "an H2 receptor antagonist"),
    ("ms.s1p_modulator", "an S1P receptor modulator"),
)
SUMMARY_MAX = 139
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def md(text: str) -> str:
    """Escape text for GitHub-flavoured Markdown (so a record cannot inject links or HTML)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def clip(text: str, limit: int = SUMMARY_MAX) -> str:
    """Text shortened at a word boundary to at most `limit` characters."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def short_label(label: str) -> str:
    """A lab label without its parenthesis: "Total B12 (serum cobalamin)" -> "Total B12"."""
    return label.split(" (", 1)[0]


def indicator(a: Assessment) -> str:
    """The card indicator for an assessment."""
    if a.recommendation("treat.urgent_neuro") is not None:
        return "critical"
    if a.b12_status.conclusion in ("deficiency_likely", "deficiency_possible") or a.should_test:
        return "warning"
    return "info"


def recent_b12(a: Assessment, kb: Knowledge) -> bool:
    """Whether the assessment rests on a B12 result within the guideline's recent window."""
    months = int(kb.guideline(a.guideline).setting("recent_result_months").value)
    since = shift_months(a.as_of, -months)
    return any(r.date >= since for r in a.b12_status.basis)


def lab_coding(kb: Knowledge, lab_id: str) -> dict[str, str] | None:
    """The first LOINC coding of a lab's value set."""
    lab = kb.labs.get(lab_id)
    if lab is None:
        return None
    for e in lab.valueset.entries:
        if e.system == LOINC and not e.code.endswith("*"):
            return {"system": LOINC, "code": e.code, "display": e.display}
    return None


@dataclasses.dataclass(slots=True, kw_only=True)
class CardContext:
    """What every card of one call shares."""

    kb: Knowledge
    patient_id: str
    encounter_id: str | None = None
    report_url: str | None = None


def _service_request(ctx: CardContext, lab_id: str, rec: Recommendation) -> dict[str, Any]:
    lab = ctx.kb.labs[lab_id]
    code: dict[str, Any] = {"text": lab.label}
    coding = lab_coding(ctx.kb, lab_id)
    if coding is not None:
        code["coding"] = [coding]
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": code,
        "subject": {"reference": f"Patient/{ctx.patient_id}"},
        "reasonCode": [{"text": clip(rec.text, 250)}],
    }
    if ctx.encounter_id is not None:
        resource["encounter"] = {"reference": f"Encounter/{ctx.encounter_id}"}
    return resource


def _suggestions(
    ctx: CardContext, recs: Iterable[Recommendation], recommended: bool = True
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for rec in recs:
        if rec.action != "test":
            continue
        for i, lab_id in enumerate(rec.orders):
            if lab_id in seen or lab_id not in ctx.kb.labs:
                continue
            seen.add(lab_id)
            label = ctx.kb.labs[lab_id].label
            out.append(
                {
                    "label": f"Order {label}" + (" (alternative)" if i else ""),
                    "uuid": str(uuid.uuid4()),
                    "isRecommended": recommended and i == 0,
                    "actions": [
                        {
                            "type": "create",
                            "description": f"Propose a {label} test (draft ServiceRequest)",
                            "resource": _service_request(ctx, lab_id, rec),
                        }
                    ],
                }
            )
    return out


def _reading(r: Reading) -> str:
    value = f"{r.comparator or ''}{r.value:g} {md(r.unit)}"
    band = f": {r.band}" if r.band else (f": {r.flag}" if r.flag else "")
    return f"{md(r.label)} {value} on {r.date.isoformat()}{band}"


def _cite(ids: Iterable[str], used: dict[str, None]) -> str:
    ids = list(ids)
    for sid in ids:
        used[sid] = None
    return f" [{', '.join(ids)}]" if ids else ""


def _finding_line(f: Finding, used: dict[str, None]) -> str:
    tag = STATUS_TAG.get(f.evidence_status)
    prefix = f"**{tag}** " if tag else ""
    return f"- {prefix}{md(f.summary)}{_cite(f.sources, used)}"


def detail_markdown(
    a: Assessment, kb: Knowledge, lead: Sequence[str] = (), lead_sources: Iterable[str] = ()
) -> str:
    """The card detail: conclusion, reasons, what to do, and the sources cited."""
    used: dict[str, None] = dict.fromkeys(lead_sources)
    lines = list(lead)
    status = a.b12_status
    lines.append(f"**{CONCLUSION_TEXT[status.conclusion]}.**{_cite(status.sources, used)}")
    lines.extend(f"- {_reading(r)}" for r in (*status.basis, *status.functional_markers))
    should = "yes" if a.should_test else "no"
    lines.append(f"- Should test now: {should} ({md(a.should_test_reason)})")
    for kind, heading in KIND_HEADINGS:
        found = [f for f in a.findings if f.kind == kind]
        if found:
            lines += ["", f"**{heading}**", *(_finding_line(f, used) for f in found)]
    if a.recommendations:
        lines += ["", "**What to do**"]
        for rec in a.recommendations:
            lines.append(f"- {rec.urgency.upper()}: {md(rec.text)}{_cite(rec.sources, used)}")
    cited = [sid for sid in used if sid in kb.sources]
    if cited:
        lines += ["", "**Sources**"]
        for sid in cited:
            src = kb.sources[sid]
            lines.append(f"- {sid}: [{md(src.citation)}]({src.url})")
    lines += ["", f"_{DISCLAIMER}_"]
    return "\n".join(lines)


def _card(
    ctx: CardContext,
    *,
    summary: str,
    detail: str,
    level: str,
    suggestions: list[dict[str, Any]],
) -> dict[str, Any]:
    source: dict[str, Any] = {"label": SOURCE_LABEL}
    nice = ctx.kb.sources.get(SOURCE_ID)
    if nice is not None:
        source["url"] = nice.url
    card: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": clip(summary),
        "detail": detail,
        "indicator": level,
        "source": source,
    }
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = "any"
    card["overrideReasons"] = [
        {"system": OVERRIDE_SYSTEM, "code": code, "display": display}
        for code, display in OVERRIDE_REASONS
    ]
    if ctx.report_url is not None:
        card["links"] = [
            {
                "label": "Full b12ms report for this patient",
                "url": ctx.report_url,
                "type": "absolute",
            }
        ]
    return card


def _next_step(a: Assessment, kb: Knowledge) -> str | None:
    for rec in a.recommendations:
        if rec.id == "treat.urgent_neuro":
            return "treat without delay and seek urgent haematology advice"
        if rec.action == "treat":
            return "start B12 replacement and treat the cause"
        if rec.action == "test" and rec.orders:
            labs = [short_label(kb.labs[o].label) for o in rec.orders if o in kb.labs]
            return "test " + " or ".join(labs)
    if a.recommendations:
        return "see the advice"
    return None


def patient_view_cards(a: Assessment, ctx: CardContext) -> list[dict[str, Any]]:
    """patient-view: one card when there is something to say (a recommendation or a red flag)."""
    red_flags = [f for f in a.findings if f.kind == "red_flag"]
    if not a.recommendations and not red_flags:
        return []
    level = indicator(a)
    if level == "critical":
        headline = f"{CONCLUSION_TEXT[a.b12_status.conclusion]} with neurological symptoms"
    elif a.should_test:
        headline = "Test for B12 deficiency: symptoms, a common risk factor and no recent result"
    elif a.b12_status.conclusion == "not_assessed" and red_flags:
        headline = f"Red flag for B12 deficiency: {red_flags[0].label.lower()}"
    else:
        headline = CONCLUSION_TEXT[a.b12_status.conclusion]
    step = _next_step(a, ctx.kb)
    summary = f"{headline}: {step}" if step and not a.should_test else headline
    return [
        _card(
            ctx,
            summary=summary,
            detail=detail_markdown(a, ctx.kb),
            level=level,
            suggestions=_suggestions(ctx, a.recommendations),
        )
    ]


def order_cards(
    a: Assessment, ctx: CardContext, triggers: Mapping[str, Sequence[str]]
) -> list[dict[str, Any]]:
    """order-select/order-sign: a card when a drafted medicine lowers B12 (or, for S1P
    modulators, is the subject of research on B12) and there is no recent B12 result.

    `triggers` maps a trigger id (see ORDER_TRIGGERS) to the names of the drafted medicines.
    """
    if not triggers or recent_b12(a, ctx.kb):
        return []
    names = dict(ORDER_TRIGGERS)
    first = next(iter(triggers))
    months = int(ctx.kb.guideline(a.guideline).setting("recent_result_months").value)
    summary = (
        f"Ordering {names[first]} with no B12 result in the last {months} months: "
        "consider a B12 test"
    )
    lead: list[str] = []
    used: dict[str, None] = {}
    for trigger, drugs in triggers.items():
        shown = ", ".join(md(d) for d in drugs)
        rf = next((r for r in ctx.kb.risk_factors if r.id == trigger), None)
        finding = ctx.kb.findings.get(trigger)
        if rf is not None:
            lead.append(f"- Draft order: {shown}. {md(rf.summary)}{_cite(rf.sources, used)}")
        elif finding is not None:
            tag = STATUS_TAG.get(finding.evidence_status)
            prefix = f"**{tag}** " if tag else ""
            lead.append(
                f"- Draft order: {shown}. {prefix}{md(finding.summary)}"
                f"{_cite(finding.sources, used)}"
            )
    lead.append(f"- No B12 result in the last {months} months.")
    lead.append("")
    tests = [r for r in a.recommendations if r.action == "test" and r.orders]
    recommended = a.should_test
    if not tests:
        default = ctx.kb.recommendations.get("test.total_or_active_b12")
        if default is not None:
            tests = [
                Recommendation(
                    id=default.id,
                    urgency="routine",
                    action="test",
                    text=default.text,
                    sources=default.sources,
                    orders=default.orders,
                )
            ]
    level = indicator(a)
    return [
        _card(
            ctx,
            summary=summary,
            detail=detail_markdown(a, ctx.kb, lead=lead, lead_sources=used),
            level=level,
            suggestions=_suggestions(ctx, tests, recommended=recommended),
        )
    ]


def draft_triggers(kb: Knowledge, drafts: Iterable[Medication]) -> dict[str, list[str]]:
    """Trigger id -> names of the drafted medicines the knowledge base's matchers recognise."""
    matchers: list[tuple[str, Matcher]] = []
    for trigger, _ in ORDER_TRIGGERS:
        for rf in kb.risk_factors:
            if rf.id == trigger:
                matchers += [
                    (trigger, r.matchers.medications) for r in rf.routes if r.matchers.medications
                ]
        finding = kb.findings.get(trigger)
        if finding is not None and finding.matchers is not None and finding.matchers.medications:
            matchers.append((trigger, finding.matchers.medications))
    out: dict[str, list[str]] = {}
    for med in drafts:
        for trigger, matcher in matchers:
            hit = matcher.match(med.medication)
            if hit is not None:
                names = out.setdefault(trigger, [])
                name = med.medication.text or hit[2] or trigger
                if name not in names:
                    names.append(name)
    return out
