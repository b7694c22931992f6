"""Tests of b12ms.fhir.extract: FHIR R4 resource dicts to one PatientRecord."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from b12ms.errors import InputError
from b12ms.fhir import parse_fhir_date, record_from_resources
from b12ms.model import Coding, Concept, Patient, Quantity, Skipped
from fhir_builders import (
    PID,
    RXNORM,
    SNOMED,
    cc,
    condition,
    medication_request,
    medication_statement,
    observation,
    patient,
    procedure,
    qty,
    status_cc,
)

D = dt.date


def _one(resource):
    """The record of a Patient plus one resource."""
    return record_from_resources([patient(), resource])


def _skip(resource) -> Skipped:
    """The single Skipped entry a Patient plus `resource` produce (and nothing kept)."""
    record = _one(resource)
    assert record.observations == record.conditions == record.medications == ()
    assert record.procedures == ()
    assert len(record.skipped) == 1, record.skipped
    return record.skipped[0]


# --------------------------------------------------------------------------------------------
# Dates


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020", D(2020, 1, 1)),
        ("2020-05", D(2020, 5, 1)),
        ("2020-05-03", D(2020, 5, 3)),
        ("2020-05-03T10:00:00-04:00", D(2020, 5, 3)),
        ("2020-05-03T23:30:00-10:00", D(2020, 5, 3)),  # 09:30 UTC next day: never shifted
        ("2020-05-03T00:30:00+14:00", D(2020, 5, 3)),
        ("2020-05-03T10:00:00Z", D(2020, 5, 3)),
        ("2020-05-03T10:00:00.123456789+01:00", D(2020, 5, 3)),
        ("2016-12-31T23:59:60Z", D(2016, 12, 31)),  # leap second
        ("2020-05-03T10:00:00", D(2020, 5, 3)),  # no zone: tolerated
    ],
)
def test_fhir_dates_give_the_date_part_as_written(text, expected):
    """FHIR date/dateTime strings give the date as written; partial dates the period's start."""
    assert parse_fhir_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "20",
        "2020-13",
        "2020-02-30",
        "2020-5-3",
        "20200503",
        "2020/05/03",
        "2020-05-03 10:00:00",
        "2020-05-03T10:00",
        "2020-05-03T25:00:00Z",
        "2020-05-03T10:00:00Q",
        "2020-05-03Tgarbage!!!",
        "0000-01-01",
        "٢٠٢٠-05-03",
        "yesterday",
        20200503,
        None,
    ],
)
def test_invalid_fhir_dates_raise_value_error(text):
    """Strings that are not FHIR dates (and non-strings) raise ValueError."""
    with pytest.raises(ValueError):
        parse_fhir_date(text)


_offsets = st.one_of(
    st.just(""),
    st.just("Z"),
    st.builds(
        lambda sign, h, m: f"{sign}{h:02d}:{m:02d}",
        st.sampled_from("+-"),
        st.integers(0, 13),
        st.integers(0, 59),
    ),
)


@given(
    day=st.dates(min_value=D(1, 1, 1), max_value=D(9999, 12, 31)),
    time=st.times(),
    offset=_offsets,
    fraction=st.booleans(),
)
def test_property_datetime_gives_its_own_date_part(day, time, offset, fraction):
    """Any valid FHIR dateTime, in any zone, parses to exactly the date written before the T."""
    clock = time.strftime("%H:%M:%S") + (f".{time.microsecond:06d}" if fraction else "")
    text = f"{day.year:04d}-{day.month:02d}-{day.day:02d}T{clock}{offset}"
    assert parse_fhir_date(text) == day


@given(day=st.dates(min_value=D(1, 1, 1), max_value=D(9999, 12, 31)))
def test_property_partial_dates_give_the_start_of_the_period(day):
    """YYYY, YYYY-MM and YYYY-MM-DD give the first day of the year, month, or the day."""
    y, m = f"{day.year:04d}", f"{day.month:02d}"
    assert parse_fhir_date(y) == D(day.year, 1, 1)
    assert parse_fhir_date(f"{y}-{m}") == D(day.year, day.month, 1)
    assert parse_fhir_date(f"{y}-{m}-{day.day:02d}") == day


@given(st.text(max_size=40))
def test_property_any_text_parses_or_raises_value_error(text):
    """Arbitrary text either parses to a date matching its first ten characters, or ValueError."""
    try:
        parsed = parse_fhir_date(text)
    except ValueError:
        return
    assert text.startswith(f"{parsed.year:04d}") or len(text) < 10


