"""The clinician's web form: fields -> the b12ms patient-form document -> `record_from_form`.

The web form is a front end to the patient form (docs/patient-form.md), so every clinical
validation rule stays in `b12ms.form`. This module checks only what a web field needs (a
number is a number, a date is a date, a result has a date), maps each field onto the form
document, and turns every problem into a message next to its field. Checkbox lists come from
the knowledge base: symptoms, and the medicine names of each medicine group.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from b12ms.errors import FormError
from b12ms.form import record_from_form
from b12ms.knowledge import Knowledge, MatcherSet
from b12ms.model import PatientRecord
from b12ms.web.page import esc, page

MAX_FREE_TEXT_LINES = 30
MAX_TEXT = 200
SEXES = (("", "Not recorded"), ("female", "Female"), ("male", "Male"), ("other", "Other"))
DIETS = (
    ("", "Not recorded"),
    ("omnivore", "Eats meat or fish"),
    ("vegetarian", "Vegetarian"),
    ("vegan", "Vegan"),
    ("low animal-source diet", "Low in animal products"),
)
COMPARATORS = (("", "="), ("<", "<"), (">", ">"))
UNIT_LABELS = {"umol/L": "µmol/L"}


@dataclasses.dataclass(frozen=True, slots=True)
class Condition:
    """A condition checkbox: where it goes in the form document, and the words written."""

    key: str
    label: str
    section: str  # conditions | procedures | family_history
    text: str


CONDITIONS = (
    Condition("ms", "Multiple sclerosis", "conditions", "multiple sclerosis"),
    Condition(
        "pernicious_anaemia",
        "Pernicious anaemia or autoimmune gastritis",
        "conditions",
        "pernicious anaemia",
    ),
    Condition("coeliac", "Coeliac disease", "conditions", "coeliac disease"),
    Condition("crohns", "Crohn's disease", "conditions", "Crohn's disease"),
    Condition("type1_diabetes", "Type 1 diabetes", "conditions", "type 1 diabetes"),
    Condition("thyroid", "Autoimmune thyroid disease", "conditions", "autoimmune thyroid disease"),
    Condition(
        "gastric_surgery",
        "Gastric or bariatric surgery",
        "procedures",
        "gastrectomy or bariatric surgery",
    ),
    Condition("ileal_resection", "Terminal ileal resection", "procedures", "ileal resection"),
    Condition(
        "radiotherapy",
        "Abdominal or pelvic radiotherapy",
        "procedures",
        "abdominal or pelvic radiotherapy",
    ),
    Condition("alcohol", "Alcohol misuse", "conditions", "alcohol misuse"),
    Condition(
        "family_history",
        "Family history of pernicious anaemia or B12 deficiency",
        "family_history",
        "pernicious anaemia",
    ),
)


@dataclasses.dataclass(frozen=True, slots=True)
class MedicineGroup:
    """A medicine group: a heading and the knowledge base's plain names for its medicines."""

    key: str
    label: str
    names: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class LabRow:
    """One row of the results table."""

    key: str
    test: str
    label: str
    units: tuple[str, ...]
    comparator: bool = False


LAB_ROWS = (
    LabRow("b12", "total_b12", "Total B12 (latest)", ("ng/L", "pg/mL", "pmol/L"), True),
    LabRow(
        "b12_prev", "total_b12", "Total B12 (an earlier result)", ("ng/L", "pg/mL", "pmol/L"), True
    ),
    LabRow("active_b12", "active_b12", "Active B12 (holotranscobalamin)", ("pmol/L",), True),
    LabRow("mma", "mma", "Methylmalonic acid (MMA)", ("umol/L", "nmol/L")),
    LabRow("homocysteine", "homocysteine", "Homocysteine", ("umol/L",)),
    LabRow("mcv", "mcv", "Mean cell volume (MCV)", ("fL",)),
    LabRow("haemoglobin", "haemoglobin", "Haemoglobin", ("g/dL", "g/L")),
    LabRow("folate", "folate", "Serum folate", ("ng/mL", "nmol/L")),
)

