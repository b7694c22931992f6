"""The assessment engine: patient record + knowledge base + as-of date -> Assessment.

Pure functions: no I/O, no clock, no FHIR. Every threshold, code, phrase and sentence comes from
the knowledge base; this module holds only the logic that combines them:

1. read the laboratory results (unit families, impossible values, reference ranges);
2. band the latest total or active B12 result and conclude with the functional markers;
3. find risk factors, symptoms, MS context, caveats and red flags, each with its evidence;
4. decide `should_test` (NICE: a symptom or sign, a box 2 risk factor, no recent result);
5. make the recommendations. Treatment is only ever recommended for a low or indeterminate
   B12 result: b12ms never recommends B12 to a person whose B12 result is normal.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence

from b12ms.assessment import (
    KIND_ORDER,
    URGENCY_ORDER,
    Assessment,
    B12Status,
    Evidence,
    Exposure,
    Finding,
    PatientSummary,
    Reading,
    Recommendation,
    Skip,
)
from b12ms.dates import age_on, shift_months
from b12ms.knowledge import Guideline, Knowledge, LabDef, Matcher, MatcherSet
from b12ms.knowledge.loader import fold_unit
from b12ms.model import (
    Concept,
    Condition,
    Medication,
    Observation,
    PatientRecord,
    Quantity,
)

B12_TESTS = ("total_b12", "active_b12")
FUNCTIONAL_TESTS = ("mma", "homocysteine")
BAND_RANK = {"low": 0, "indeterminate": 1, "normal": 2}
ACTION_ORDER = {"treat": 0, "test": 1, "advice": 2, "followup": 3}
HIGH_CODES = frozenset({"H", "HH", "HU", ">", "A", "AA"})
LOW_CODES = frozenset({"L", "LL", "LU", "<"})
NORMAL_CODES = frozenset({"N"})
POSITIVE_CODES = frozenset({"POS", "DET", "A"})
NEGATIVE_CODES = frozenset({"NEG", "ND", "N"})
INACTIVE_CLINICAL = frozenset({"inactive", "remission", "resolved"})
# Causes that make low B12 "explained": with none of them, intrinsic factor antibodies are tested.
EVIDENT_CAUSES = frozenset(
    {
        "risk.metformin",
        "risk.proton_pump_inhibitor",
        "risk.h2_receptor_antagonist",
        "risk.other_medicine",
        "risk.nitrous_oxide",
        "risk.low_animal_source_diet",
        "risk.autoimmune_gastritis",
        "risk.gastric_or_bariatric_surgery",
        "risk.ileal_disease_or_resection",
        "risk.abdominal_or_pelvic_radiotherapy",
        "risk.coeliac_disease",
    }
)
# Causes after which replacement is usually lifelong.
IRREVERSIBLE_ROUTES = frozenset(
    {
        "risk.autoimmune_gastritis",
        "risk.gastric_or_bariatric_surgery",
    }
)


@dataclasses.dataclass(slots=True)
class LabResult:
    """One laboratory result, interpreted in its unit family."""

    lab: LabDef
    obs: Observation
    date: dt.date
    family: str | None  # None for qualitative results
    family_value: float | None  # in the family's own unit
    canonical: float | None  # in the lab's canonical unit
    flag: str  # raised | low | normal | positive | negative | unknown
    # The reference used for the flag: (low, high, unit, kind), kind = laboratory | flag | default.
    # Kept as numbers and formatted only when shown: formatting costs more than the reading.
    reference: tuple[float | None, float | None, str, str] | None
    band: str | None = None  # B12 results: the guideline band

    @property
    def range_text(self) -> str | None:
        """The reference used, in words, e.g. "<= 0.4 umol/L (laboratory range)"."""
        if self.reference is None:
            return None
        low, high, unit, kind = self.reference
        if kind == "flag":
            return "laboratory flag"
        parts = []
        if low is not None:
            parts.append(f">= {_fmt(low)}")
        if high is not None:
            parts.append(f"<= {_fmt(high)}")
        note = "laboratory range" if kind == "laboratory" else "default: no laboratory range given"
        return f"{' and '.join(parts)} {unit} ({note})"


def _fmt(value: float) -> str:
    return f"{value:g}"


DOMAINS = ("conditions", "observations", "medications", "procedures")
Hits = tuple[tuple[int, tuple[str | None, str | None, str | None]], ...]


class _Registry:
    """Every matcher set of the knowledge base, numbered, with a memo from a concept to the
    sets it satisfies: one lookup per record item instead of one per (item, matcher) pair.
    Built once per knowledge base and kept in its cache."""

    def __init__(self, kb: Knowledge) -> None:
        owned: list[tuple[str, MatcherSet]] = [(s.id, s.matchers) for s in kb.symptoms]
        owned += [(rf.id, r.matchers) for rf in kb.risk_factors for r in rf.routes]
        owned += [(fid, f.matchers) for fid, f in kb.findings.items() if f.matchers is not None]
        owned += [(f"treatment.{tid}", ms) for tid, ms in kb.treatments.items()]
        sets = [ms for _, ms in owned]
        self.sets = sets
        self.owner = [owner for owner, _ in owned]  # the knowledge-base id each set belongs to
        # Sets read from results or age rather than from coded items: always worth a look.
        self.always = frozenset(
            owner for owner, ms in owned if ms.lab_positive is not None or ms.age_above is not None
        )
        self.index = {id(ms): i for i, ms in enumerate(sets)}
        self.by_domain: dict[str, list[tuple[int, Matcher, bool]]] = {
            d: [(i, m, ms.family) for i, ms in enumerate(sets) if (m := getattr(ms, d)) is not None]
            for d in DOMAINS
        }
        self.memo: dict[tuple[str, Concept, tuple[str, ...], Concept | None, bool], Hits] = {}
        self.simple: dict[str, dict[Concept, Hits]] = {d: {} for d in DOMAINS}
        self.family_pattern = kb.family_pattern
        self.family_memo: dict[Concept, bool] = {}

    def is_family(self, concept: Concept) -> bool:
        """Whether the concept is about a relative (family history), memoised."""
        found = self.family_memo.get(concept)
        if found is None:
            found = any(self.family_pattern.search(n) for n in concept.names())
            if len(self.family_memo) > 200_000:
                self.family_memo.clear()
            self.family_memo[concept] = found
        return found

    def hits(
        self,
        domain: str,
        concept: Concept,
        extra: tuple[str, ...] = (),
        alt: Concept | None = None,
        family: bool = False,
    ) -> Hits:
        """(set number, match) for every matcher set whose `domain` matcher takes the concept."""
        if not extra and alt is None and not family:
            # The common case (a coded or named item about the patient) has its own memo per
            # domain, keyed by the concept alone: no key tuple to build and hash.
            simple = self.simple[domain]
            found = simple.get(concept)
            if found is None:
                found = self._compute(domain, concept, extra, alt, family)
                if len(simple) > 200_000:
                    simple.clear()
                simple[concept] = found
            return found
        key = (domain, concept, extra, alt, family)
        found = self.memo.get(key)
        if found is None:
            found = self._compute(domain, concept, extra, alt, family)
            if len(self.memo) > 200_000:
                self.memo.clear()
            self.memo[key] = found
        return found

    def _compute(
        self,
        domain: str,
        concept: Concept,
        extra: tuple[str, ...],
        alt: Concept | None,
        family: bool,
    ) -> Hits:
        out = []
        for i, matcher, fam in self.by_domain[domain]:
            if fam != family:
                continue
            hit = matcher.match(concept, extra)
            if hit is None and alt is not None:
                hit = matcher.match(alt)
            if hit is not None:
                out.append((i, hit))
        return tuple(out)


def _registry(kb: Knowledge) -> _Registry:
    reg = kb.cache.get("engine.registry")
    if not isinstance(reg, _Registry):
        reg = kb.cache["engine.registry"] = _Registry(kb)
    return reg


class _Context:
    """Everything one assessment computes, built once and read by the rules below."""

    def __init__(
        self, record: PatientRecord, kb: Knowledge, as_of: dt.date, guideline: Guideline
    ) -> None:
        self.record = record
        self.kb = kb
        self.as_of = as_of
        self.g = guideline
        months = int(guideline.setting("recent_result_months").value)
        self.recent_months = months
        self.recent_from = shift_months(as_of, -months)
        self.skipped: list[Skip] = [
            Skip(resource=s.resource, reason=s.reason) for s in record.skipped
        ]
        self.labs: dict[str, list[LabResult]] = {}
        self.registry = _registry(kb)
        self._read_labs()
        self._index_record()
        self.findings: dict[str, Finding] = {}

    # ---- laboratory results -------------------------------------------------------------

    def _to_family(self, lab: LabDef, q: Quantity | None, family: str) -> float | None:
        """A reference-range quantity converted into the given unit family, if possible."""
        if q is None:
            return None
        unit = lab.units.get(fold_unit(q.unit)) if q.unit else None
        if q.unit is None:
            return q.value  # a range without a unit is in the result's unit (FHIR convention)
        if unit is None or unit[0] != family:
            return None
        return q.value * unit[1]

    def _read_labs(self) -> None:
        kb = self.kb
        for obs in self.record.observations:
            lab_id = kb.lab_for(obs.code)
            if lab_id is None:
                continue
            lab = kb.labs[lab_id]
            if obs.effective is None:
                self.skipped.append(
                    Skip(resource=obs.ref, reason=f"{lab.label} result has no date")
                )
                continue
            if obs.effective > self.as_of:
                continue  # after the as-of date: not yet known at that date
            if lab.kind == "qualitative":
                self._add_qualitative(lab, obs)
            else:
                self._add_quantity(lab, obs)
        for results in self.labs.values():
            results.sort(key=lambda r: r.date)

    def _add_qualitative(self, lab: LabDef, obs: Observation) -> None:
        words: list[str] = []
        if obs.value_concept is not None:
            words.extend(obs.value_concept.names())
            words.extend(c.code or "" for c in obs.value_concept.codings)
        if obs.value_text:
            words.append(obs.value_text)
        text = " ".join(w.lower() for w in words)
        interp = set(obs.interpretation)
        flag = "unknown"
        if (
            any(w in text.split() or w in text for w in lab.negative_words)
            or interp & NEGATIVE_CODES
        ):
            flag = "negative"
        elif (
            any(w in text.split() or w in text for w in lab.positive_words)
            or interp & POSITIVE_CODES
        ):
            flag = "positive"
        elif obs.value_boolean is not None:
            flag = "positive" if obs.value_boolean else "negative"
        if flag == "unknown":
            self.skipped.append(
                Skip(
                    resource=obs.ref, reason=f"{lab.label} result is neither positive nor negative"
                )
            )
            return
        self.labs.setdefault(lab.id, []).append(
            LabResult(lab, obs, obs.effective or self.as_of, None, None, None, flag, None)
        )

    def _add_quantity(self, lab: LabDef, obs: Observation) -> None:
        q = obs.quantity
        if q is None:
            self.skipped.append(
                Skip(resource=obs.ref, reason=f"{lab.label} result has no numeric value")
            )
            return
        if q.value < 0:
            self.skipped.append(
                Skip(
                    resource=obs.ref,
                    reason=f"{lab.label} of {_fmt(q.value)} is impossible (negative)",
                )
            )
            return
        unit = lab.units.get(fold_unit(q.unit)) if q.unit else None
        if unit is None or unit[0] == "unsupported":
            shown = q.unit if q.unit else "no unit"
            self.skipped.append(
                Skip(resource=obs.ref, reason=f"unknown unit '{shown}' for {lab.label}")
            )
            return
        family_name, factor = unit
        family = lab.families[family_name]
        family_value = q.value * factor
        canonical = family_value * family.to_canonical
        flag, reference = self._flag(lab, obs, family_name, family_value, q)
        band = (
            self._band(lab.id, family_name, family_value, q.comparator)
            if lab.id in B12_TESTS
            else None
        )
        self.labs.setdefault(lab.id, []).append(
            LabResult(
                lab,
                obs,
                obs.effective or self.as_of,
                family_name,
                family_value,
                canonical,
                flag,
                reference,
                band,
            )
        )

    def _flag(
        self, lab: LabDef, obs: Observation, family: str, value: float, q: Quantity
    ) -> tuple[str, tuple[float | None, float | None, str, str] | None]:
        """raised / low / normal / unknown, from the result's own range, its flag, or a default;
        with the reference used."""
        fam_unit = lab.families[family].unit
        high = self._to_family(lab, obs.reference_high, family)
        low = self._to_family(lab, obs.reference_low, family)
        # A comparator bound: "<0.2" can only be raised if 0.2 is above the limit, and so on.
        below_only = q.comparator in ("<", "<=")
        above_only = q.comparator in (">", ">=")
        if high is not None or low is not None:
            ref = (low, high, fam_unit, "laboratory")
            if high is not None and value > high and not below_only:
                return "raised", ref
            if low is not None and value < low and not above_only:
                return "low", ref
            if high is not None or lab.default_upper_limit is None:
                return "normal", ref
            # A range with only a lower limit says nothing about "raised": use the default.
            limit = lab.default_upper_limit.value
            to_canon = lab.families[family].to_canonical
            raised = value * to_canon > limit and not below_only
            # The whole reference is then stated in the canonical unit, the lower limit too.
            low_canon = None if low is None else low * to_canon
            default_ref = (low_canon, limit, lab.canonical_unit or fam_unit, "default")
            return ("raised" if raised else "normal"), default_ref
        interp = obs.interpretation
        if interp:
            codes = set(interp)
            flag_ref = (None, None, fam_unit, "flag")
            if codes & HIGH_CODES:
                return "raised", flag_ref
            if codes & LOW_CODES:
                return "low", flag_ref
            if codes & NORMAL_CODES:
                return "normal", flag_ref
        canon_unit = lab.canonical_unit or fam_unit
        to_canon = lab.families[family].to_canonical
        if lab.default_upper_limit is not None:
            limit = lab.default_upper_limit.value
            ref = (None, limit, canon_unit, "default")
            return ("raised" if value * to_canon > limit and not below_only else "normal"), ref
        if lab.default_lower_limit is not None:
            limit = lab.default_lower_limit.value
            ref = (limit, None, canon_unit, "default")
            return ("low" if value * to_canon < limit and not above_only else "normal"), ref
        return "unknown", None

    def latest(self, lab: str, since: dt.date | None = None) -> LabResult | None:
        """The latest result of a lab on or before the as-of date (and on or after `since`)."""
        for r in reversed(self.labs.get(lab, [])):
            if since is None or r.date >= since:
                return r
            return None
        return None

    # ---- bands --------------------------------------------------------------------------

    def _band(self, lab: str, family: str, v: float, comparator: str | None) -> str:
        """The guideline band of a B12 value in its unit family; a comparator result is banded
        by its bound, except when every value the comparator allows lies in one band."""
        bands = self.g.bands_for(lab, family)
        low_cut = bands[0].below
        high_cut = bands[-1].above
        assert low_cut is not None and high_cut is not None  # noqa: S101 (checked at load)
        if (comparator == "<" and v <= low_cut) or (comparator == "<=" and v < low_cut):
            return "low"
        if (comparator == ">" and v >= high_cut) or (comparator == ">=" and v > high_cut):
            return "normal"
        for band in bands:
            if band.holds(v):
                return band.band
        return self.g.on_cutoff

    @staticmethod
    def band_of(r: LabResult) -> str:
        """The band of a B12 result (computed when the result was read)."""
        assert r.band is not None  # noqa: S101 (only B12 results are banded)
        return r.band

    def reading(self, r: LabResult, band: str | None = None) -> Reading:
        """The output form of a result."""
        q = r.obs.quantity
        if q is None:
            return Reading(
                test=r.lab.id,
                label=r.lab.label,
                value=1.0 if r.flag == "positive" else 0.0,
                unit=r.flag,
                value_si=None,
                si_unit=None,
                date=r.date,
                resource=r.obs.ref,
                flag=r.flag,
            )
        return Reading(
            test=r.lab.id,
            label=r.lab.label,
            value=q.value,
            unit=q.unit or "",
            value_si=None if r.canonical is None else round(r.canonical, 4),
            si_unit=r.lab.canonical_unit,
            date=r.date,
            resource=r.obs.ref,
            comparator=q.comparator,
            band=band,
            flag=None if band else r.flag,  # a B12 result is read by its guideline band
            reference_range=r.range_text,
            reference_low_si=self._si_limit(r, 0),
            reference_high_si=self._si_limit(r, 1),
        )

    @staticmethod
    def _si_limit(r: LabResult, which: int) -> float | None:
        """A reference limit (0 = low, 1 = high) in the lab's canonical unit."""
        if r.reference is None or r.family is None:
            return None
        low, high, _unit, kind = r.reference
        value = low if which == 0 else high
        if value is None:
            return None
        if kind == "default":  # defaults are written in the canonical unit already
            return round(value, 4)
        return round(value * r.lab.families[r.family].to_canonical, 4)

    # ---- matching -----------------------------------------------------------------------

    def _condition_on_record(self, c: Condition) -> bool:
        start = c.onset or c.recorded
        return start is None or start <= self.as_of

    def _condition_active(self, c: Condition) -> bool:
        if not self._condition_on_record(c):
            return False
        if c.abatement is not None:
            return c.abatement > self.as_of
        return c.clinical_status not in INACTIVE_CLINICAL

    def _med_window(self, m: Medication) -> tuple[dt.date | None, dt.date | None]:
        """Start and effective end of exposure. A stopped or completed order with no end date
        is taken to have covered the recent-result window after it started."""
        end = m.end
        if end is None and m.start is not None and m.status in ("stopped", "completed"):
            end = shift_months(m.start, self.recent_months)
        return m.start, end

    def med_current_or_recent(self, m: Medication) -> bool:
        """Taken at the as-of date or within the recent-result window before it."""
        start, end = self._med_window(m)
        if start is not None and start > self.as_of:
            return False
        if end is not None and end < self.recent_from:
            return False
        return not (start is None and m.status not in ("active", "on-hold", "intended", None))

    def _index_record(self) -> None:
        """Read each record item once: which knowledge-base matcher sets it satisfies, with
        the evidence, kept per set (conditions also remember whether they are active)."""
        reg = self.registry
        conditions: dict[int, list[tuple[Evidence, bool]]] = {}
        others: dict[int, list[Evidence]] = {}

        def put(hits: Hits, ref: str, when: dt.date | None) -> list[tuple[int, Evidence]]:
            return [
                (i, Evidence(resource=ref, code=h[0], system=h[1], display=h[2], date=when))
                for i, h in hits
            ]

        record = self.record
        for c in record.conditions:
            if not self._condition_on_record(c):
                continue
            active = self._condition_active(c)
            when = c.onset or c.recorded
            hits = reg.hits("conditions", c.code, family=self.registry.is_family(c.code))
            for i, ev in put(hits, c.ref, when):
                conditions.setdefault(i, []).append((ev, active))
        for o in record.observations:
            if o.effective is not None and o.effective > self.as_of:
                continue
            if self.kb.lab_for(o.code) is not None or not self._observation_affirms(o):
                continue
            values = [o.value_text] if o.value_text else []
            if o.value_concept is not None:
                values.extend(o.value_concept.names())
            hits = reg.hits(
                "observations",
                o.code,
                tuple(values),
                o.value_concept,
                self.registry.is_family(o.code),
            )
            for i, ev in put(hits, o.ref, o.effective):
                others.setdefault(i, []).append(ev)
        self.medication_hits: list[tuple[Medication, Hits]] = []
        for m in record.medications:
            hits = reg.hits("medications", m.medication)
            if not hits:
                continue
            self.medication_hits.append((m, hits))
            if self.med_current_or_recent(m):
                for i, ev in put(hits, m.ref, m.start):
                    others.setdefault(i, []).append(ev)
        for p in record.procedures:
            if p.performed is None or p.performed <= self.as_of:
                for i, ev in put(reg.hits("procedures", p.code), p.ref, p.performed):
                    others.setdefault(i, []).append(ev)
        self.condition_hits = conditions
        self.other_hits = others
        # The knowledge-base ids this record can possibly produce: the rules skip all others.
        owner = reg.owner
        self.live = (
            {owner[i] for i in conditions}
            | {owner[i] for i in others}
            | reg.always
            | {m.concept_id for m in record.mentions}
        )

    def match_set(self, ms: MatcherSet, *, conditions_active: bool = False) -> list[Evidence]:
        """Evidence for a matcher set of the knowledge base across the record's domains."""
        i = self.registry.index[id(ms)]
        active_only = conditions_active or ms.active_only
        out = [ev for ev, active in self.condition_hits.get(i, ()) if active or not active_only]
        out.extend(self.other_hits.get(i, ()))
        if ms.lab_positive is not None:
            r = self.latest(ms.lab_positive)
            if r is not None and r.flag == "positive":
                out.append(
                    Evidence(resource=r.obs.ref, display=f"{r.lab.label}: positive", date=r.date)
                )
        return out

    def _observation_affirms(self, o: Observation) -> bool:
        if o.value_boolean is False:
            return False
        negatives = self.kb.negative_values
        if o.value_text and o.value_text.strip().lower() in negatives:
            return False
        if o.value_concept is not None:
            names = [n.strip().lower() for n in o.value_concept.names()]
            if names and all(n in negatives for n in names):
                return False
        return True

    def mentions(self, concept_id: str) -> list[Evidence]:
        """Evidence from clinical-note mentions of a knowledge-base concept."""
        if not self.record.mentions:
            return []
        return [
            Evidence(resource=m.ref, date=m.date, text=m.text, display=m.sentence)
            for m in self.record.mentions
            if m.concept_id == concept_id and (m.date is None or m.date <= self.as_of)
        ]

    def add(
        self,
        fid: str,
        evidence: Iterable[Evidence],
        *,
        extra: str = "",
        counts_for_testing: bool | None = None,
        sources: Sequence[str] | None = None,
    ) -> None:
        """Record a finding defined in findings.toml."""
        d = self.kb.findings[fid]
        self.findings[fid] = Finding(
            id=fid,
            kind=d.kind,  # type: ignore[arg-type]
            label=d.label,
            summary=d.summary + (f" {extra}" if extra else ""),
            evidence=tuple(evidence),
            sources=tuple(sources) if sources is not None else d.sources,
            evidence_status=d.evidence_status,
            counts_for_testing=counts_for_testing,
        )