def test_invalid_date_skips_the_resource_naming_element_and_value():
    """An invalid date in a clinical resource skips it, naming the element and the value."""
    skip = _skip(observation(effectiveDateTime="2020-02-30"))
    assert skip == Skipped("Observation/o1", "invalid date '2020-02-30' in effectiveDateTime")


def test_invalid_date_that_is_not_a_string_is_not_quoted():
    """A non-string date skips the resource without dumping the value."""
    skip = _skip(condition(onsetDateTime={"big": "x" * 100}))
    assert skip == Skipped("Condition/c1", "invalid date value in onsetDateTime")


# --------------------------------------------------------------------------------------------
# Patient


def test_patient_fields():
    """Patient id, birthDate, gender and deceasedDateTime are read."""
    record = record_from_resources(
        [
            patient(
                birthDate="1974-03-02",
                gender="female",
                deceasedDateTime="2026-01-02T03:00:00+01:00",
            )
        ]
    )
    assert record.patient == Patient(
        id=PID,
        birth_date=D(1974, 3, 2),
        sex="female",
        deceased=True,
        deceased_date=D(2026, 1, 2),
    )
    assert record.skipped == ()


def test_patient_deceased_boolean():
    """deceasedBoolean true marks the patient deceased, without a date."""
    record = record_from_resources([patient(deceasedBoolean=True)])
    assert record.patient.deceased is True
    assert record.patient.deceased_date is None
    assert record_from_resources([patient(deceasedBoolean=False)]).patient.deceased is False


def test_patient_bad_birth_date_is_reported_and_patient_kept():
    """An invalid birthDate is dropped and reported; the patient and their data are kept."""
    record = record_from_resources([patient(birthDate="1974-02-30"), observation()])
    assert record.patient.id == PID and record.patient.birth_date is None
    assert record.skipped == (
        Skipped("Patient/p1", "invalid date '1974-02-30' in birthDate: birth date not used"),
    )
    assert len(record.observations) == 1


def test_no_resources_gives_an_empty_record():
    """No resources at all give an empty record with an unknown patient."""
    record = record_from_resources([])
    assert record.patient == Patient()
    assert record.observations == record.skipped == ()


def test_several_patients_raise_one_line_input_error():
    """More than one distinct Patient id raises InputError saying how many and naming screen."""
    with pytest.raises(InputError) as info:
        record_from_resources([patient("a"), patient("b"), patient("c")], source="pop.ndjson")
    message = str(info.value)
    assert message.startswith("pop.ndjson: 3 patients")
    assert "b12ms screen" in message
    assert "\n" not in message


def test_same_patient_twice_is_one_patient():
    """The same Patient id appearing twice is still one patient."""
    record = record_from_resources([patient(), patient(), observation()])
    assert record.patient.id == PID and len(record.observations) == 1


def test_no_patient_resource_takes_the_id_from_references():
    """Without a Patient resource, the one patient the resources reference is the patient."""
    record = record_from_resources([observation(), condition()])
    assert record.patient == Patient(id=PID)
    assert len(record.observations) == len(record.conditions) == 1


def test_no_patient_resource_and_two_referenced_patients_raise():
    """Without a Patient resource, references to two patients raise InputError."""
    with pytest.raises(InputError, match="2 patients referenced"):
        record_from_resources([observation(subject="a"), condition(subject="b")])


@pytest.mark.parametrize(
    "reference",
    [
        "Patient/other",
        "urn:uuid:other",
        "https://fhir.example.org/r4/Patient/other/_history/2",
    ],
)
def test_resource_of_another_patient_is_skipped(reference):
    """A resource whose subject references a different Patient is skipped as another's."""
    resource = observation() | {"subject": {"reference": reference}}
    skip = _skip(resource)
    assert skip == Skipped("Observation/o1", "belongs to another patient")


@pytest.mark.parametrize(
    "reference",
    ["Patient/p1", "urn:uuid:p1", "https://fhir.example.org/r4/Patient/p1/_history/2"],
)
def test_resource_of_this_patient_is_kept(reference):
    """Every spelling of a reference to the input's own Patient keeps the resource."""
    record = _one(observation() | {"subject": {"reference": reference}})
    assert len(record.observations) == 1 and record.skipped == ()