_PLAIN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9 '\-]*")


def _plain(names: Iterable[str]) -> tuple[str, ...]:
    """The names that are plain words, not patterns (these can be offered as checkboxes)."""
    return tuple(dict.fromkeys(n for n in names if _PLAIN_NAME.fullmatch(n)))


def _medication_names(matchers: MatcherSet | None) -> tuple[str, ...]:
    if matchers is None or matchers.medications is None:
        return ()
    return _plain(matchers.medications.names)


def medicine_groups(kb: Knowledge) -> tuple[MedicineGroup, ...]:
    """The medicine groups offered as checkboxes, their names taken from the knowledge base."""
    risks = {rf.id: rf for rf in kb.risk_factors}

    def risk_names(rid: str) -> tuple[str, ...]:
        rf = risks.get(rid)
        if rf is None:
            return ()
        return tuple(
            dict.fromkeys(n for route in rf.routes for n in _medication_names(route.matchers))
        )

    s1p = kb.findings.get("ms.s1p_modulator")
    groups = (
        MedicineGroup("metformin", "Metformin", risk_names("risk.metformin")),
        MedicineGroup("ppi", "Proton pump inhibitor", risk_names("risk.proton_pump_inhibitor")),
        MedicineGroup("h2ra", "H2 receptor antagonist", risk_names("risk.h2_receptor_antagonist")),
        MedicineGroup(
            "s1p",
            "S1P receptor modulator (MS)",
            _medication_names(s1p.matchers if s1p else None),
        ),
        MedicineGroup(
            "b12", "B12 replacement", _medication_names(kb.treatments.get("b12_replacement"))
        ),
        MedicineGroup(
            "other", "Other medicines linked to low B12", risk_names("risk.other_medicine")
        ),
    )
    return tuple(g for g in groups if g.names)


def symptom_choices(kb: Knowledge) -> tuple[tuple[str, str, str], ...]:
    """(symptom id, label, words written on the form) for each symptom the form can record.

    The words are the label itself when the knowledge base recognises it, else the first
    plain name it lists; a symptom it cannot recognise from words is not offered.
    """
    out = []
    for s in kb.symptoms:
        matcher = s.matchers.conditions
        if matcher is None:
            continue
        candidates = (s.label, *_plain(matcher.names))
        words = next((c for c in candidates if matcher.match_text(c)), None)
        if words is not None:
            out.append((s.id, s.label, words))
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Fields -> document


Fields = Mapping[str, Sequence[str]]


def fields_from_items(items: Iterable[tuple[str, Any]]) -> dict[str, list[str]]:
    """Submitted (name, value) pairs as a multi-valued mapping; non-text values are dropped."""
    out: dict[str, list[str]] = {}
    for name, value in items:
        if isinstance(value, str):
            out.setdefault(name, []).append(value)
    return out


@dataclasses.dataclass(slots=True)
class FormOutcome:
    """What the fields gave: the patient-form document, the as-of date and any problems.

    `errors` maps a field name to its message; the key "_form" holds a message for the
    whole form. The document is None when there are errors.
    """

    document: dict[str, Any] | None
    as_of: dt.date
    errors: dict[str, str]
    paths: dict[str, str]  # form-document path -> field name, to place later messages


def _one(fields: Fields, name: str) -> str:
    values = fields.get(name) or [""]
    return values[0].strip()


def _lines(fields: Fields, name: str, errors: dict[str, str]) -> list[str]:
    lines = [x.strip() for x in _one(fields, name).splitlines() if x.strip()]
    if len(lines) > MAX_FREE_TEXT_LINES:
        errors[name] = f"Write at most {MAX_FREE_TEXT_LINES} lines, one item a line."
    elif any(len(x) > MAX_TEXT for x in lines):
        errors[name] = f"Keep each line under {MAX_TEXT} characters."
    return lines


