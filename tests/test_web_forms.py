"""The clinician web form: fields onto the patient-form document, messages, and the routes."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from b12ms import assess, load_knowledge
from b12ms.knowledge import Knowledge
from b12ms.web import forms
from b12ms.web.forms import form_document, form_page, record_from_fields
from b12ms.web.routes import MAX_UPLOAD_BYTES, router

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "ms-numbness-metformin.json"
AS_OF = "2026-11-01"


@pytest.fixture(scope="module")
def kb() -> Knowledge:
    """The shipped knowledge base."""
    return load_knowledge()


@contextlib.contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """A real uvicorn server on a free port of 127.0.0.1, serving the app; yields its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def app_with_router(prefix: str = "") -> FastAPI:
    """A tiny app that includes the web router (the service's app factory is not needed)."""
    app = FastAPI()
    app.include_router(router, prefix=prefix)
    return app


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    """An HTTP client for a live server with the router at the root."""
    with live_server(app_with_router()) as url, httpx.Client(base_url=url, timeout=30) as c:
        yield c


def _findings(kb: Knowledge, fields: dict[str, list[str]]) -> set[str]:
    record, outcome = record_from_fields(fields, kb)
    assert record is not None, outcome.errors
    return {f.id for f in assess(record, kb, as_of=outcome.as_of).findings}


def test_every_field_maps_onto_the_patient_form(kb: Knowledge) -> None:
    """Each field lands in the right place of the patient-form document."""
    fields = {
        "patient_id": ["pt-7"],
        "age": ["52"],
        "sex": ["female"],
        "pregnant": ["yes"],
        "as_of": [AS_OF],
        "symptom": ["symptom.numbness", "symptom.fatigue"],
        "symptoms_other": ["burning feet\n\n  brain fog "],
        "med_metformin": ["metformin"],
        "med_metformin_start": ["2014-01-15"],
        "med_ppi": ["omeprazole"],
        "medicines_other": ["sertraline"],
        "diet": ["vegan"],
        "nitrous_oxide": ["yes"],
        "condition": ["ms", "gastric_surgery", "family_history"],
        "conditions_other": ["asthma"],
        "b12_value": ["150"],
        "b12_unit": ["ng/L"],
        "b12_cmp": ["<"],
        "b12_date": ["2026-09-14"],
        "b12_low": ["180"],
        "b12_high": ["900"],
        "mma_value": ["520"],
        "mma_unit": ["nmol/L"],
        "mma_date": ["2026-09-14"],
        "haemoglobin_value": ["118"],
        "haemoglobin_unit": ["g/L"],
        "haemoglobin_date": ["2026-09-14"],
    }
    outcome = form_document(fields, kb)
    assert outcome.errors == {}
    assert outcome.as_of == dt.date(2026, 11, 1)
    assert outcome.document == {
        "b12ms_form": 1,
        "id": "pt-7",
        "age": 52,
        "sex": "female",
        "pregnant": True,
        "symptoms": ["Numbness", "Fatigue", "burning feet", "brain fog"],
        "medicines": [{"name": "metformin", "start": "2014-01-15"}, "omeprazole", "sertraline"],
        "diet": "vegan",
        "substances": ["nitrous oxide"],
        "conditions": ["multiple sclerosis", "asthma"],
        "procedures": ["gastrectomy or bariatric surgery"],
        "family_history": ["pernicious anaemia"],
        "labs": [
            {
                "test": "total_b12",
                "value": 150.0,
                "unit": "ng/L",
                "date": "2026-09-14",
                "comparator": "<",
                "reference_range": {"low": 180.0, "high": 900.0},
            },
            {"test": "mma", "value": 520.0, "unit": "nmol/L", "date": "2026-09-14"},
            {"test": "haemoglobin", "value": 118.0, "unit": "g/L", "date": "2026-09-14"},
        ],
    }
    found = _findings(kb, fields)
    for fid in (
        "risk.metformin",
        "risk.proton_pump_inhibitor",
        "risk.low_animal_source_diet",
        "risk.nitrous_oxide",
        "risk.gastric_or_bariatric_surgery",
        "risk.family_history",
        "ms.diagnosis",
        "symptom.numbness",
        "symptom.fatigue",
        "symptom.paraesthesia",  # "burning feet", written as free text
        "symptom.cognitive",  # "brain fog"
        "caveat.pregnancy",
        "flag.raised_mma",
    ):
        assert fid in found, fid