def test_patient_element_is_checked_like_subject():
    """A `patient` reference (instead of `subject`) to another patient also skips."""
    skip = _skip(observation(subject=None, patient={"reference": "Patient/zz"}))
    assert skip.reason == "belongs to another patient"


# --------------------------------------------------------------------------------------------
# Observation


def test_observation_full_mapping():
    """Every Observation element the model knows is read as specified."""
    code = {
        "coding": [
            {"system": "http://loinc.org", "code": "2132-9", "display": "Cobalamin"},
            {"system": "http://example.org/local", "code": "B12"},
        ],
        "text": "Vitamin B12",
    }
    record = _one(
        observation(
            code=code,
            status="amended",
            effectiveDateTime="2026-09-14T23:10:00-04:00",
            valueQuantity=qty(210, "ng/L"),
            referenceRange=[
                {"low": qty(180, "ng/L"), "high": qty(900, "ng/L"), "text": "180-900"},
                {"low": qty(1, "ng/L")},
            ],
            interpretation=[{"coding": [{"code": "L"}, {"code": "LL"}]}],
            category=[{"coding": [{"code": "laboratory"}]}],
        )
    )
    (obs,) = record.observations
    assert obs.ref == "Observation/o1"
    assert obs.code == Concept(
        (
            Coding("http://loinc.org", "2132-9", "Cobalamin"),
            Coding("http://example.org/local", "B12", None),
        ),
        "Vitamin B12",
    )
    assert obs.status == "amended"
    assert obs.effective == D(2026, 9, 14)
    assert obs.quantity == Quantity(210.0, "ng/L")
    assert obs.reference_low == Quantity(180.0, "ng/L")
    assert obs.reference_high == Quantity(900.0, "ng/L")
    assert obs.reference_text == "180-900"
    assert obs.interpretation == ("L", "LL")
    assert obs.category == ("laboratory",)
    assert record.skipped == ()


def test_observation_without_id_is_named_by_position():
    """An Observation without id gets the ref "Observation#<n>", n its 1-based position."""
    record = record_from_resources([patient(), observation(None), observation(None)])
    assert [o.ref for o in record.observations] == ["Observation#2", "Observation#3"]


@pytest.mark.parametrize("status", ["final", "amended", "corrected"])
def test_observation_final_statuses_are_used(status):
    """Observations with status final, amended or corrected are kept."""
    assert len(_one(observation(status=status)).observations) == 1


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("entered-in-error", "entered in error"),
        ("cancelled", "status 'cancelled' is not a final result"),
        ("preliminary", "status 'preliminary' is not a final result"),
        ("registered", "status 'registered' is not a final result"),
        ("unknown", "status 'unknown' is not a final result"),
        (None, "no status, so not a final result"),
    ],
)
def test_observation_non_final_statuses_are_skipped(status, reason):
    """Observations of any other status, or none, are skipped with the status named."""
    resource = observation(status=status)
    if status is None:
        del resource["status"]
    assert _skip(resource) == Skipped("Observation/o1", reason)


@pytest.mark.parametrize("code", [None, {}, {"coding": []}, {"coding": [], "text": ""}])
def test_observation_without_code_is_skipped(code):
    """An Observation with no code (or an empty one) is skipped."""
    resource = observation(code=code)
    if code is None:
        del resource["code"]
    assert _skip(resource) == Skipped("Observation/o1", "no code")


def test_observation_code_text_only_is_a_code():
    """A CodeableConcept with only text is a usable code."""
    (obs,) = _one(observation(code={"text": "B12"})).observations
    assert obs.code == Concept((), "B12")