def _dedupe(evidence: Iterable[Evidence]) -> tuple[Evidence, ...]:
    seen: dict[tuple[str, str | None], Evidence] = {}
    for e in evidence:
        seen.setdefault((e.resource, e.text), e)
    return tuple(
        sorted(seen.values(), key=lambda e: (e.date or dt.date.min, e.resource), reverse=True)
    )


@dataclasses.dataclass(slots=True, kw_only=True)
class _Facts:
    """What the recommendation rules need to know, computed by `assess`."""

    band: str
    conclusion: str
    basis_test: str | None  # lab id of the latest B12 result
    has_paired_marker: bool  # an MMA or homocysteine result paired with the B12 result
    b12_recent: bool
    recent_functional: bool  # an MMA or homocysteine result within the recent window
    has_folate: bool
    low_folate: bool
    has_ifab: bool
    symptoms: tuple[str, ...]
    signs: tuple[str, ...]
    neurological: tuple[str, ...]
    risks: frozenset[str]
    box2_risks: tuple[str, ...]
    ileal_resection: bool
    findings: frozenset[str]  # ids of MS-context, caveat and red-flag findings
    pregnant: bool
    on_treatment: bool
    should_test: bool
    deceased: bool


def _recommend(f: _Facts, kb: Knowledge) -> list[Recommendation]:
    """The recommendation rules, in one place. Treatment is recommended only for a low or
    indeterminate B12 result and never while treatment is already running."""
    recs: dict[str, Recommendation] = {}

    def rec(rid: str, because: Iterable[str]) -> None:
        d = kb.recommendations[rid]
        urgency = "urgent" if d.urgent_with_neurological and f.neurological else d.urgency
        recs[rid] = Recommendation(
            id=rid,
            urgency=urgency,  # type: ignore[arg-type]
            action=d.action,
            text=d.text,
            sources=d.sources,
            because=tuple(dict.fromkeys(because)),
            orders=d.orders,
            evidence_status=d.evidence_status,
        )

    if f.deceased:
        return []
    symptom_ids = [*f.symptoms, *f.signs]
    has_symptom_or_sign = bool(symptom_ids)
    n2o = "risk.nitrous_oxide" in f.risks
    untreated = not f.on_treatment
    # A low or indeterminate result older than the window no longer says what the level is
    # now: it asks for a fresh sample, not for treatment.
    stale_abnormal = f.band in ("low", "indeterminate") and not f.b12_recent and untreated

    # Which test next.
    if f.should_test and not stale_abnormal:
        why = [*symptom_ids, *f.box2_risks, "no recent B12 result"]
        if f.pregnant:
            rec("test.active_b12", ["caveat.pregnancy", *why])
        elif n2o:
            rec("test.homocysteine_or_mma", ["risk.nitrous_oxide", *why])
        else:
            rec("test.total_or_active_b12", why)
    elif stale_abnormal:
        rec("test.repeat_b12", [f"B12 {f.band} in a result older than the window", *symptom_ids])
    elif has_symptom_or_sign and not f.box2_risks and not f.b12_recent and untreated:
        rec("test.clinical_judgement", [*symptom_ids, "no common risk factor"])
    if f.pregnant and f.basis_test == "total_b12" and f.band != "normal":
        rec("test.active_b12", ["caveat.pregnancy", f"total B12 {f.band}"])
    if n2o and not f.recent_functional and untreated:
        rec("test.homocysteine_or_mma", ["risk.nitrous_oxide"])
    if (
        f.band == "indeterminate"
        and f.b12_recent
        and not f.has_paired_marker
        and has_symptom_or_sign
        and untreated
    ):
        rec("test.mma", ["B12 indeterminate", *symptom_ids])
    if (
        f.conclusion == "deficiency_likely"
        and not (f.risks & EVIDENT_CAUSES)
        and not f.has_ifab
        and "risk.autoimmune_gastritis" not in f.risks
    ):
        rec("test.intrinsic_factor_antibody", ["B12 deficiency likely", "no evident cause"])
    likely_or_possible = f.conclusion in ("deficiency_likely", "deficiency_possible")
    if (likely_or_possible or "flag.raised_homocysteine" in f.findings) and not f.has_folate:
        rec("test.folate", [f.conclusion])

    # Treatment: only for a low or indeterminate result that is recent.
    low_or_indeterminate = f.band in ("low", "indeterminate") and f.b12_recent
    neuro_reasons = list(f.neurological)
    if "flag.subacute_combined_degeneration" in f.findings:
        neuro_reasons.append("flag.subacute_combined_degeneration")
    if low_or_indeterminate and neuro_reasons and untreated:
        rec("treat.urgent_neuro", [f"B12 {f.band}", *neuro_reasons])
    elif f.conclusion == "deficiency_likely" and low_or_indeterminate and untreated:
        rec("treat.start", ["B12 deficiency likely", f"B12 {f.band}"])
    treating = "treat.urgent_neuro" in recs or "treat.start" in recs
    irreversible = [r for r in IRREVERSIBLE_ROUTES if r in f.risks]
    if f.ileal_resection:
        irreversible.append("risk.ileal_disease_or_resection")  # resection, not Crohn's alone
    if treating and irreversible:
        rec("treat.lifelong_if_irreversible", irreversible)

    # Advice and follow-up.
    testing = any(r.action == "test" for r in recs.values())
    if (testing or treating) and untreated:
        rec("advice.blood_before_treatment", ["tests or treatment recommended"])
    if (likely_or_possible or f.should_test or f.low_folate) and untreated:
        reasons = (
            [f.conclusion] if f.conclusion != "not_assessed" else ["B12 deficiency not excluded"]
        )
        if f.low_folate:
            reasons.append("caveat.folate_deficiency")
        rec("advice.no_folic_acid_alone", reasons)
    if "risk.metformin" in f.risks and not f.b12_recent and not f.should_test:
        rec("advice.metformin_monitoring", ["risk.metformin", "no recent B12 result"])
    if treating or f.on_treatment:
        rec(
            "followup.review_3_months",
            ["treatment recommended" if treating else "on B12 treatment"],
        )
    return list(recs.values())


