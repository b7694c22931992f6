"""The b12ms patient form (YAML or JSON, validated by its JSON Schema) to one `PatientRecord`.

The form is for people, not systems: free names for symptoms, conditions and medicines, a
short list of lab tests by name, dates as YYYY-MM-DD. Every mistake is a `FormError` whose
one-line message names the field path, e.g. "labs[1].unit: required when value is given".
See docs/patient-form.md and schemas/patient-form.schema.json.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import Any, cast

import yaml
from jsonschema import Draft202012Validator, ValidationError

from b12ms.errors import FormError, NotJsonError
from b12ms.model import (
    Coding,
    Comparator,
    Concept,
    Condition,
    Medication,
    Observation,
    Patient,
    PatientRecord,
    Procedure,
    Quantity,
)

FORM_MARKER = "b12ms_form"
FORM_LAB_SYSTEM = "urn:b12ms:form-lab"
SNOMED = "http://snomed.info/sct"

# Human labels of the form's lab tests; the keys are the schema's `test` enum.
LAB_LABELS: Mapping[str, str] = {
    "total_b12": "Total vitamin B12 (serum cobalamin)",
    "active_b12": "Active B12 (holotranscobalamin)",
    "mma": "Methylmalonic acid",
    "homocysteine": "Total homocysteine",
    "folate": "Serum folate",
    "folate_rbc": "Red cell folate",
    "mcv": "Mean cell volume",
    "haemoglobin": "Haemoglobin",
    "intrinsic_factor_antibody": "Intrinsic factor antibody",
}

# `result` words: SNOMED CT qualifier value and v3 ObservationInterpretation code.
_RESULTS: Mapping[str, tuple[Coding, str]] = {
    "positive": (Coding(SNOMED, "10828004", "Positive"), "POS"),
    "negative": (Coding(SNOMED, "260385009", "Negative"), "NEG"),
    "equivocal": (Coding(SNOMED, "42425007", "Equivocal"), "IND"),
}

PREGNANCY = Concept((Coding(SNOMED, "72892002", "Normal pregnancy"),), "Pregnancy")
DIET = Concept((), "Diet")
SUBSTANCE_USE = Concept((), "Recreational substance use")


# --------------------------------------------------------------------------------------------
# Loading


class _FormYamlLoader(yaml.SafeLoader):
    """Safe YAML loader that keeps dates as text (checked by the schema) and refuses duplicates."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            if key_node.value in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key_node.value!r}", key_node.start_mark
                )
            seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_FormYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: str, *, name: str) -> Any:
    """Parse YAML text (dates stay strings); NotJsonError with line and column if it is not."""
    try:
        return yaml.load(text, Loader=_FormYamlLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = e.problem if e.problem and "duplicate key" in e.problem else "syntax error"
        raise NotJsonError(f"{name}: not JSON, NDJSON or YAML: YAML {problem}{where}") from None
    except yaml.YAMLError:
        raise NotJsonError(f"{name}: not JSON, NDJSON or YAML") from None


def is_form(document: object) -> bool:
    """True when a parsed document declares itself a b12ms patient form."""
    return isinstance(document, dict) and FORM_MARKER in document


@functools.cache
def form_schema() -> dict[str, Any]:
    """The patient form's JSON Schema (draft 2020-12), as shipped in the package."""
    text = resources.files("b12ms").joinpath("schemas/patient-form.schema.json").read_text("utf-8")
    return cast(dict[str, Any], json.loads(text))


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(form_schema())


# --------------------------------------------------------------------------------------------
# Validation messages: one line, the field path first, never the value


def _path(parts: Sequence[str | int]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


_TYPE_WORDS = {
    "string": "text",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping of fields",
    "null": "null",
}


def _describe(error: ValidationError) -> tuple[str, str]:
    """(field path, problem) of one schema error."""
    path = list(error.absolute_path)
    kind = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    instance = cast(Any, error.instance)
    if kind == "required":
        missing = [k for k in cast(list[str], error.validator_value) if k not in instance]
        return _path([*path, missing[0]]), "missing (required)"
    if kind == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(str(k) for k in instance if k not in allowed)
        return _path([*path, extra[0]]), "unknown field (allowed: " + ", ".join(allowed) + ")"
    if kind == "dependentRequired":
        for given, needed in cast(dict[str, list[str]], error.validator_value).items():
            for k in needed:
                if given in instance and k not in instance:
                    return _path([*path, k]), f"required when {given} is given"
    if kind == "oneOf" and path and path[0] == "labs":
        return _path(path), "give either value (with unit) or result, not both"
    if kind == "not" and not path:
        return "birth_date", "give birth_date or age, not both"
    if kind == "const":
        return _path(path), f"must be {json.dumps(error.validator_value)}"
    if kind == "enum":
        options = ", ".join(str(v) for v in cast(list[Any], error.validator_value))
        return _path(path), f"must be one of: {options}"
    if kind in ("type", "pattern", "minimum", "maximum", "anyOf") and _is_date(schema):
        return _path(path), "must be a date written YYYY-MM-DD (or YYYY-MM, or YYYY)"
    if kind == "type":
        declared = cast(str | list[str], error.validator_value)
        types = [declared] if isinstance(declared, str) else declared
        if types == ["string", "object"]:
            return _path(path), "must be a name or a mapping of fields"
        return _path(path), "must be " + " or ".join(_TYPE_WORDS.get(t, t) for t in types)
    if kind in ("pattern", "minLength"):
        return _path(path), "must not be empty"
    if kind == "minimum":
        return _path(path), f"must be at least {error.validator_value}"
    if kind == "maximum":
        return _path(path), f"must be at most {error.validator_value}"
    if kind == "minProperties":
        return _path(path), "give low, high or both"
    return _path(path), f"does not match the patient form schema ({kind})"


def _is_date(schema: Mapping[str, Any]) -> bool:
    """Whether a (sub)schema is the form's date, or optional date."""
    return "YYYY" in str(schema.get("description", ""))


def _sort_key(error: ValidationError) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, p) if isinstance(p, int) else (1, p) for p in error.absolute_path)