@pytest.mark.parametrize(
    ("elements", "expected"),
    [
        (
            {
                "effectiveDateTime": "2020-01-01",
                "effectivePeriod": {"start": "2020-02-02"},
                "issued": "2020-03-03T00:00:00Z",
            },
            D(2020, 1, 1),
        ),
        ({"effectivePeriod": {"start": "2020-02-02"}, "issued": "2020-03-03"}, D(2020, 2, 2)),
        ({"effectivePeriod": {"end": "2020-02-02"}, "issued": "2020-03-03"}, D(2020, 3, 3)),
        ({"effectiveInstant": "2020-04-04T10:00:00Z", "issued": "2020-03-03"}, D(2020, 4, 4)),
        ({"issued": "2020-03-03T10:00:00.000+02:00"}, D(2020, 3, 3)),
        ({}, None),
    ],
)
def test_observation_effective_order(elements, expected):
    """effective: effectiveDateTime, else effectivePeriod.start, effectiveInstant, issued."""
    (obs,) = _one(observation(**elements)).observations
    assert obs.effective == expected


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ({"value": 150, "unit": "pmol/l", "system": "http://unitsofmeasure.org", "code": "pmol/L"},
         Quantity(150.0, "pmol/L")),
        ({"value": 150, "unit": "picomol per litre", "system": "http://local", "code": "PMOL"},
         Quantity(150.0, "picomol per litre")),
        ({"value": 150, "system": "http://local", "code": "PMOL"}, Quantity(150.0, "PMOL")),
        ({"value": 150}, Quantity(150.0, None)),
        ({"value": 1.5e2, "unit": "ng/L", "comparator": "<"}, Quantity(150.0, "ng/L", "<")),
        ({"value": 150, "unit": "ng/L", "comparator": ">="}, Quantity(150.0, "ng/L", ">=")),
    ],
)  # fmt: skip
def test_observation_value_quantity_and_unit_choice(quantity, expected):
    """The unit is the UCUM code under the UCUM system, else unit, else code; comparator kept."""
    (obs,) = _one(observation(valueQuantity=quantity)).observations
    assert obs.quantity == expected


def test_observation_units_and_negative_values_are_not_judged():
    """Unknown units and negative values are kept as written: the engine judges them."""
    (obs,) = _one(observation(valueQuantity=qty(-3, "furlongs", ucum=False))).observations
    assert obs.quantity == Quantity(-3.0, "furlongs")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("210", "valueQuantity.value is not a number"),
        (True, "valueQuantity.value is not a number"),
        ([210], "valueQuantity.value is not a number"),
        (float("nan"), "valueQuantity.value is not a finite number"),
        (float("inf"), "valueQuantity.value is not a finite number"),
        (float("-inf"), "valueQuantity.value is not a finite number"),
    ],
)
def test_observation_value_that_is_not_a_number_is_skipped(value, reason):
    """A valueQuantity value that is a string, bool, NaN or infinite skips the Observation."""
    assert _skip(observation(valueQuantity={"value": value, "unit": "ng/L"})).reason == reason


def test_observation_value_quantity_without_value_is_skipped():
    """A valueQuantity with a unit but no value skips the Observation."""
    skip = _skip(observation(valueQuantity={"unit": "ng/L"}))
    assert skip.reason == "valueQuantity has no value"


def test_observation_unknown_comparator_is_skipped():
    """A comparator outside <, <=, >=, > skips the Observation."""
    skip = _skip(observation(valueQuantity=qty(5, comparator="~")))
    assert skip.reason == "valueQuantity.comparator is not one of <, <=, >=, >"


def test_observation_bad_reference_range_bound_is_skipped():
    """A reference range bound whose value is not a number skips the Observation."""
    resource = observation(valueQuantity=qty(5), referenceRange=[{"high": {"value": "x"}}])
    assert _skip(resource).reason == "referenceRange.high.value is not a number"


def test_observation_coded_string_and_boolean_values():
    """valueCodeableConcept, valueString and valueBoolean are read into their fields."""
    positive = cc("10828004", SNOMED, "Positive")
    record = _one(observation(valueCodeableConcept=positive))
    assert record.observations[0].value_concept == Concept(
        (Coding(SNOMED, "10828004", "Positive"),)
    )
    assert _one(observation(valueString="vegan")).observations[0].value_text == "vegan"
    assert _one(observation(valueBoolean=False)).observations[0].value_boolean is False


def test_observation_value_boolean_not_a_boolean_is_skipped():
    """A valueBoolean that is not true or false skips the Observation."""
    assert _skip(observation(valueBoolean="yes")).reason == "valueBoolean is not true or false"


def test_observation_components_and_members_are_ignored():
    """component and hasMember are ignored: a panel keeps only its own code and value."""
    resource = observation(
        code=cc("85354-9", display="Blood pressure panel"),
        component=[{"code": cc("8480-6"), "valueQuantity": qty(120, "mm[Hg]")}],
        hasMember=[{"reference": "Observation/x"}],
    )
    (obs,) = _one(resource).observations
    assert obs.quantity is None
    assert obs.code.codings[0].code == "85354-9"