def test_date_of_birth_instead_of_age(kb: Knowledge) -> None:
    """A date of birth is passed on, and the age follows from it."""
    record, outcome = record_from_fields({"birth_date": ["1974-03-02"], "as_of": [AS_OF]}, kb)
    assert record is not None
    assert outcome.document is not None and outcome.document["birth_date"] == "1974-03-02"
    assert assess(record, kb, as_of=outcome.as_of).patient.age == 52


def test_every_symptom_checkbox_is_recognised(kb: Knowledge) -> None:
    """Each symptom the form offers is found by the engine as that symptom."""
    choices = forms.symptom_choices(kb)
    assert {sid for sid, _, _ in choices} == {s.id for s in kb.symptoms}
    for sid, _, _ in choices:
        assert sid in _findings(kb, {"symptom": [sid]}), sid


@pytest.mark.parametrize(
    ("group", "finding"),
    [
        ("metformin", "risk.metformin"),
        ("ppi", "risk.proton_pump_inhibitor"),
        ("h2ra", "risk.h2_receptor_antagonist"),
        ("s1p", "ms.s1p_modulator"),
        ("other", "risk.other_medicine"),
    ],
)
def test_every_medicine_checkbox_is_recognised(kb: Knowledge, group: str, finding: str) -> None:
    """Every medicine name offered in a group gives that group's finding."""
    g = next(g for g in forms.medicine_groups(kb) if g.key == group)
    assert g.names
    for name in g.names:
        assert finding in _findings(kb, {f"med_{group}": [name]}), name


def test_b12_replacement_checkbox_is_a_treatment(kb: Knowledge) -> None:
    """A B12 product ticked, with its start date, is read as a B12 treatment course."""
    g = next(g for g in forms.medicine_groups(kb) if g.key == "b12")
    for name in g.names:
        fields = {"med_b12": [name], "med_b12_start": ["2026-10-01"], "as_of": [AS_OF]}
        record, outcome = record_from_fields(fields, kb)
        assert record is not None
        a = assess(record, kb, as_of=outcome.as_of)
        assert [t.start for t in a.b12_treatments] == [dt.date(2026, 10, 1)], name


@pytest.mark.parametrize(
    ("key", "finding"),
    [
        ("ms", "ms.diagnosis"),
        ("pernicious_anaemia", "risk.autoimmune_gastritis"),
        ("coeliac", "risk.coeliac_disease"),
        ("crohns", "risk.ileal_disease_or_resection"),
        ("type1_diabetes", "risk.other_autoimmune"),
        ("thyroid", "risk.other_autoimmune"),
        ("gastric_surgery", "risk.gastric_or_bariatric_surgery"),
        ("ileal_resection", "risk.ileal_disease_or_resection"),
        ("radiotherapy", "risk.abdominal_or_pelvic_radiotherapy"),
        ("alcohol", "risk.alcohol"),
        ("family_history", "risk.family_history"),
    ],
)
def test_every_condition_checkbox_is_recognised(kb: Knowledge, key: str, finding: str) -> None:
    """Each condition, operation and family-history box gives its finding."""
    assert finding in _findings(kb, {"condition": [key]})


