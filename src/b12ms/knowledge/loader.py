"""Reads the knowledge-base files into immutable objects, checking them as it goes.

Problems are collected, not raised one by one, so a broken knowledge base reports everything
wrong with it in one `KnowledgeBaseError`. Cross-file references (source ids, value-set names,
lab ids, setting names) are all resolved here, so the engine can trust what it is given.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import io
import re
import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Literal

from b12ms.errors import KnowledgeBaseError
from b12ms.model import Coding, Concept

EvidenceTag = Literal["P", "S", "C", "D", "X"]
EVIDENCE_TAGS = frozenset({"P", "S", "C", "D", "X"})
EVIDENCE_STATUS = frozenset({"established", "contested", "research"})
FINDING_KINDS = frozenset({"risk_factor", "symptom", "ms_context", "caveat", "red_flag"})
URGENCIES = ("routine", "soon", "urgent")
ACTIONS = frozenset({"test", "treat", "advice", "followup"})
BANDS = ("low", "indeterminate", "normal")
CONCLUSIONS = frozenset(
    {"deficiency_likely", "deficiency_possible", "deficiency_unlikely", "not_assessed"}
)
KNOWN_SYSTEMS = frozenset(
    {
        "http://loinc.org",
        "http://snomed.info/sct",
        "http://hl7.org/fhir/sid/icd-10",
        "http://hl7.org/fhir/sid/icd-10-cm",
        "http://www.nlm.nih.gov/research/umls/rxnorm",
        "http://www.whocc.no/atc",
        "urn:b12ms:form-lab",
    }
)
MATCHER_DOMAINS = ("medications", "conditions", "procedures", "observations")


def fold_unit(unit: str) -> str:
    """Fold a unit spelling for lookup: lower case, no spaces, micro as `u` (µ, μ or mc)."""
    u = unit.strip().replace(" ", "").replace("µ", "u").replace("μ", "u").lower()
    if u.startswith("mc"):
        u = "u" + u[2:]
    return u


@dataclasses.dataclass(frozen=True, slots=True)
class Source:
    """A citable work; `evidence` says how directly b12ms' facts were read from it."""

    id: str
    citation: str
    url: str
    evidence: str
    kind: str
    note: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ValueSetEntry:
    """One code of a value set. A code ending in `*` stands for itself and its subcodes."""

    code: str
    display: str
    system: str
    sources: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class ValueSet:
    """A named list of codes (one CSV file)."""

    name: str
    entries: tuple[ValueSetEntry, ...]
    _exact: frozenset[tuple[str, str]] = dataclasses.field(repr=False, compare=False)
    _prefixes: tuple[tuple[str, str], ...] = dataclasses.field(repr=False, compare=False)

    @classmethod
    def build(cls, name: str, entries: tuple[ValueSetEntry, ...]) -> ValueSet:
        """Index the entries for fast membership tests."""
        exact = frozenset((e.system, e.code) for e in entries if not e.code.endswith("*"))
        prefixes = tuple((e.system, e.code[:-1]) for e in entries if e.code.endswith("*"))
        return cls(name, entries, exact, prefixes)

    def contains(self, coding: Coding) -> bool:
        """Whether the coding is in the value set (system and code both match)."""
        if coding.system is None or coding.code is None:
            return False
        if (coding.system, coding.code) in self._exact:
            return True
        return any(
            coding.system == system and coding.code.startswith(prefix)
            for system, prefix in self._prefixes
        )

    @property
    def sources(self) -> tuple[str, ...]:
        """Every source id cited by any entry."""
        return tuple(sorted({s for e in self.entries for s in e.sources}))


_CACHE_LIMIT = 50_000  # memoised concepts per matcher, bounded for population runs

MatchHit = tuple[str | None, str | None, str | None]  # (code, system, display) of the match