def validate_form(document: Any, *, name: str = "form") -> None:
    """Check a parsed form against the schema; FormError naming the first bad field."""
    errors = sorted(_validator().iter_errors(document), key=_sort_key)
    if not errors:
        return
    path, problem = _describe(errors[0])
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    raise FormError(f"{name}: {path or 'form'}: {problem}{more if len(errors) > 1 else ''}")


# --------------------------------------------------------------------------------------------
# Form to record


def record_from_form(
    document: Any, *, name: str = "form", today: dt.date | None = None
) -> PatientRecord:
    """Validate a parsed patient form and turn it into a PatientRecord.

    `today` decides whether a medicine with an end date is still active (default: today).
    Raises FormError, with a one-line message naming the field, when the form is invalid.
    """
    validate_form(document, name=name)
    today = today or dt.date.today()
    form = cast(dict[str, Any], document)

    def date(value: str | int | None, path: str) -> dt.date | None:
        if value is None:
            return None
        parts = str(value).split("-")
        try:
            return dt.date(
                int(parts[0]),
                int(parts[1]) if len(parts) > 1 else 1,
                int(parts[2]) if len(parts) > 2 else 1,
            )
        except ValueError:
            raise FormError(f"{name}: {path}: {value} is not a real calendar date") from None

    form_id = form.get("id")
    patient = Patient(
        id=None if form_id is None else str(form_id),
        birth_date=date(form.get("birth_date"), "birth_date"),
        age_years=form.get("age"),
        sex=form.get("sex"),
    )

    observations = [_lab(lab, i, name, date) for i, lab in enumerate(form.get("labs", ()))]
    if (diet := form.get("diet")) is not None:
        observations.append(_social("Form/diet", DIET, diet))
    for i, substance in enumerate(form.get("substances", ())):
        observations.append(_social(f"Form/substances/{i}", SUBSTANCE_USE, substance))

    conditions = [
        Condition(ref=f"Form/symptoms/{i}", code=Concept((), s.strip()), clinical_status="active")
        for i, s in enumerate(form.get("symptoms", ()))
    ]
    for i, item in enumerate(form.get("conditions", ())):
        item = _item(item)
        conditions.append(
            Condition(
                ref=f"Form/conditions/{i}",
                code=_concept(item),
                clinical_status=item.get("status", "active"),
                onset=date(item.get("onset"), f"conditions[{i}].onset"),
            )
        )
    if form.get("pregnant") is True:
        conditions.append(Condition(ref="Form/pregnant", code=PREGNANCY, clinical_status="active"))
    for i, relative in enumerate(form.get("family_history", ())):
        text = f"Family history of {relative.strip()}"
        conditions.append(Condition(ref=f"Form/family_history/{i}", code=Concept((), text)))

    medications = []
    for i, item in enumerate(form.get("medicines", ())):
        item = _item(item)
        end = date(item.get("end"), f"medicines[{i}].end")
        medications.append(
            Medication(
                ref=f"Form/medicines/{i}",
                medication=_concept(item),
                status="completed" if end is not None and end < today else "active",
                start=date(item.get("start"), f"medicines[{i}].start"),
                end=end,
            )
        )

    procedures = []
    for i, item in enumerate(form.get("procedures", ())):
        item = _item(item)
        procedures.append(
            Procedure(
                ref=f"Form/procedures/{i}",
                code=_concept(item),
                status="completed",
                performed=date(item.get("date"), f"procedures[{i}].date"),
            )
        )

    return PatientRecord(
        patient=patient,
        observations=tuple(observations),
        conditions=tuple(conditions),
        medications=tuple(medications),
        procedures=tuple(procedures),
    )