def assess(
    record: PatientRecord,
    kb: Knowledge,
    *,
    as_of: dt.date,
    guideline: str | None = None,
) -> Assessment:
    """Assess one patient's record at a date, following a guideline profile."""
    g = kb.guideline(guideline)
    cx = _Context(record, kb, as_of, g)
    patient = record.patient
    deceased = patient.deceased and (
        patient.deceased_date is None or patient.deceased_date <= as_of
    )
    age: int | None = None
    if patient.birth_date is not None and patient.birth_date <= as_of:
        # Age at death for someone who died before the as-of date.
        on = patient.deceased_date if deceased and patient.deceased_date else as_of
        age = age_on(patient.birth_date, on)
    elif patient.age_years is not None:
        age = patient.age_years

    # ---- B12 status ---------------------------------------------------------------------
    b12 = sorted((r for t in B12_TESTS for r in cx.labs.get(t, [])), key=lambda r: r.date)
    basis: list[tuple[LabResult, str]] = []
    band = "untested"
    if b12:
        last_date = b12[-1].date
        basis = [(r, cx.band_of(r)) for r in b12 if r.date == last_date]
        band = min((b for _, b in basis), key=BAND_RANK.__getitem__)
    basis_date = basis[0][0].date if basis else None
    pairing = dt.timedelta(days=int(g.setting("functional_marker_pairing_days").value))
    paired: list[LabResult] = []
    if basis_date is not None:
        for t in FUNCTIONAL_TESTS:
            near = [r for r in cx.labs.get(t, []) if abs(r.date - basis_date) <= pairing]
            if near:
                paired.append(near[-1])
    functional_raised = any(r.flag == "raised" for r in paired)
    conclusion_row = g.conclude(band, functional_raised)
    conclusion = conclusion_row.conclusion
    b12_recent = basis_date is not None and basis_date >= cx.recent_from

    # ---- B12 treatment ------------------------------------------------------------------
    treat_ms = kb.treatments["b12_replacement"]
    treat_index = cx.registry.index[id(treat_ms)]
    treatments: list[tuple[Medication, Evidence]] = []
    for m, hits in cx.medication_hits:
        for i, (code, system, display) in hits:
            if i == treat_index:
                treated = Evidence(
                    resource=m.ref, code=code, system=system, display=display, date=m.start
                )
                treatments.append((m, treated))
    on_treatment = [e for m, e in treatments if cx.med_current_or_recent(m)]

    # ---- symptoms -----------------------------------------------------------------------
    symptoms: dict[str, Finding] = {}
    live = cx.live
    for s in kb.symptoms:
        if s.id not in live:
            continue
        ev = cx.match_set(s.matchers, conditions_active=True) + cx.mentions(s.id)
        if ev:
            symptoms[s.id] = Finding(
                id=s.id,
                kind="symptom",
                label=s.label,
                summary=f"{s.label} ({s.what}).",
                evidence=_dedupe(ev),
                sources=s.sources,
            )
    neuro = [s.id for s in kb.symptoms if s.neurological and s.id in symptoms]
    ms_like = [s.id for s in kb.symptoms if s.ms_overlap and s.id in symptoms]

    # ---- risk factors -------------------------------------------------------------------
    risks: dict[str, Finding] = {}
    for rf in kb.risk_factors:
        if rf.id not in live:
            continue
        evidence: list[Evidence] = []
        box2 = False
        sources: list[str] = []
        for route in rf.routes:
            ev = cx.match_set(route.matchers)
            if route.matchers.age_above is not None and age is not None:
                limit = g.setting(route.matchers.age_above).value
                if age > limit:
                    ev.append(
                        Evidence(
                            resource="Patient", display=f"age {age}", text=f"over {_fmt(limit)}"
                        )
                    )
            if ev:
                evidence.extend(ev)
                box2 = box2 or route.nice_box2
                sources.extend(route.sources)
        evidence.extend(cx.mentions(rf.id))
        if not evidence:
            continue
        extra = ""
        # How long: the earliest order of the medicine, current or not (yearly renewals are
        # separate orders), counted only when the risk factor is present now.
        route_sets = {cx.registry.index[id(r.matchers)] for r in rf.routes}
        starts = [
            m.start
            for m, hits in cx.medication_hits
            if m.start is not None and m.start <= as_of and any(i in route_sets for i, _ in hits)
        ]
        since = min(starts) if starts else None
        if since is not None:
            years = (as_of - since).days / 365.25
            extra = f"On record since {since.isoformat()} (about {years:.0f} years)."
        risks[rf.id] = Finding(
            id=rf.id,
            kind="risk_factor",
            label=rf.label,
            summary=rf.summary + (f" {extra}" if extra else ""),
            evidence=_dedupe(evidence),
            sources=tuple(dict.fromkeys(sources)) or rf.sources,
            evidence_status=rf.evidence_status,
            counts_for_testing=box2,
            since=since,
        )

    # ---- findings read straight from the record ------------------------------------------
    for fid, d in kb.findings.items():
        if d.matchers is not None and fid in live:
            ev = cx.match_set(d.matchers) + cx.mentions(fid)
            if ev:
                cx.add(fid, _dedupe(ev))

    # ---- red flags from results -----------------------------------------------------------
    def recent_or_paired(lab: str) -> LabResult | None:
        candidates = [r for r in paired if r.lab.id == lab]
        latest = cx.latest(lab, since=cx.recent_from)
        if latest is not None:
            candidates.append(latest)
        flagged = [r for r in candidates if r.flag == "raised"]
        return flagged[-1] if flagged else None

    def lab_evidence(r: LabResult) -> Evidence:
        q = r.obs.quantity
        return Evidence(
            resource=r.obs.ref,
            display=r.lab.label,
            date=r.date,
            value=q.value if q else None,
            unit=q.unit if q else None,
            text=r.range_text,
        )

    for lab, fid in (("mma", "flag.raised_mma"), ("homocysteine", "flag.raised_homocysteine")):
        r = recent_or_paired(lab)
        if r is not None:
            cx.add(fid, [lab_evidence(r)], extra=f"Reference used: {r.range_text}.")
    mcv = cx.latest("mcv", since=cx.recent_from)
    mcv_limit = kb.labs["mcv"].default_upper_limit
    if mcv is not None and (
        mcv.flag == "raised"
        or (mcv_limit is not None and mcv.canonical is not None and mcv.canonical > mcv_limit.value)
    ):
        cx.add("flag.macrocytosis", [lab_evidence(mcv)], extra=f"Reference used: {mcv.range_text}.")
    hb = cx.latest("haemoglobin", since=cx.recent_from)
    if hb is not None and hb.flag == "low":
        prior = cx.findings.get("flag.anaemia")
        ev = [lab_evidence(hb), *(prior.evidence if prior else ())]
        cx.add("flag.anaemia", _dedupe(ev))
    folate = [
        r
        for r in (cx.latest("folate", cx.recent_from), cx.latest("folate_rbc", cx.recent_from))
        if r
    ]
    low_folate = [r for r in folate if r.flag == "low"]
    if low_folate:
        cx.add("caveat.folate_deficiency", [lab_evidence(r) for r in low_folate])

    # ---- caveats ------------------------------------------------------------------------
    pregnant = "caveat.pregnancy" in cx.findings
    if "risk.nitrous_oxide" in risks:
        cx.add("caveat.nitrous_oxide", risks["risk.nitrous_oxide"].evidence)
    if basis_date is not None and not b12_recent:
        cx.add(
            "caveat.stale_result",
            [lab_evidence(r) for r, _ in basis],
            extra=f"Latest result {basis_date.isoformat()}; window {cx.recent_months} months.",
            sources=g.setting("recent_result_months").sources,
        )
    if basis_date is not None:
        before = [
            e
            for m, e in treatments
            if m.start is not None
            and m.start < basis_date
            and ((end := cx._med_window(m)[1]) is None or end >= basis_date)
        ]
        if before:
            cx.add("caveat.tested_after_treatment", before)
    if age is not None and age < g.setting("minimum_age").value:
        cx.add("caveat.under_16", [Evidence(resource="Patient", display=f"age {age}")])

    # ---- MS context ---------------------------------------------------------------------
    ms_dx = "ms.diagnosis" in cx.findings
    if ms_like:
        cx.add(
            "ms.overlapping_symptoms",
            _dedupe(e for sid in ms_like for e in symptoms[sid].evidence),
            extra="Recorded: " + ", ".join(symptoms[s].label.lower() for s in ms_like) + ".",
        )
    if ms_dx or ms_like:
        cx.add("ms.b12_association_contested", [])
        favour: list[str] = [
            f
            for f in (
                "flag.macrocytosis",
                "flag.anaemia",
                "flag.raised_mma",
                "flag.raised_homocysteine",
            )
            if f in cx.findings
        ]
        ifab = cx.latest("intrinsic_factor_antibody")
        if ifab is not None and ifab.flag == "positive":
            favour.append("intrinsic factor antibody positive")
        if favour:
            ev = [e for f in favour if f in cx.findings for e in cx.findings[f].evidence]
            if ifab is not None and ifab.flag == "positive":
                ev.append(lab_evidence(ifab))
            cx.add(
                "ms.features_favour_b12",
                ev,
                extra="Present: "
                + ", ".join(kb.findings[f].label.lower() if f in kb.findings else f for f in favour)
                + ".",
            )

    # ---- should test ----------------------------------------------------------------------
    signs = [f for f in ("flag.anaemia", "flag.macrocytosis") if f in cx.findings]
    has_symptom_or_sign = bool(symptoms) or bool(signs)
    box2_risks = [rid for rid, f in risks.items() if f.counts_for_testing]
    should_test = (
        has_symptom_or_sign
        and bool(box2_risks)
        and not b12_recent
        and not on_treatment
        and not deceased
    )
    if should_test:
        reason = "a symptom or sign, a common risk factor, and no B12 result in the last "
        reason += f"{cx.recent_months} months"
    elif deceased:
        reason = "the record says the patient has died"
    elif b12_recent and basis_date is not None:
        reason = f"a B12 result from {basis_date.isoformat()} is within {cx.recent_months} months"
    elif on_treatment:
        reason = "B12 treatment has already started, so diagnostic testing is moot"
    elif not has_symptom_or_sign:
        reason = "no symptom or sign of B12 deficiency is recorded"
    else:
        reason = "no common (NICE box 2) risk factor is recorded"

    # ---- recommendations ----------------------------------------------------------------
    ileal = risks.get("risk.ileal_disease_or_resection")
    facts = _Facts(
        band=band,
        conclusion=conclusion,
        basis_test=basis[0][0].lab.id if basis else None,
        has_paired_marker=bool(paired),
        b12_recent=b12_recent,
        recent_functional=any(cx.latest(t, cx.recent_from) for t in FUNCTIONAL_TESTS),
        has_folate=bool(folate),
        low_folate=bool(low_folate),
        has_ifab=cx.latest("intrinsic_factor_antibody") is not None,
        symptoms=tuple(symptoms),
        signs=tuple(signs),
        neurological=tuple(neuro),
        risks=frozenset(risks),
        box2_risks=tuple(box2_risks),
        ileal_resection=ileal is not None
        and any(e.resource.startswith("Procedure") for e in ileal.evidence),
        findings=frozenset(cx.findings),
        pregnant=pregnant,
        on_treatment=bool(on_treatment),
        should_test=should_test,
        deceased=deceased,
    )
    recs = _recommend(facts, kb)

    findings = sorted(
        [*symptoms.values(), *risks.values(), *cx.findings.values()],
        key=lambda f: (KIND_ORDER[f.kind], f.id),
    )
    recommendations = sorted(
        recs, key=lambda r: (URGENCY_ORDER[r.urgency], ACTION_ORDER[r.action], r.id)
    )
    # One Reading per result, shared by the status and the full list of readings.
    read = {id(r): cx.reading(r, r.band) for results in cx.labs.values() for r in results}
    readings = tuple(sorted(read.values(), key=lambda rd: (rd.date, rd.test)))
    status = B12Status(
        band=band,  # type: ignore[arg-type]
        conclusion=conclusion,  # type: ignore[arg-type]
        basis=tuple(read[id(r)] for r, _ in basis),
        functional_markers=tuple(read[id(r)] for r in paired),
        functional_raised=functional_raised,
        sources=conclusion_row.sources,
    )
    return Assessment(
        patient=PatientSummary(id=patient.id, age=age, sex=patient.sex, deceased=deceased),
        as_of=as_of,
        kb_version=kb.version,
        kb_sha256=kb.sha256,
        guideline=g.id,
        b12_status=status,
        should_test=should_test,
        should_test_reason=reason,
        findings=tuple(findings),
        recommendations=tuple(recommendations),
        skipped=tuple(cx.skipped),
        readings=readings,
        b12_treatments=tuple(
            sorted(
                (
                    Exposure(
                        resource=m.ref,
                        display=e.display,
                        start=m.start,
                        end=cx._med_window(m)[1],
                        current=cx.med_current_or_recent(m),
                    )
                    for m, e in treatments
                ),
                key=lambda x: (x.start or dt.date.min, x.resource),
            )
        ),
    )