# --------------------------------------------------------------------------------------------
# Condition


def test_condition_full_mapping():
    """A Condition's code, statuses, onset, abatement and recorded date are read."""
    record = _one(
        condition(
            clinicalStatus=status_cc("resolved"),
            verificationStatus=status_cc("confirmed"),
            onsetDateTime="2003-07-18T12:19:32-04:00",
            abatementDateTime="2006-07-21",
            recordedDate="2003-07-19",
        )
    )
    (c,) = record.conditions
    assert c.ref == "Condition/c1"
    assert c.code == Concept((Coding(SNOMED, "24700007", "Multiple sclerosis"),))
    assert (c.clinical_status, c.verification_status) == ("resolved", "confirmed")
    assert (c.onset, c.abatement, c.recorded) == (D(2003, 7, 18), D(2006, 7, 21), D(2003, 7, 19))


@pytest.mark.parametrize(
    ("elements", "onset", "abatement"),
    [
        ({"onsetPeriod": {"start": "2001"}}, D(2001, 1, 1), None),
        ({"onsetString": "in childhood"}, None, None),
        ({"abatementPeriod": {"start": "2002-02", "end": "2003-03"}}, None, D(2003, 3, 1)),
        ({"abatementPeriod": {"start": "2002-02"}}, None, D(2002, 2, 1)),
    ],
)
def test_condition_onset_and_abatement_choices(elements, onset, abatement):
    """onsetPeriod.start, abatementPeriod.end (else .start) are used; onsetString is ignored."""
    (c,) = _one(condition(**elements)).conditions
    assert (c.onset, c.abatement) == (onset, abatement)


@pytest.mark.parametrize(
    ("verification", "reason"),
    [("entered-in-error", "entered in error"), ("refuted", "refuted")],
)
def test_condition_entered_in_error_or_refuted_is_skipped(verification, reason):
    """Conditions verified as entered-in-error or refuted are skipped."""
    skip = _skip(condition(verificationStatus=status_cc(verification)))
    assert skip == Skipped("Condition/c1", reason)


@pytest.mark.parametrize("verification", ["unconfirmed", "provisional", "differential"])
def test_condition_uncertain_verification_is_kept(verification):
    """Unconfirmed, provisional and differential Conditions are kept, with their status."""
    (c,) = _one(condition(verificationStatus=status_cc(verification))).conditions
    assert c.verification_status == verification


def test_condition_without_code_is_skipped():
    """A Condition with no code is skipped."""
    resource = condition()
    del resource["code"]
    assert _skip(resource) == Skipped("Condition/c1", "no code")


# --------------------------------------------------------------------------------------------
# MedicationRequest and MedicationStatement


def test_medication_request_mapping():
    """A MedicationRequest's medicine, status and validity period are read."""
    period = {"validityPeriod": {"start": "2024-01-01", "end": "2024-06-30"}}
    record = _one(medication_request(authoredOn="2023-12-20", dispenseRequest=period))
    (m,) = record.medications
    assert m.ref == "MedicationRequest/m1"
    assert m.medication == Concept((Coding(RXNORM, "860975", "Metformin 500 MG"),))
    assert (m.status, m.start, m.end) == ("active", D(2024, 1, 1), D(2024, 6, 30))


def test_medication_request_start_falls_back_to_authored_on():
    """Without a validity period start, the start is authoredOn."""
    (m,) = _one(medication_request(authoredOn="1971-06-12T23:58:16-04:00")).medications
    assert (m.start, m.end) == (D(1971, 6, 12), None)


def test_medication_reference_to_contained_medication():
    """A medicationReference "#id" uses the contained Medication's code."""
    resource = medication_request(
        medicationReference={"reference": "#med", "display": "ignored"},
        contained=[{"resourceType": "Medication", "id": "med", "code": cc("6809", RXNORM)}],
    )
    (m,) = _one(resource).medications
    assert m.medication == Concept((Coding(RXNORM, "6809"),))


def test_medication_reference_to_medication_in_the_input():
    """A medicationReference to a Medication resource in the input uses its code, wherever it is."""
    medication = {"resourceType": "Medication", "id": "med1", "code": cc("7646", RXNORM)}
    statement = medication_statement(medicationReference={"reference": "Medication/med1"})
    record = record_from_resources([patient(), statement, medication])
    assert record.medications[0].medication == Concept((Coding(RXNORM, "7646"),))
    assert record.skipped == ()