@dataclasses.dataclass(frozen=True)
class Matcher:
    """Recognises a concept by code (value sets) or by name (whole-word regular expressions)."""

    valuesets: tuple[ValueSet, ...]
    names: tuple[str, ...]
    pattern: re.Pattern[str] | None
    _memo: dict[tuple[Concept, tuple[str, ...]], MatchHit | None] = dataclasses.field(
        default_factory=dict, repr=False, compare=False, hash=False
    )

    def match_codes(self, concept: Concept) -> Coding | None:
        """The first coding of the concept found in one of the value sets."""
        for coding in concept.codings:
            for vs in self.valuesets:
                if vs.contains(coding):
                    return coding
        return None

    def match_text(self, *texts: str | None) -> str | None:
        """The first of the texts in which a name occurs, as a whole word."""
        if self.pattern is None:
            return None
        for text in texts:
            if text and self.pattern.search(text):
                return text
        return None

    def match(self, concept: Concept, extra: tuple[str, ...] = ()) -> MatchHit | None:
        """(code, system, display) of the concept if it matches by code, else by name in its
        names or the extra texts (e.g. an observation's value); memoised per concept."""
        key = (concept, extra)
        memo = self._memo
        if key in memo:
            return memo[key]
        hit: MatchHit | None = None
        coding = self.match_codes(concept)
        if coding is not None:
            hit = (coding.code, coding.system, coding.display or concept.text or coding.code)
        else:
            text = self.match_text(*concept.names(), *extra)
            if text is not None:
                first = concept.codings[0] if concept.codings else None
                hit = (first.code if first else None, first.system if first else None, text)
        if len(memo) >= _CACHE_LIMIT:
            memo.clear()
        memo[key] = hit
        return hit

    @property
    def sources(self) -> tuple[str, ...]:
        """Source ids of the value sets' entries."""
        return tuple(sorted({s for vs in self.valuesets for s in vs.sources}))


@dataclasses.dataclass(frozen=True)
class MatcherSet:
    """Where in a record a concept may show: one matcher per record domain, plus specials."""

    medications: Matcher | None = None
    conditions: Matcher | None = None
    procedures: Matcher | None = None
    observations: Matcher | None = None
    lab_positive: str | None = None  # lab id of a qualitative test reported positive
    age_above: str | None = None  # guideline setting name
    family: bool = False  # reads concepts about relatives
    active_only: bool = False  # conditions must be active at the as-of date


@dataclasses.dataclass(frozen=True)
class RiskRoute:
    """One way a risk factor shows in a record."""

    what: str
    nice_box2: bool
    matchers: MatcherSet
    sources: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class RiskFactor:
    """A risk factor for B12 deficiency."""

    id: str
    label: str
    summary: str
    evidence_status: str
    routes: tuple[RiskRoute, ...]

    @property
    def sources(self) -> tuple[str, ...]:
        """Source ids of all routes."""
        return tuple(dict.fromkeys(s for r in self.routes for s in r.sources))


@dataclasses.dataclass(frozen=True)
class SymptomDef:
    """A symptom or sign of B12 deficiency (NICE box 1)."""

    id: str
    label: str
    what: str
    ms_overlap: bool
    neurological: bool
    matchers: MatcherSet
    sources: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class FindingDef:
    """An MS-context item, caveat or red flag."""

    id: str
    kind: str
    label: str
    summary: str
    evidence_status: str
    sources: tuple[str, ...]
    matchers: MatcherSet | None


@dataclasses.dataclass(frozen=True)
class RecommendationDef:
    """What to do next: wording, urgency and sources (when it applies is the engine's logic)."""

    id: str
    urgency: str
    action: str
    text: str
    orders: tuple[str, ...]
    evidence_status: str
    sources: tuple[str, ...]
    urgent_with_neurological: bool = False


@dataclasses.dataclass(frozen=True)
class CareGapDef:
    """A population care gap: wording, priority and sources (when it applies is logic)."""

    id: str
    label: str
    summary: str
    priority: int
    evidence_status: str
    sources: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class UnitFamily:
    """Units of one dimension for one lab, e.g. total B12 by mass (ng/L) or molar (pmol/L)."""

    name: str
    unit: str
    to_canonical: float
    sources: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class LabDef:
    """A laboratory test b12ms reads."""

    id: str
    label: str
    valueset: ValueSet
    kind: str
    canonical_unit: str | None
    families: Mapping[str, UnitFamily]
    units: Mapping[str, tuple[str, float]]  # folded spelling -> (family, factor to family unit)
    default_upper_limit: Setting | None
    default_lower_limit: Setting | None
    positive_words: tuple[str, ...]
    negative_words: tuple[str, ...]
    sources: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Band:
    """One interpretation band of one test in one unit family."""

    lab: str
    family: str
    band: str
    nice_label: str
    below: float | None
    lower: float | None  # `from`, inclusive
    upper: float | None  # `to`, inclusive
    above: float | None
    sources: tuple[str, ...]

    def holds(self, value: float) -> bool:
        """Whether the value falls in this band."""
        if self.below is not None:
            return value < self.below
        if self.above is not None:
            return value > self.above
        assert self.lower is not None and self.upper is not None  # noqa: S101 (checked at load)
        return self.lower <= value <= self.upper