def test_every_lab_row_and_unit_is_accepted(kb: Knowledge) -> None:
    """Every results row, in every unit it offers, is read as a laboratory result."""
    for row in forms.LAB_ROWS:
        for unit in row.units:
            fields = {
                f"{row.key}_value": ["5"],
                f"{row.key}_unit": [unit],
                f"{row.key}_date": ["2026-09-01"],
                "as_of": [AS_OF],
            }
            record, outcome = record_from_fields(fields, kb)
            assert record is not None, (row.key, unit, outcome.errors)
            readings = assess(record, kb, as_of=outcome.as_of).readings
            assert [(r.test, r.unit) for r in readings] == [(row.test, unit)]


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"age": ["fifty"]}, "age", "whole number"),
        ({"age": ["131"]}, "age", "0 to 130"),
        ({"age": ["50"], "birth_date": ["1970-01-01"]}, "birth_date", "not both"),
        ({"birth_date": ["1970-02-30"]}, "birth_date", "real date"),
        ({"birth_date": ["2030-01-01"], "as_of": [AS_OF]}, "birth_date", "after the assessment"),
        ({"as_of": ["01/11/2026"]}, "as_of", "YYYY-MM-DD"),
        ({"sex": ["robot"]}, "sex", "listed options"),
        ({"b12_value": ["abc"], "b12_date": ["2026-01-01"]}, "b12_value", "a number"),
        ({"b12_value": ["-5"], "b12_date": ["2026-01-01"]}, "b12_value", "negative"),
        ({"b12_value": ["nan"], "b12_date": ["2026-01-01"]}, "b12_value", "a number"),
        ({"b12_value": ["150"]}, "b12_date", "give the date"),
        ({"b12_date": ["2026-01-01"]}, "b12_value", "give the result"),
        ({"mma_low": ["0.1"]}, "mma_value", "reference range"),
        (
            {
                "mcv_value": ["90"],
                "mcv_date": ["2026-01-01"],
                "mcv_low": ["100"],
                "mcv_high": ["80"],
            },
            "mcv_low",
            "above the upper limit",
        ),
        (
            {"b12_value": ["150"], "b12_date": ["2027-01-01"], "as_of": [AS_OF]},
            "b12_date",
            "after the assessment date",
        ),
        (
            {"b12_value": ["150"], "b12_date": ["2026-01-01"], "b12_unit": ["mg"]},
            "b12_unit",
            "units",
        ),
        ({"b12_value": ["1"], "b12_date": ["2026-01-01"], "b12_cmp": ["~"]}, "b12_cmp", "<"),
        ({"symptom": ["symptom.nonsense"]}, "symptom", "Unknown symptom"),
        ({"med_ppi": ["aspirin"]}, "med_ppi", "Unknown medicine"),
        ({"med_ppi_start": ["2020-01-01"]}, "med_ppi_start", "Tick the"),
        ({"condition": ["gout"]}, "condition", "Unknown condition"),
        ({"symptoms_other": ["x\n" * 40]}, "symptoms_other", "at most"),
        ({"conditions_other": ["y" * 300]}, "conditions_other", "under 200"),
        ({"patient_id": ["p" * 65]}, "patient_id", "under 64"),
    ],
)
def test_bad_input_gives_a_message_for_its_field(
    kb: Knowledge, fields: dict[str, list[str]], field: str, words: str
) -> None:
    """Each kind of bad input is reported against the field it is in, in plain words."""
    record, outcome = record_from_fields(fields, kb)
    assert record is None
    assert outcome.document is None
    assert field in outcome.errors, outcome.errors
    assert words in outcome.errors[field]


def test_form_page_shows_messages_next_to_fields(kb: Knowledge) -> None:
    """The re-rendered form keeps the values, marks the field invalid and explains why."""
    fields = {"age": ["<b>fifty</b>"], "symptom": ["symptom.numbness"], "b12_value": ["150"]}
    _, outcome = record_from_fields(fields, kb)
    page = form_page(kb, fields=fields, errors=outcome.errors)
    assert "There is a problem" in page
    assert 'id="f-age" name="age" aria-invalid="true" aria-describedby="err-age"' in page
    assert 'value="&lt;b&gt;fifty&lt;/b&gt;"' in page
    assert "<b>fifty" not in page
    assert re.search(r'id="err-age">Age must be a whole number', page)
    assert re.search(r'id="err-b12_date">[^<]*give the date', page)
    assert 'value="symptom.numbness" checked' in page
    assert 'href="#f-b12_date"' in page  # the summary links to the field