def test_medication_reference_elsewhere_uses_its_display():
    """A medicationReference that cannot be resolved uses its display as the concept text."""
    resource = medication_request(
        medicationReference={"reference": "Medication/absent", "display": "Metformin 500mg"}
    )
    (m,) = _one(resource).medications
    assert m.medication == Concept((), "Metformin 500mg")


def test_medication_without_any_medicine_is_skipped():
    """A medicine request naming no medicine at all is skipped."""
    resource = medication_request()
    del resource["medicationCodeableConcept"]
    assert _skip(resource) == Skipped("MedicationRequest/m1", "no medication")
    resource = medication_request(medicationReference={"reference": "Medication/absent"})
    assert _skip(resource).reason == "no medication code or name"


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("entered-in-error", "entered in error"),
        ("cancelled", "status 'cancelled': withdrawn before any dose was given"),
        ("draft", "status 'draft': not yet issued"),
    ],
)
def test_medication_request_skipped_statuses(status, reason):
    """MedicationRequests entered in error, cancelled or draft are skipped."""
    assert _skip(medication_request(status=status)) == Skipped("MedicationRequest/m1", reason)


@pytest.mark.parametrize("status", ["active", "on-hold", "completed", "stopped", "unknown"])
def test_medication_request_other_statuses_are_kept(status):
    """Other MedicationRequest statuses (stopped metformin still counts) are kept as written."""
    assert _one(medication_request(status=status)).medications[0].status == status


@pytest.mark.parametrize(
    ("elements", "start", "end"),
    [
        (
            {"effectivePeriod": {"start": "2020-01-01", "end": "2021"}, "dateAsserted": "2022"},
            D(2020, 1, 1),
            D(2021, 1, 1),
        ),
        ({"effectiveDateTime": "2019-05-05", "dateAsserted": "2022"}, D(2019, 5, 5), None),
        ({"dateAsserted": "2022-02-02T10:00:00Z"}, D(2022, 2, 2), None),
        (
            {"effectivePeriod": {"end": "2021"}, "dateAsserted": "2022"},
            D(2022, 1, 1),
            D(2021, 1, 1),
        ),
    ],
)
def test_medication_statement_dates(elements, start, end):
    """MedicationStatement start: effectivePeriod.start, effectiveDateTime, dateAsserted."""
    (m,) = _one(medication_statement(**elements)).medications
    assert (m.ref, m.start, m.end) == ("MedicationStatement/s1", start, end)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("entered-in-error", "entered in error"),
        ("not-taken", "status 'not-taken': the medicine was not taken"),
    ],
)
def test_medication_statement_skipped_statuses(status, reason):
    """MedicationStatements entered in error or not taken are skipped."""
    assert _skip(medication_statement(status=status)) == Skipped("MedicationStatement/s1", reason)


# --------------------------------------------------------------------------------------------
# Procedure


def test_procedure_mapping():
    """A Procedure's code, status and performed date (dateTime or period start) are read."""
    (p,) = _one(procedure(performedDateTime="2019-06-01T08:00:00+01:00")).procedures
    assert (p.ref, p.status, p.performed) == ("Procedure/pr1", "completed", D(2019, 6, 1))
    assert p.code.codings[0].code == "445211000124108"
    period = {"start": "2018-05-18T11:46:59-04:00", "end": "2018-05-19"}
    assert _one(procedure(performedPeriod=period)).procedures[0].performed == D(2018, 5, 18)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("entered-in-error", "entered in error"),
        ("not-done", "status 'not-done': the procedure was not done"),
    ],
)
def test_procedure_skipped_statuses(status, reason):
    """Procedures entered in error or not done are skipped."""
    assert _skip(procedure(status=status)) == Skipped("Procedure/pr1", reason)


def test_procedure_without_code_is_skipped():
    """A Procedure with no code is skipped."""
    resource = procedure()
    del resource["code"]
    assert _skip(resource) == Skipped("Procedure/pr1", "no code")


# --------------------------------------------------------------------------------------------
# Everything else