def _date(text: str, name: str, errors: dict[str, str], what: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        errors[name] = f"{what} must be a real date, written YYYY-MM-DD (for example 2026-09-14)."
        return None


def _number(text: str, name: str, errors: dict[str, str], what: str) -> float | None:
    if not text:
        return None
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        errors[name] = f"{what} must be a number, for example 210 or 0.52."
        return None
    if not math.isfinite(value):
        errors[name] = f"{what} must be a number, for example 210 or 0.52."
        return None
    if value < 0:
        errors[name] = f"{what} cannot be negative."
        return None
    return value


def form_document(fields: Fields, kb: Knowledge, *, today: dt.date | None = None) -> FormOutcome:
    """Map the web form's fields onto a b12ms patient-form document, checking each field."""
    errors: dict[str, str] = {}
    paths: dict[str, str] = {}
    today = today or dt.date.today()
    as_of = _date(_one(fields, "as_of"), "as_of", errors, "The assessment date") or today
    doc: dict[str, Any] = {"b12ms_form": 1}

    patient_id = _one(fields, "patient_id")
    if len(patient_id) > 64:
        errors["patient_id"] = "Keep the patient label under 64 characters."
    elif patient_id:
        doc["id"] = patient_id
        paths["id"] = "patient_id"

    age_text = _one(fields, "age")
    birth = _date(_one(fields, "birth_date"), "birth_date", errors, "The date of birth")
    if age_text:
        if not age_text.isdigit() or not 0 <= int(age_text) <= 130:
            errors["age"] = "Age must be a whole number of years from 0 to 130."
        else:
            doc["age"] = int(age_text)
            paths["age"] = "age"
    if birth is not None:
        if "age" in doc:
            errors["birth_date"] = "Give the age or the date of birth, not both."
        elif birth > as_of:
            errors["birth_date"] = "The date of birth is after the assessment date."
        else:
            doc["birth_date"] = birth.isoformat()
            paths["birth_date"] = "birth_date"

    sex = _one(fields, "sex")
    if sex:
        if sex not in {k for k, _ in SEXES}:
            errors["sex"] = "Choose one of the listed options."
        else:
            doc["sex"] = sex
    if _one(fields, "pregnant"):
        doc["pregnant"] = True

    # Symptoms: checkboxes, then free text.
    words = {sid: w for sid, _, w in symptom_choices(kb)}
    symptoms = []
    for sid in fields.get("symptom", ()):
        if sid not in words:
            errors["symptom"] = "Unknown symptom choice: reload the form and try again."
        elif words[sid] not in symptoms:
            symptoms.append(words[sid])
    symptoms.extend(_lines(fields, "symptoms_other", errors))
    if symptoms:
        doc["symptoms"] = symptoms
        paths["symptoms"] = "symptoms_other"

    # Medicines: checkboxes per group (with the group's start date), then free text.
    medicines: list[Any] = []
    for g in medicine_groups(kb):
        chosen = [n for n in fields.get(f"med_{g.key}", ()) if n]
        unknown = [n for n in chosen if n not in g.names]
        if unknown:
            errors[f"med_{g.key}"] = "Unknown medicine choice: reload the form and try again."
        start_field = f"med_{g.key}_start"
        start = _date(_one(fields, start_field), start_field, errors, "The start date")
        if start is not None and not chosen:
            errors[start_field] = f"Tick the {g.label.lower()} taken, or clear this date."
        if start is not None and start > as_of:
            errors[start_field] = "The start date is after the assessment date."
        for name in chosen:
            if name in g.names:
                paths[f"medicines[{len(medicines)}]"] = f"med_{g.key}"
                medicines.append({"name": name, "start": start.isoformat()} if start else name)
    for line in _lines(fields, "medicines_other", errors):
        paths[f"medicines[{len(medicines)}]"] = "medicines_other"
        medicines.append(line)
    if medicines:
        doc["medicines"] = medicines

    diet = _one(fields, "diet")
    if diet:
        if diet not in {k for k, _ in DIETS}:
            errors["diet"] = "Choose one of the listed options."
        else:
            doc["diet"] = diet
    if _one(fields, "nitrous_oxide"):
        doc["substances"] = ["nitrous oxide"]

    # Conditions, operations and family history.
    known = {c.key: c for c in CONDITIONS}
    sections: dict[str, list[str]] = {"conditions": [], "procedures": [], "family_history": []}
    for key in fields.get("condition", ()):
        c = known.get(key)
        if c is None:
            errors["condition"] = "Unknown condition choice: reload the form and try again."
        elif c.text not in sections[c.section]:
            sections[c.section].append(c.text)
    sections["conditions"].extend(_lines(fields, "conditions_other", errors))
    for section, items in sections.items():
        if items:
            doc[section] = items

    # Laboratory results.
    labs: list[dict[str, Any]] = []
    for row in LAB_ROWS:
        lab = _lab_row(fields, row, as_of, errors)
        if lab is not None:
            paths[f"labs[{len(labs)}]"] = f"{row.key}_value"
            labs.append(lab)
    if labs:
        doc["labs"] = labs

    return FormOutcome(None if errors else doc, as_of, errors, paths)


def _lab_row(
    fields: Fields, row: LabRow, as_of: dt.date, errors: dict[str, str]
) -> dict[str, Any] | None:
    k = row.key
    what = row.label
    value = _number(_one(fields, f"{k}_value"), f"{k}_value", errors, f"{what}: the result")
    date = _date(_one(fields, f"{k}_date"), f"{k}_date", errors, f"{what}: the date")
    low = _number(_one(fields, f"{k}_low"), f"{k}_low", errors, "The lower limit")
    high = _number(_one(fields, f"{k}_high"), f"{k}_high", errors, "The upper limit")
    unit = _one(fields, f"{k}_unit") or row.units[0]
    comparator = _one(fields, f"{k}_cmp") if row.comparator else ""
    has_value = bool(_one(fields, f"{k}_value"))
    has_date = bool(_one(fields, f"{k}_date"))
    if unit not in row.units:
        errors[f"{k}_unit"] = "Choose one of the listed units."
    if comparator not in {c for c, _ in COMPARATORS}:
        errors[f"{k}_cmp"] = "Choose =, < or >."
    if has_value and not has_date:
        errors.setdefault(f"{k}_date", f"{what}: give the date the sample was taken.")
    if has_date and not has_value and f"{k}_date" not in errors:
        errors[f"{k}_value"] = f"{what}: give the result, or clear the date."
    if (low is not None or high is not None) and not has_value:
        errors.setdefault(f"{k}_value", f"{what}: give the result, or clear the reference range.")
    if low is not None and high is not None and low > high:
        errors[f"{k}_low"] = "The lower limit is above the upper limit."
    if date is not None and date > as_of:
        errors[f"{k}_date"] = (
            f"{what}: this date is after the assessment date, so it would be ignored."
        )
    if value is None or date is None:
        return None
    lab: dict[str, Any] = {"test": row.test, "value": value, "unit": unit, "date": date.isoformat()}
    if comparator:
        lab["comparator"] = comparator
    if low is not None or high is not None:
        lab["reference_range"] = {
            key: v for key, v in (("low", low), ("high", high)) if v is not None
        }
    return lab


def record_from_fields(
    fields: Fields, kb: Knowledge, *, today: dt.date | None = None
) -> tuple[PatientRecord | None, FormOutcome]:
    """The patient record the fields describe, or None with the problems in the outcome."""
    outcome = form_document(fields, kb, today=today)
    if outcome.document is None:
        return None, outcome
    try:
        record = record_from_form(outcome.document, name="form", today=outcome.as_of)
    except FormError as exc:
        field, message = _place(str(exc), outcome.paths)
        outcome.errors[field] = message
        outcome.document = None
        return None, outcome
    return record, outcome


def _place(message: str, paths: Mapping[str, str]) -> tuple[str, str]:
    """The field a patient-form message is about, and the message without the file name."""
    text = message.removeprefix("form: ")
    path = text.split(": ", 1)[0]
    for prefix, field in sorted(paths.items(), key=lambda kv: -len(kv[0])):
        if path == prefix or path.startswith((prefix + ".", prefix + "[")):
            return field, text
    return "_form", text


# --------------------------------------------------------------------------------------------
# The form page


def form_page(
    kb: Knowledge,
    *,
    fields: Fields | None = None,
    errors: Mapping[str, str] | None = None,
    upload_error: str | None = None,
    base_path: str = "",
    today: dt.date | None = None,
) -> str:
    """The form page: upload a record, or describe the patient; problems next to their fields."""
    fields = fields or {}
    errors = dict(errors or {})
    today = today or dt.date.today()
    b = base_path.rstrip("/")
    f = _Writer(fields, errors)
    out = [
        '<a class="skip" href="#main">Skip to the form</a>',
        '<header class="topbar" role="banner"><div class="wrap"><span class="brand">b12ms</span>'
        '<h1 class="who" style="font-size:1.1rem;margin:0">Vitamin B12 deficiency in MS and '
        "MS-like symptoms (NICE NG239)</h1></div></header>",
        '<main id="main" class="wrap">',
        '<p class="notice" role="note"><strong>Decision support only.</strong> b12ms supports '
        "clinical judgement; it does not replace it. Its knowledge base has not yet been reviewed "
        "by a clinician. Do not enter names, NHS numbers or addresses.</p>",
    ]
    if errors or upload_error:
        items = "".join(
            f'<li><a href="#{esc("err-_form" if name == "_form" else _anchor(name))}">'
            f"{esc(msg)}</a></li>"
            for name, msg in errors.items()
        )
        if upload_error:
            items += f'<li><a href="#upload-file">{esc(upload_error)}</a></li>'
        out.append(
            '<div class="errors" role="alert" aria-labelledby="errors-h" tabindex="-1" '
            'id="errors"><h2 id="errors-h">There is a problem</h2>'
            f"<ul>{items}</ul></div>"
        )
    as_of_value = _one(fields, "as_of") or today.isoformat()

    # Upload.
    out.append(
        '<section class="card" aria-labelledby="upload-h"><h2 id="upload-h">Upload a record</h2>'
        f'<form method="post" action="{esc(b)}/upload" enctype="multipart/form-data">'
        '<p class="hint">A FHIR R4 Bundle or NDJSON file, or a b12ms patient form (YAML or '
        "JSON); up to a few MB.</p>"
        '<div class="row"><div class="field"><label for="upload-file">Record file</label>'
        f'<input type="file" id="upload-file" name="file" required '
        f'accept=".json,.ndjson,.jsonl,.yaml,.yml,application/json,application/fhir+json"'
        f"{_invalid('upload-file', upload_error)}>"
        f"{_error_text('upload-file', upload_error)}</div>"
        '<div class="field"><label for="upload-as-of">Assess as of</label>'
        f'<input type="date" id="upload-as-of" name="as_of" value="{esc(as_of_value)}"></div>'
        '<div class="field" style="justify-content:flex-end"><button type="submit">'
        "Assess the uploaded record</button></div></div></form></section>"
    )

    # The clinician form.
    out.append(
        '<section class="card" aria-labelledby="form-h"><h2 id="form-h">Or describe the '
        "patient</h2>"
        f'<form method="post" action="{esc(b)}/assess" novalidate>'
    )
    if "_form" in errors:
        out.append(f'<p class="error" id="err-_form">{esc(errors["_form"])}</p>')
    out.append('<fieldset><legend>Patient</legend><div class="row">')
    out.append(f.text("patient_id", "Patient label (optional, not a name)", width="12rem"))
    out.append(f.number("age", "Age in years", hint="or give the date of birth"))
    out.append(f.date("birth_date", "Date of birth"))
    out.append(f.select("sex", "Sex", SEXES))
    out.append(f.date("as_of", "Assess as of", value=as_of_value))
    out.append("</div>")
    out.append(f.checkbox("pregnant", "yes", "Pregnant now"))
    out.append("</fieldset>")

    out.append(
        f.fieldset_checks(
            "symptom",
            "Symptoms and signs now",
            [(sid, label) for sid, label, _ in symptom_choices(kb)],
        )
    )
    out.append(f.textarea("symptoms_other", "Other symptoms (one a line)"))
    out.append("</fieldset>")

    out.append('<fieldset id="medicines"><legend>Medicines</legend>')
    for g in medicine_groups(kb):
        out.append(f'<div class="group" id="{esc(_anchor("med_" + g.key))}">{esc(g.label)}</div>')
        out.append('<div class="checks">')
        for name in g.names:
            out.append(f.check_item(f"med_{g.key}", name, name))
        out.append("</div>")
        out.append(f.error(f"med_{g.key}"))
        out.append(
            '<div class="row">'
            + f.date(f"med_{g.key}_start", f"{g.label}: started (optional)")
            + "</div>"
        )
    out.append(f.textarea("medicines_other", "Other medicines (one a line)"))
    out.append("</fieldset>")

    out.append('<fieldset><legend>Diet and substances</legend><div class="row">')
    out.append(f.select("diet", "Diet", DIETS))
    out.append("</div>")
    out.append(f.checkbox("nitrous_oxide", "yes", "Recreational nitrous oxide use"))
    out.append("</fieldset>")

    out.append(
        f.fieldset_checks(
            "condition",
            "Conditions, operations and family history",
            [(c.key, c.label) for c in CONDITIONS],
        )
    )
    out.append(f.textarea("conditions_other", "Other conditions (one a line)"))
    out.append("</fieldset>")

    out.append(_labs_table(kb, f))
    out.append(
        '<p><button type="submit">Assess</button> <span class="hint">Results after the '
        "assessment date are not used.</span></p></form></section></main>"
    )
    return page("b12ms: assess a patient", "\n".join(out))


def _labs_table(kb: Knowledge, f: _Writer) -> str:
    head = (
        '<fieldset id="labs"><legend>Laboratory results</legend>'
        '<p class="hint">The laboratory&#39;s own reference range is optional; without it, '
        "b12ms uses the guideline bands (B12) or published defaults.</p>"
        '<table class="labs"><thead><tr><th scope="col">Test</th><th scope="col">&lt; or &gt;'
        '</th><th scope="col">Result</th><th scope="col">Unit</th><th scope="col">Date</th>'
        '<th scope="col">Range low</th><th scope="col">Range high</th></tr></thead><tbody>'
    )
    rows = []
    for row in LAB_ROWS:
        k = row.key
        name = row.label
        cells = [f'<th scope="row">{esc(name)}</th>']
        if row.comparator:
            cells.append(
                f"<td>{f.select(f'{k}_cmp', f'{name}: comparator', COMPARATORS, bare=True)}</td>"
            )
        else:
            cells.append("<td></td>")
        cells.append(
            f"<td>{f.number(f'{k}_value', f'{name}: result', bare=True, decimal=True)}</td>"
        )
        units = tuple((u, UNIT_LABELS.get(u, u)) for u in row.units)
        cells.append(f"<td>{f.select(f'{k}_unit', f'{name}: unit', units, bare=True)}</td>")
        cells.append(f"<td>{f.date(f'{k}_date', f'{name}: date', bare=True)}</td>")
        cells.append(
            f"<td>{f.number(f'{k}_low', f'{name}: range low', bare=True, decimal=True)}</td>"
        )
        cells.append(
            f"<td>{f.number(f'{k}_high', f'{name}: range high', bare=True, decimal=True)}</td>"
        )
        rows.append(f"<tr>{''.join(cells)}</tr>")
        errs = "".join(
            f.error(n)
            for n in (f"{k}_cmp", f"{k}_value", f"{k}_unit", f"{k}_date", f"{k}_low", f"{k}_high")
        )
        if errs:
            rows.append(f'<tr><td></td><td colspan="6">{errs}</td></tr>')
    del kb  # the rows are fixed; labels and units are the patient form's
    return head + "".join(rows) + "</tbody></table></fieldset>"


def _anchor(name: str) -> str:
    return f"f-{name}"


def _invalid(name: str, error: str | None) -> str:
    if not error:
        return ""
    return f' aria-invalid="true" aria-describedby="err-{esc(name)}" class="invalid"'


def _error_text(name: str, error: str | None) -> str:
    if not error:
        return ""
    return f'<p class="error" id="err-{esc(name)}">{esc(error)}</p>'


class _Writer:
    """Writes form controls with their labels, current values and error messages."""

    def __init__(self, fields: Fields, errors: Mapping[str, str]) -> None:
        self.fields = fields
        self.errors = errors

    def _attrs(self, name: str) -> str:
        return (
            f'id="{esc(_anchor(name))}" name="{esc(name)}"{_invalid(name, self.errors.get(name))}'
        )

    def error(self, name: str) -> str:
        return _error_text(name, self.errors.get(name))

    def _wrap(self, name: str, label: str, control: str, hint: str, bare: bool) -> str:
        if bare:
            return f'<label class="sr" for="{esc(_anchor(name))}">{esc(label)}</label>{control}'
        hint_html = f'<span class="hint">{esc(hint)}</span>' if hint else ""
        return (
            f'<div class="field"><label for="{esc(_anchor(name))}">{esc(label)}</label>'
            f"{hint_html}{control}{self.error(name)}</div>"
        )

    def text(self, name: str, label: str, *, width: str = "10rem", hint: str = "") -> str:
        control = (
            f'<input type="text" {self._attrs(name)} value="{esc(_one(self.fields, name))}" '
            f'style="width:{esc(width)}" maxlength="64" autocomplete="off">'
        )
        return self._wrap(name, label, control, hint, False)

    def number(
        self, name: str, label: str, *, hint: str = "", bare: bool = False, decimal: bool = False
    ) -> str:
        mode = "decimal" if decimal else "numeric"
        control = (
            f'<input type="text" inputmode="{mode}" {self._attrs(name)} '
            f'value="{esc(_one(self.fields, name))}" style="width:6.5rem" autocomplete="off">'
        )
        return self._wrap(name, label, control, hint, bare)

    def date(self, name: str, label: str, *, value: str | None = None, bare: bool = False) -> str:
        current = value if value is not None else _one(self.fields, name)
        control = f'<input type="date" {self._attrs(name)} value="{esc(current)}">'
        return self._wrap(name, label, control, "", bare)

    def select(
        self,
        name: str,
        label: str,
        options: Sequence[tuple[str, str]],
        *,
        bare: bool = False,
    ) -> str:
        current = _one(self.fields, name)
        opts = "".join(
            f'<option value="{esc(v)}"{" selected" if v == current else ""}>{esc(text)}</option>'
            for v, text in options
        )
        return self._wrap(name, label, f"<select {self._attrs(name)}>{opts}</select>", "", bare)

    def checkbox(self, name: str, value: str, label: str) -> str:
        checked = " checked" if value in self.fields.get(name, ()) else ""
        return (
            f'<p><label><input type="checkbox" {self._attrs(name)} value="{esc(value)}"'
            f"{checked}> {esc(label)}</label>{self.error(name)}</p>"
        )

    def check_item(self, name: str, value: str, label: str) -> str:
        checked = " checked" if value in self.fields.get(name, ()) else ""
        ident = f"{_anchor(name)}-{re.sub(r'[^A-Za-z0-9]+', '-', value)}"
        return (
            f'<label for="{esc(ident)}"><input type="checkbox" id="{esc(ident)}" '
            f'name="{esc(name)}" value="{esc(value)}"{checked}> {esc(label)}</label>'
        )

    def fieldset_checks(self, name: str, legend: str, choices: Sequence[tuple[str, str]]) -> str:
        """Opens a fieldset of checkboxes (the caller closes it)."""
        items = "".join(self.check_item(name, v, label) for v, label in choices)
        return (
            f'<fieldset id="{esc(_anchor(name))}"><legend>{esc(legend)}</legend>'
            f'<div class="checks">{items}</div>{self.error(name)}'
        )

    def textarea(self, name: str, label: str) -> str:
        control = (
            f'<textarea {self._attrs(name)} rows="2">{esc(_one(self.fields, name))}</textarea>'
        )
        return self._wrap(name, label, control, "", False)