@dataclasses.dataclass(frozen=True)
class Conclusion:
    """One row of the band x functional-marker table."""

    band: str
    functional_raised: bool | None  # None = any
    conclusion: str
    sources: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Setting:
    """A number the rules use, with its sources (a window, an age, a default reference limit)."""

    value: float
    sources: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Guideline:
    """A guideline profile: bands, conclusion table and settings."""

    id: str
    title: str
    sources: tuple[str, ...]
    bands: tuple[Band, ...]
    conclusions: tuple[Conclusion, ...]
    settings: Mapping[str, Setting]
    on_cutoff: str
    boundary_sources: tuple[str, ...]

    def bands_for(self, lab: str, family: str) -> tuple[Band, ...]:
        """Bands of one test in one unit family, lowest first (low, indeterminate, normal)."""
        return self._by_family[(lab, family)]

    @functools.cached_property
    def _by_family(self) -> dict[tuple[str, str], tuple[Band, ...]]:
        order = {b: i for i, b in enumerate(BANDS)}
        groups: dict[tuple[str, str], list[Band]] = {}
        for b in self.bands:
            groups.setdefault((b.lab, b.family), []).append(b)
        return {k: tuple(sorted(v, key=lambda b: order[b.band])) for k, v in groups.items()}

    def conclude(self, band: str, functional_raised: bool) -> Conclusion:
        """The conclusion row for a band and functional-marker state."""
        for row in self.conclusions:
            if row.band == band and row.functional_raised in (None, functional_raised):
                return row
        raise KnowledgeBaseError(f"conclusion table has no row for band {band!r}")

    def setting(self, name: str) -> Setting:
        """A named setting (validated at load)."""
        return self.settings[name]


@dataclasses.dataclass(frozen=True)
class Knowledge:
    """The whole validated knowledge base."""

    name: str
    version: str
    sha256: str
    clinical_review: str
    default_guideline: str
    sources: Mapping[str, Source]
    valuesets: Mapping[str, ValueSet]
    labs: Mapping[str, LabDef]
    guidelines: Mapping[str, Guideline]
    risk_factors: tuple[RiskFactor, ...]
    symptoms: tuple[SymptomDef, ...]
    findings: Mapping[str, FindingDef]
    recommendations: Mapping[str, RecommendationDef]
    treatments: Mapping[str, MatcherSet]
    treatment_sources: Mapping[str, tuple[str, ...]]
    care_gaps: Mapping[str, CareGapDef]
    care_gap_settings: Mapping[str, Setting]
    family_pattern: re.Pattern[str]
    negative_values: frozenset[str]
    _lab_index: Mapping[tuple[str, str], str] = dataclasses.field(repr=False, compare=False)
    # Derived structures other modules build once per knowledge base (e.g. the engine's index).
    cache: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def lab_for(self, concept: Concept) -> str | None:
        """The lab id whose value set holds one of the concept's codings, if any."""
        index = self._lab_index
        for coding in concept.codings:
            if coding.system is not None and coding.code is not None:
                lab = index.get((coding.system, coding.code))
                if lab is not None:
                    return lab
        return None

    def guideline(self, guideline_id: str | None = None) -> Guideline:
        """A guideline profile by id (the default one when None)."""
        gid = guideline_id or self.default_guideline
        try:
            return self.guidelines[gid]
        except KeyError:
            known = ", ".join(sorted(self.guidelines))
            raise KnowledgeBaseError(f"unknown guideline {gid!r} (known: {known})") from None

    def finding_ids(self) -> frozenset[str]:
        """Every finding id the knowledge base defines, of every kind."""
        ids = {rf.id for rf in self.risk_factors} | {s.id for s in self.symptoms}
        return frozenset(ids | set(self.findings))