def test_form_page_lists_choices_from_the_knowledge_base(kb: Knowledge) -> None:
    """The form offers every symptom label and medicine group of the knowledge base."""
    page = form_page(kb)
    for s in kb.symptoms:
        assert s.label.replace("'", "&#x27;") in page
    for g in forms.medicine_groups(kb):
        for name in g.names:
            assert f'name="med_{g.key}" value="{name}"' in page
    assert 'action="/assess"' in page and 'action="/upload"' in page
    assert 'enctype="multipart/form-data"' in page
    assert "<script" not in page


def test_routes_form_and_assess(client: httpx.Client) -> None:
    """GET / gives the form; POST /assess gives the report, or the form with messages."""
    r = client.get("/")
    assert r.status_code == 200
    assert "Or describe the patient" in r.text
    assert "script-src" not in r.headers["content-security-policy"]  # no scripts at all
    r = client.post(
        "/assess",
        data={
            "age": "60",
            "symptom": ["symptom.numbness"],
            "med_metformin": "metformin",
            "b12_value": "150",
            "b12_unit": "ng/L",
            "b12_date": "2026-10-01",
            "as_of": AS_OF,
        },
    )
    assert r.status_code == 200
    assert "B12 deficiency likely" in r.text
    assert r.headers["cache-control"] == "no-store"
    r = client.post("/assess", data={"age": "abc"})
    assert r.status_code == 422
    assert "Age must be a whole number" in r.text
    assert "Traceback" not in r.text


def test_routes_upload(client: httpx.Client) -> None:
    """POST /upload assesses a file; bad, empty and oversized files give a clear page."""
    with DEMO.open("rb") as fh:
        r = client.post("/upload", files={"file": ("demo.json", fh)}, data={"as_of": AS_OF})
    assert r.status_code == 200
    assert "B12 deficiency likely" in r.text and "ex-ms-1" in r.text
    r = client.post("/upload", files={"file": ("<x>.json", b"not json at all {")})
    assert r.status_code == 422
    assert "&lt;x&gt;.json: not" in r.text and 'id="err-upload-file"' in r.text
    r = client.post("/upload", files={"file": ("empty.json", b"")})
    assert r.status_code == 422 and "Choose a file" in r.text
    r = client.post("/upload", files={"file": ("big.json", b" " * (MAX_UPLOAD_BYTES + 1))})
    assert r.status_code == 413 and "larger than" in r.text
    form_yaml = (
        b"b12ms_form: 1\nage: 40\nlabs:\n"
        b"  - {test: total_b12, value: 500, unit: ng/L, date: 2026-01-01}\n"
    )
    r = client.post("/upload", files={"file": ("p.yaml", form_yaml)}, data={"as_of": AS_OF})
    assert r.status_code == 200 and "B12 deficiency unlikely" in r.text
    r = client.post("/upload", files={"file": ("p.yaml", form_yaml)}, data={"as_of": "soon"})
    assert r.status_code == 422 and "real date" in r.text


def test_router_under_a_prefix() -> None:
    """Mounted under a prefix, the form posts to and links back to that prefix."""
    with live_server(app_with_router("/b12")) as url:
        page = httpx.get(f"{url}/b12/").text
        assert 'action="/b12/assess"' in page and 'action="/b12/upload"' in page
        with DEMO.open("rb") as fh:
            files = {"file": ("d.json", fh)}
            report = httpx.post(f"{url}/b12/upload", files=files, data={"as_of": AS_OF})
    assert 'href="/b12/">New assessment' in report.text