def _item(item: str | dict[str, Any]) -> dict[str, Any]:
    """A list item written as a bare name, as its {name: ...} mapping."""
    return {"name": item} if isinstance(item, str) else item


def _concept(item: Mapping[str, Any]) -> Concept:
    """The concept of a named item, with its code when one is given."""
    code = item.get("code")
    codings = (Coding(item["system"], str(code), None),) if code is not None else ()
    return Concept(codings, item["name"].strip())


def _social(ref: str, code: Concept, text: str) -> Observation:
    """A social-history Observation holding free text."""
    return Observation(
        ref=ref,
        code=code,
        status="final",
        effective=None,
        value_text=text.strip(),
        category=("social-history",),
    )


DateReader = Callable[[str | int | None, str], dt.date | None]


def _lab(lab: Mapping[str, Any], i: int, name: str, date: DateReader) -> Observation:
    """One `labs` entry as a laboratory Observation."""
    test = lab["test"]
    label = LAB_LABELS[test]
    unit = lab.get("unit")

    def number(value: Any, path: str) -> float | None:
        if value is None:
            return None
        if not math.isfinite(value):
            raise FormError(f"{name}: labs[{i}].{path}: must be a finite number")
        return float(value)

    value = number(lab.get("value"), "value")
    bounds = lab.get("reference_range", {})
    low = number(bounds.get("low"), "reference_range.low")
    high = number(bounds.get("high"), "reference_range.high")
    result = lab.get("result")
    coding, interpretation = _RESULTS[result] if result else (None, None)
    comparator = cast(Comparator | None, lab.get("comparator"))
    return Observation(
        ref=f"Form/labs/{i}",
        code=Concept((Coding(FORM_LAB_SYSTEM, test, label),), label),
        status="final",
        effective=date(lab["date"], f"labs[{i}].date"),
        quantity=None if value is None else Quantity(value, unit, comparator),
        value_concept=None if coding is None else Concept((coding,), result),
        value_text=result,
        reference_low=None if low is None else Quantity(low, unit),
        reference_high=None if high is None else Quantity(high, unit),
        interpretation=() if interpretation is None else (interpretation,),
        category=("laboratory",),
    )