class _Problems:
    """Collects validation problems; raises them all at the end."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, what: str) -> None:
        self.items.append(f"{where}: {what}")

    def raise_if_any(self) -> None:
        if self.items:
            head = f"knowledge base invalid ({len(self.items)} problems): "
            raise KnowledgeBaseError(head + "; ".join(self.items))


def _read_toml(root: Traversable, name: str, problems: _Problems) -> dict[str, Any]:
    try:
        return tomllib.loads(root.joinpath(name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.add(name, "file missing")
    except tomllib.TOMLDecodeError as exc:
        problems.add(name, f"not valid TOML ({exc})")
    return {}


def _strs(value: Any, where: str, problems: _Problems) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.add(where, "expected a list of strings")
        return ()
    return tuple(value)


def _sources(
    value: Any, where: str, known: Mapping[str, Source], problems: _Problems
) -> tuple[str, ...]:
    ids = _strs(value, where, problems)
    if not ids:
        problems.add(where, "no sources")
    for sid in ids:
        if sid not in known:
            problems.add(where, f"unknown source id {sid!r}")
    return ids


def _compile_names(names: Iterable[str], where: str, problems: _Problems) -> re.Pattern[str] | None:
    names = tuple(names)
    if not names:
        return None
    try:
        alternation = "|".join(f"(?:{n})" for n in names)
        return re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE)
    except re.error as exc:
        problems.add(where, f"bad name pattern ({exc})")
        return None


def _matcher(
    spec: Any, where: str, valuesets: Mapping[str, ValueSet], problems: _Problems
) -> Matcher | None:
    if spec is None:
        return None
    if not isinstance(spec, dict):
        problems.add(where, "expected a table with valuesets and/or names")
        return None
    extra = set(spec) - {"valuesets", "names"}
    if extra:
        problems.add(where, f"unknown keys {sorted(extra)}")
    vs_names = _strs(spec.get("valuesets"), f"{where}.valuesets", problems)
    vss: list[ValueSet] = []
    for n in vs_names:
        if n in valuesets:
            vss.append(valuesets[n])
        else:
            problems.add(where, f"unknown value set {n!r}")
    names = _strs(spec.get("names"), f"{where}.names", problems)
    if not vss and not names:
        problems.add(where, "matcher with neither value sets nor names")
    return Matcher(tuple(vss), names, _compile_names(names, where, problems))


def _matcher_set(
    spec: Mapping[str, Any],
    where: str,
    valuesets: Mapping[str, ValueSet],
    labs: Mapping[str, Any],
    settings: set[str],
    problems: _Problems,
) -> MatcherSet:
    lab_positive = spec.get("lab_positive")
    if lab_positive is not None and lab_positive not in labs:
        problems.add(where, f"lab_positive names unknown lab {lab_positive!r}")
    age_above = spec.get("age_above")
    if age_above is not None and age_above not in settings:
        problems.add(where, f"age_above names unknown setting {age_above!r}")
    matchers = {
        d: _matcher(spec.get(d), f"{where}.{d}", valuesets, problems) for d in MATCHER_DOMAINS
    }
    return MatcherSet(
        medications=matchers["medications"],
        conditions=matchers["conditions"],
        procedures=matchers["procedures"],
        observations=matchers["observations"],
        lab_positive=lab_positive,
        age_above=age_above,
        family=bool(spec.get("family", False)),
        active_only=bool(spec.get("active_only", False)),
    )


def _load_valuesets(
    root: Traversable, folder: str, sources: Mapping[str, Source], problems: _Problems
) -> dict[str, ValueSet]:
    out: dict[str, ValueSet] = {}
    for entry in sorted(root.joinpath(folder).iterdir(), key=lambda t: t.name):
        if not entry.name.endswith(".csv"):
            continue
        name = entry.name[: -len(".csv")]
        rows = list(csv.DictReader(io.StringIO(entry.read_text(encoding="utf-8"))))
        entries: list[ValueSetEntry] = []
        for i, row in enumerate(rows, start=2):
            where = f"valuesets/{entry.name}:{i}"
            if set(row) != {"code", "display", "system", "sources"}:
                problems.add(where, "columns must be code,display,system,sources")
                continue
            code, display, system = row["code"].strip(), row["display"].strip(), row["system"]
            if not code or not display:
                problems.add(where, "empty code or display")
            if system not in KNOWN_SYSTEMS:
                problems.add(where, f"unknown code system {system!r}")
            srcs = _sources(row["sources"].split(";"), where, sources, problems)
            entries.append(ValueSetEntry(code, display, system, srcs))
        if not entries:
            problems.add(f"valuesets/{entry.name}", "empty value set")
        out[name] = ValueSet.build(name, tuple(entries))
    return out


def _load_labs(
    spec: Mapping[str, Any],
    valuesets: Mapping[str, ValueSet],
    sources: Mapping[str, Source],
    problems: _Problems,
) -> dict[str, LabDef]:
    labs: dict[str, LabDef] = {}
    for lab_id, d in spec.get("lab", {}).items():
        where = f"labs.toml [lab.{lab_id}]"
        vs = valuesets.get(d.get("valueset", ""))
        if vs is None:
            problems.add(where, f"unknown value set {d.get('valueset')!r}")
            continue
        kind = d.get("kind")
        if kind not in ("quantity", "qualitative"):
            problems.add(where, f"kind must be quantity or qualitative, not {kind!r}")
        families: dict[str, UnitFamily] = {}
        for fname, f in d.get("families", {}).items():
            families[fname] = UnitFamily(
                fname,
                f["unit"],
                float(f["to_canonical"]),
                _sources(f.get("sources"), f"{where}.families.{fname}", sources, problems),
            )
        units: dict[str, tuple[str, float]] = {}
        for spelling, (family, factor) in d.get("units", {}).items():
            if fold_unit(spelling) != spelling:
                problems.add(where, f"unit spelling {spelling!r} is not folded")
            if family != "unsupported" and family not in families:
                problems.add(where, f"unit {spelling!r} names unknown family {family!r}")
            units[spelling] = (family, float(factor))
        if kind == "quantity":
            if not units or not families:
                problems.add(where, "a quantity lab needs units and families")
            for fam in families.values():
                if fold_unit(fam.unit) not in units:
                    problems.add(where, f"family unit {fam.unit!r} missing from units")

        def limit(key: str, _where: str = where, _d: Mapping[str, Any] = d) -> Setting | None:
            raw = _d.get(key)
            if raw is None:
                return None
            return Setting(
                float(raw["value"]),
                _sources(raw.get("sources"), f"{_where}.{key}", sources, problems),
            )

        labs[lab_id] = LabDef(
            id=lab_id,
            label=d.get("label", lab_id),
            valueset=vs,
            kind=kind or "quantity",
            canonical_unit=d.get("canonical_unit"),
            families=families,
            units=units,
            default_upper_limit=limit("default_upper_limit"),
            default_lower_limit=limit("default_lower_limit"),
            positive_words=_strs(d.get("positive_words"), where, problems),
            negative_words=_strs(d.get("negative_words"), where, problems),
            sources=_sources(d.get("sources"), where, sources, problems),
        )
    return labs


def _num(raw: Any) -> float | None:
    return None if raw is None else float(raw)


def _load_guideline(
    spec: Mapping[str, Any],
    name: str,
    labs: Mapping[str, LabDef],
    sources: Mapping[str, Source],
    problems: _Problems,
) -> Guideline:
    prof = spec.get("profile", {})
    gid = prof.get("id", name)
    bands: list[Band] = []
    for i, b in enumerate(spec.get("band", [])):
        where = f"{name} band[{i}]"
        lab, family, band = b.get("lab"), b.get("family"), b.get("band")
        if lab not in labs:
            problems.add(where, f"unknown lab {lab!r}")
        elif family not in labs[lab].families:
            problems.add(where, f"lab {lab!r} has no unit family {family!r}")
        if band not in BANDS:
            problems.add(where, f"band must be one of {BANDS}")
        edges = [k for k in ("below", "from", "above") if k in b]
        if len(edges) != 1 or (("from" in b) != ("to" in b)):
            problems.add(where, "give exactly one of below, from+to, above")
        bands.append(
            Band(
                lab=str(lab),
                family=str(family),
                band=str(band),
                nice_label=b.get("nice_label", ""),
                below=_num(b.get("below")),
                lower=_num(b.get("from")),
                upper=_num(b.get("to")),
                above=_num(b.get("above")),
                sources=_sources(b.get("sources"), where, sources, problems),
            )
        )
    # The bands of each lab and family must tile the number line with no gap or overlap.
    for lab, family in {(b.lab, b.family) for b in bands}:
        group = {b.band: b for b in bands if b.lab == lab and b.family == family}
        low, mid, high = group.get("low"), group.get("indeterminate"), group.get("normal")
        if low is None or mid is None or high is None:
            problems.add(name, f"{lab}/{family}: needs low, indeterminate and normal bands")
            continue
        if not (low.below == mid.lower and mid.upper == high.above):
            problems.add(name, f"{lab}/{family}: bands leave a gap or overlap")
        if mid.lower is not None and mid.upper is not None and mid.lower >= mid.upper:
            problems.add(name, f"{lab}/{family}: indeterminate band is empty")
    conclusions: list[Conclusion] = []
    for i, c in enumerate(spec.get("conclusion", [])):
        where = f"{name} conclusion[{i}]"
        raised = c.get("functional_raised")
        if raised not in (True, False, "any"):
            problems.add(where, "functional_raised must be true, false or 'any'")
        if c.get("conclusion") not in CONCLUSIONS:
            problems.add(where, f"unknown conclusion {c.get('conclusion')!r}")
        if c.get("band") not in (*BANDS, "untested"):
            problems.add(where, f"unknown band {c.get('band')!r}")
        conclusions.append(
            Conclusion(
                band=c.get("band", ""),
                functional_raised=None if raised == "any" else bool(raised),
                conclusion=c.get("conclusion", ""),
                sources=_sources(c.get("sources"), where, sources, problems),
            )
        )
    for band in (*BANDS, "untested"):
        for raised in (True, False):
            rows = [
                c for c in conclusions if c.band == band and c.functional_raised in (None, raised)
            ]
            if len(rows) != 1:
                problems.add(name, f"conclusion table: {len(rows)} rows for {band}/{raised}")
    settings = {
        key: Setting(
            float(v["value"]), _sources(v.get("sources"), f"{name} {key}", sources, problems)
        )
        for key, v in spec.get("settings", {}).items()
    }
    boundary = spec.get("boundaries", {})
    if boundary.get("on_cutoff") not in BANDS:
        problems.add(name, "boundaries.on_cutoff must name a band")
    return Guideline(
        id=gid,
        title=prof.get("title", gid),
        sources=_sources(prof.get("sources"), f"{name} profile", sources, problems),
        bands=tuple(bands),
        conclusions=tuple(conclusions),
        settings=settings,
        on_cutoff=boundary.get("on_cutoff", "indeterminate"),
        boundary_sources=_sources(boundary.get("sources"), f"{name} boundaries", sources, problems),
    )


def _check_ids(ids: Iterable[str], where: str, problems: _Problems) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            problems.add(where, f"duplicate id {i!r}")
        seen.add(i)
        if not re.fullmatch(r"[a-z0-9]+(\.[a-z0-9_]+)+", i):
            problems.add(where, f"id {i!r} is not of the form kind.name")


def _hash(root: Traversable) -> str:
    digest = hashlib.sha256()

    def walk(node: Traversable, prefix: str) -> Iterable[tuple[str, Traversable]]:
        for child in sorted(node.iterdir(), key=lambda t: t.name):
            path = f"{prefix}{child.name}"
            if child.is_dir():
                if child.name != "__pycache__":
                    yield from walk(child, path + "/")
            elif child.name.endswith((".toml", ".csv")):
                yield path, child

    for path, node in walk(root, ""):
        digest.update(path.encode() + b"\0" + node.read_bytes() + b"\0")
    return digest.hexdigest()


def load_from(root: Traversable) -> Knowledge:
    """Load and validate a knowledge base from a folder (tests use this on edited copies)."""
    problems = _Problems()
    manifest = _read_toml(root, "manifest.toml", problems)
    problems.raise_if_any()
    files = manifest.get("files", {})
    kb_meta = manifest.get("knowledge_base", {})

    raw_sources = _read_toml(root, files.get("sources", "sources.toml"), problems)
    sources: dict[str, Source] = {}
    for sid, s in raw_sources.items():
        where = f"sources.toml [{sid}]"
        if s.get("evidence") not in EVIDENCE_TAGS:
            problems.add(where, f"evidence must be one of {sorted(EVIDENCE_TAGS)}")
        if not s.get("citation") or not s.get("url"):
            problems.add(where, "citation and url are required")
        sources[sid] = Source(
            sid,
            s.get("citation", ""),
            s.get("url", ""),
            s.get("evidence", ""),
            s.get("kind", ""),
            s.get("note"),
        )

    valuesets = _load_valuesets(root, files.get("valuesets", "valuesets"), sources, problems)
    labs = _load_labs(
        _read_toml(root, files.get("labs", "labs.toml"), problems), valuesets, sources, problems
    )

    guidelines: dict[str, Guideline] = {}
    for gname in files.get("guidelines", []):
        g = _load_guideline(_read_toml(root, gname, problems), gname, labs, sources, problems)
        guidelines[g.id] = g
    default_guideline = kb_meta.get("default_guideline", "")
    if default_guideline not in guidelines:
        problems.add("manifest.toml", f"default guideline {default_guideline!r} not loaded")
    setting_names = {k for g in guidelines.values() for k in g.settings}

    def check_status(value: Any, where: str) -> str:
        if value not in EVIDENCE_STATUS:
            problems.add(where, f"evidence_status must be one of {sorted(EVIDENCE_STATUS)}")
        return str(value)

    risk_spec = _read_toml(root, files.get("risk_factors", "risk_factors.toml"), problems)
    risk_factors: list[RiskFactor] = []
    for rf in risk_spec.get("risk_factor", []):
        where = f"risk_factors.toml {rf.get('id')}"
        routes = tuple(
            RiskRoute(
                what=r.get("what", ""),
                nice_box2=bool(r.get("nice_box2")),
                matchers=_matcher_set(
                    r, f"{where} route {i}", valuesets, labs, setting_names, problems
                ),
                sources=_sources(r.get("sources"), f"{where} route {i}", sources, problems),
            )
            for i, r in enumerate(rf.get("route", []))
        )
        if not routes:
            problems.add(where, "no routes")
        risk_factors.append(
            RiskFactor(
                id=rf.get("id", ""),
                label=rf.get("label", ""),
                summary=rf.get("summary", ""),
                evidence_status=check_status(rf.get("evidence_status"), where),
                routes=routes,
            )
        )

    symptom_spec = _read_toml(root, files.get("symptoms", "symptoms.toml"), problems)
    symptoms = [
        SymptomDef(
            id=s.get("id", ""),
            label=s.get("label", ""),
            what=s.get("what", ""),
            ms_overlap=bool(s.get("ms_overlap")),
            neurological=bool(s.get("neurological")),
            matchers=_matcher_set(
                s, f"symptoms.toml {s.get('id')}", valuesets, labs, setting_names, problems
            ),
            sources=_sources(s.get("sources"), f"symptoms.toml {s.get('id')}", sources, problems),
        )
        for s in symptom_spec.get("symptom", [])
    ]

    finding_spec = _read_toml(root, files.get("findings", "findings.toml"), problems)
    findings: dict[str, FindingDef] = {}
    for fid, f in finding_spec.get("finding", {}).items():
        where = f"findings.toml {fid}"
        if f.get("kind") not in FINDING_KINDS:
            problems.add(where, f"kind must be one of {sorted(FINDING_KINDS)}")
        if not f.get("label") or not f.get("summary"):
            problems.add(where, "label and summary are required")
        has_matchers = any(d in f for d in MATCHER_DOMAINS)
        findings[fid] = FindingDef(
            id=fid,
            kind=f.get("kind", ""),
            label=f.get("label", ""),
            summary=f.get("summary", ""),
            evidence_status=check_status(f.get("evidence_status"), where),
            sources=_sources(f.get("sources"), where, sources, problems),
            matchers=_matcher_set(f, where, valuesets, labs, setting_names, problems)
            if has_matchers
            else None,
        )

    rec_spec = _read_toml(root, files.get("recommendations", "recommendations.toml"), problems)
    recommendations: dict[str, RecommendationDef] = {}
    for rid, r in rec_spec.get("recommendation", {}).items():
        where = f"recommendations.toml {rid}"
        if r.get("urgency") not in URGENCIES:
            problems.add(where, f"urgency must be one of {URGENCIES}")
        if r.get("action") not in ACTIONS:
            problems.add(where, f"action must be one of {sorted(ACTIONS)}")
        orders = _strs(r.get("orders"), where, problems)
        for lab in orders:
            if lab not in labs:
                problems.add(where, f"orders unknown lab {lab!r}")
        if not r.get("text"):
            problems.add(where, "text is required")
        recommendations[rid] = RecommendationDef(
            id=rid,
            urgency=r.get("urgency", ""),
            action=r.get("action", ""),
            text=r.get("text", ""),
            orders=orders,
            evidence_status=check_status(r.get("evidence_status"), where),
            sources=_sources(r.get("sources"), where, sources, problems),
            urgent_with_neurological=bool(r.get("urgent_with_neurological", False)),
        )

    treat_spec = _read_toml(root, files.get("treatments", "treatments.toml"), problems)
    treatments: dict[str, MatcherSet] = {}
    treatment_sources: dict[str, tuple[str, ...]] = {}
    for tid, t in treat_spec.get("treatment", {}).items():
        where = f"treatments.toml {tid}"
        treatments[tid] = _matcher_set(t, where, valuesets, labs, setting_names, problems)
        treatment_sources[tid] = _sources(t.get("sources"), where, sources, problems)
    if "b12_replacement" not in treatments:
        problems.add("treatments.toml", "b12_replacement is required")

    gap_spec = _read_toml(root, files.get("care_gaps", "care_gaps.toml"), problems)
    care_gaps: dict[str, CareGapDef] = {}
    for gid, gd in gap_spec.get("gap", {}).items():
        where = f"care_gaps.toml {gid}"
        priority = gd.get("priority")
        if not isinstance(priority, int) or not 1 <= priority <= 5:
            problems.add(where, "priority must be a whole number from 1 to 5")
            priority = 5
        if not gd.get("label") or not gd.get("summary"):
            problems.add(where, "label and summary are required")
        care_gaps[gid] = CareGapDef(
            id=gid,
            label=gd.get("label", ""),
            summary=gd.get("summary", ""),
            priority=priority,
            evidence_status=check_status(gd.get("evidence_status"), where),
            sources=_sources(gd.get("sources"), where, sources, problems),
        )
    care_gap_settings = {
        key: Setting(
            float(v["value"]),
            _sources(v.get("sources"), f"care_gaps.toml {key}", sources, problems),
        )
        for key, v in gap_spec.get("settings", {}).items()
    }

    _check_ids(
        [rf.id for rf in risk_factors]
        + [s.id for s in symptoms]
        + list(findings)
        + list(recommendations)
        + list(care_gaps),
        "knowledge base",
        problems,
    )
    matching = manifest.get("matching", {})
    try:
        family_pattern = re.compile(matching.get("family_history_pattern", r"(?!)"), re.IGNORECASE)
    except re.error as exc:
        problems.add("manifest.toml", f"bad family_history_pattern ({exc})")
        family_pattern = re.compile(r"(?!)")
    lab_index: dict[tuple[str, str], str] = {}
    for lab_def in labs.values():
        for e in lab_def.valueset.entries:
            key = (e.system, e.code)
            if key in lab_index and lab_index[key] != lab_def.id:
                problems.add("labs", f"code {e.code} is in two labs' value sets")
            lab_index[key] = lab_def.id
    problems.raise_if_any()

    return Knowledge(
        name=kb_meta.get("name", "b12ms"),
        version=str(kb_meta.get("version", "")),
        sha256=_hash(root),
        clinical_review=kb_meta.get("clinical_review", ""),
        default_guideline=default_guideline,
        sources=sources,
        valuesets=valuesets,
        labs=labs,
        guidelines=guidelines,
        risk_factors=tuple(risk_factors),
        symptoms=tuple(symptoms),
        findings=findings,
        recommendations=recommendations,
        treatments=treatments,
        treatment_sources=treatment_sources,
        care_gaps=care_gaps,
        care_gap_settings=care_gap_settings,
        family_pattern=family_pattern,
        negative_values=frozenset(v.lower() for v in matching.get("negative_values", [])),
        _lab_index=lab_index,
    )


@functools.cache
def load_knowledge() -> Knowledge:
    """The knowledge base shipped with b12ms, loaded and validated once per process."""
    return load_from(resources.files("b12ms.knowledge"))