def test_other_resource_types_are_ignored_silently():
    """Encounter, DocumentReference, Medication and others are neither kept nor skipped."""
    record = record_from_resources(
        [
            patient(),
            {"resourceType": "Encounter", "id": "e"},
            {"resourceType": "DocumentReference", "id": "d", "subject": {"reference": "Patient/x"}},
            {"resourceType": "Medication", "id": "m"},
            {"resourceType": "Immunization", "id": "i"},
        ]
    )
    assert record.observations == record.conditions == record.medications == ()
    assert record.skipped == ()


def test_structural_junk_among_resources_is_skipped_by_position():
    """A resource that is not an object, or has no resourceType, is skipped by position."""
    record = record_from_resources([patient(), "junk", {"id": "x"}, observation()])  # type: ignore[list-item]
    assert record.skipped == (
        Skipped("resource 2", "not a JSON object"),
        Skipped("resource 3", "no resourceType"),
    )
    assert len(record.observations) == 1


@pytest.mark.parametrize(
    "resource",
    [
        observation(code="B12"),
        observation(code={"coding": ["2132-9"]}),
        observation(referenceRange={"low": 1}),
        observation(interpretation="H"),
        condition(clinicalStatus=["active"]),
        medication_request(dispenseRequest=["x"]),
        procedure(performedPeriod="2019"),
    ],
)
def test_malformed_resources_are_skipped_not_crashed_on(resource):
    """Elements of the wrong JSON type skip the resource as malformed, never a traceback."""
    skip = _skip(resource)
    assert skip.reason.startswith(f"malformed {resource['resourceType']}")


def test_reader_skips_come_first():
    """Entries the reader already skipped come first in the record's skipped list."""
    earlier = Skipped("line 3", "not valid JSON")
    record = record_from_resources(
        [patient(), observation(status="preliminary")], skipped=[earlier]
    )
    assert record.skipped[0] == earlier
    assert record.skipped[1].resource == "Observation/o1"


def test_resources_can_be_a_generator():
    """Any iterable of resources works, including a one-shot generator."""
    record = record_from_resources(r for r in [observation(), patient()])
    assert record.patient.id == PID and len(record.observations) == 1


# --------------------------------------------------------------------------------------------
# Real data: the synthea-10 Bulk export

SYNTHEA = Path("/work/shared/data/synthea-10")


def _synthea_patient(pid: str) -> list[dict]:
    """One patient's Patient, Condition, MedicationRequest and Procedure resources."""
    out = []
    for kind in ("Patient", "Condition", "MedicationRequest", "Procedure"):
        for line in (SYNTHEA / f"{kind}.000.ndjson").read_text().splitlines():
            resource = json.loads(line)
            owner = resource.get("subject", {}).get("reference")
            if resource.get("id") == pid or owner == f"Patient/{pid}":
                out.append(resource)
    return out


@pytest.mark.skipif(not SYNTHEA.is_dir(), reason="synthea-10 sample not present")
def test_synthea_patient_with_metformin():
    """A real Synthea patient's metformin 860975 prescriptions are read with their dates."""
    pid = "79a66c97-6131-3213-f3c9-4606946ab056"
    record = record_from_resources(_synthea_patient(pid))
    assert record.patient.id == pid
    assert record.skipped == ()
    metformin = [
        m for m in record.medications if any(c.code == "860975" for c in m.medication.codings)
    ]
    assert len(metformin) == 192
    ref = "MedicationRequest/01541952-c893-5155-4709-f4043df30056"
    first = next(m for m in metformin if m.ref == ref)
    assert (first.status, first.start, first.end) == ("stopped", D(1971, 6, 12), None)
    assert first.medication.text.startswith("24 HR Metformin hydrochloride 500 MG Extended")


@pytest.mark.skipif(not SYNTHEA.is_dir(), reason="synthea-10 sample not present")
def test_synthea_patient_7bc002fa_is_read_whole():
    """Patient 7bc002fa's conditions, prescriptions and procedures are all read, none skipped."""
    pid = "7bc002fa-dc52-17d6-1563-fd8901826f7d"
    record = record_from_resources(_synthea_patient(pid))
    assert record.patient.birth_date == D(1978, 5, 12) and record.patient.sex == "female"
    assert (len(record.conditions), len(record.medications), len(record.procedures)) == (23, 9, 32)
    assert record.skipped == ()
    assert any(c.code == "314231" for m in record.medications for c in m.medication.codings)
    stress = next(c for c in record.conditions if c.code.text == "Stress (finding)")
    assert (stress.onset, stress.abatement) == (D(2003, 7, 18), D(2006, 7, 21))
