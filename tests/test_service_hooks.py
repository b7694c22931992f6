"""CDS Hooks behaviour of the real service process: discovery, the three hooks, prefetch rules."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import httpx

from b12ms.service.hooks import CdsResponse, Discovery
from test_service_support import (
    FHIR_TOKEN,
    METFORMIN_DRAFT,
    FakeFhir,
    Keys,
    Server,
    adapted,
    assert_cds_clean,
    demo_patient_id,
    demo_resources,
    post,
    spec_request,
)

PV = "/cds-services/b12ms-patient-view"
SIGN = "/cds-services/b12ms-order-sign"
SELECT = "/cds-services/b12ms-order-select"

pytest_plugins = ("test_service_support",)


def cards_of(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert_cds_clean(body)
    CdsResponse.model_validate(body)
    cards: list[dict[str, Any]] = body["cards"]
    return cards


def test_discovery_lists_three_services_with_loinc_prefetch(server: Server, keys: Keys) -> None:
    """Discovery names the three services, their hooks and LOINC-coded observation prefetch."""
    url = server.url("/cds-services")
    r = httpx.get(url, headers={"Authorization": f"Bearer {keys.token(url)}"})
    assert r.status_code == 200
    body = r.json()
    assert_cds_clean(body)
    Discovery.model_validate(body)
    hooks = {s["id"]: s["hook"] for s in body["services"]}
    assert hooks == {
        "b12ms-patient-view": "patient-view",
        "b12ms-order-select": "order-select",
        "b12ms-order-sign": "order-sign",
    }
    for s in body["services"]:
        assert s["title"] and s["description"]
        prefetch = s["prefetch"]
        assert prefetch["patient"] == "Patient/{{context.patientId}}"
        assert "http://loinc.org|2132-9" in prefetch["observations"]
        assert "http://loinc.org|72160-5" in prefetch["observations"]
        assert prefetch["observations"].startswith(
            "Observation?patient={{context.patientId}}&code="
        )
        assert set(prefetch) >= {"conditions", "medicationRequests", "medicationStatements"}


def test_patient_view_demo_gives_a_critical_card_with_everything(
    server: Server, keys: Keys
) -> None:
    """The demo patient (neuro symptoms, indeterminate B12) gets one critical, complete card."""
    (card,) = cards_of(post(server, keys, PV, adapted("patient-view")))
    assert card["indicator"] == "critical"
    assert len(card["summary"]) < 140
    assert card["source"]["label"] == "NICE NG239 via b12ms"
    assert card["source"]["url"].startswith("https://www.nice.org.uk/guidance/ng239")
    assert "**Sources**" in card["detail"] and "bsh-2014" in card["detail"]
    uuid.UUID(card["uuid"])
    assert {o["display"] for o in card["overrideReasons"]} >= {"Patient declined"}
    assert card["selectionBehavior"] == "any"
    for s in card["suggestions"]:
        uuid.UUID(s["uuid"])
        (action,) = s["actions"]
        sr = action["resource"]
        assert (sr["resourceType"], sr["status"], sr["intent"]) == (
            "ServiceRequest",
            "draft",
            "proposal",
        )
        assert sr["subject"] == {"reference": f"Patient/{demo_patient_id()}"}
        assert sr["code"]["coding"][0]["system"] == "http://loinc.org"
    (link,) = card["links"]
    assert link["type"] == "absolute"
    page = httpx.get(link["url"])
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert page.headers["cache-control"] == "no-store"


def test_report_tokens_are_unguessable_and_unknown_ones_404(server: Server) -> None:
    """A made-up report token finds nothing."""
    assert httpx.get(server.url("/report/not-a-token")).status_code == 404


def test_patient_view_without_observations_suggests_b12_tests(server: Server, keys: Keys) -> None:
    """With no B12 result on record, the card is a warning that offers B12 test orders."""
    (card,) = cards_of(post(server, keys, PV, adapted("patient-view", observations=False)))
    assert card["indicator"] == "warning"
    codes = {s["actions"][0]["resource"]["code"]["coding"][0]["code"] for s in card["suggestions"]}
    assert "2132-9" in codes  # total B12, the preferred test
    preferred = [s for s in card["suggestions"] if s.get("isRecommended")]
    assert preferred


def test_null_prefetch_is_satisfied_with_no_data(server: Server, keys: Keys) -> None:
    """Every key null: nothing is known, nothing is said, and no 412."""
    body = adapted("patient-view")
    body["prefetch"] = dict.fromkeys(body["prefetch"])
    r = post(server, keys, PV, body)
    assert r.status_code == 200 and r.json() == {"cards": []}


def test_absent_prefetch_without_fhir_access_is_412(server: Server, keys: Keys) -> None:
    """A missing prefetch key and no fhirServer/fhirAuthorization answers 412 OperationOutcome."""
    body = adapted("patient-view")
    del body["prefetch"]["observations"]
    r = post(server, keys, PV, body)
    assert r.status_code == 412
    assert r.json()["resourceType"] == "OperationOutcome"
    assert "observations" in r.json()["issue"][0]["diagnostics"]


def test_operation_outcomes_in_prefetch_are_skipped_and_counted(server: Server, keys: Keys) -> None:
    """An OperationOutcome given for a key, or inside a Bundle, is skipped; the log counts it."""
    body = adapted("patient-view")
    oo = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
    body["prefetch"]["procedures"] = oo
    body["prefetch"]["conditions"]["entry"].append({"resource": oo})
    (card,) = cards_of(post(server, keys, PV, body))
    assert card["indicator"] == "critical"
    assert f"instance={body['hookInstance']}" in server.log()
    line = next(ln for ln in server.log().splitlines() if body["hookInstance"] in ln)
    assert "outcomes_skipped=2" in line


def test_service_fetches_missing_prefetch_with_token_and_paging(
    server: Server, keys: Keys, fake_fhir: FakeFhir
) -> None:
    """The spec's patient-view example (no usable prefetch): fetched from FHIR, pages followed."""
    body = copy.deepcopy(spec_request("patient-view"))
    body["hookInstance"] = str(uuid.uuid4())
    body["context"]["patientId"] = demo_patient_id()
    body["fhirServer"] = fake_fhir.base
    body["fhirAuthorization"]["access_token"] = FHIR_TOKEN
    before = len(fake_fhir.requests)
    (card,) = cards_of(post(server, keys, PV, body))
    assert card["indicator"] == "critical"  # the same answer as with full prefetch
    seen = fake_fhir.requests[before:]
    assert any("_offset=2" in u for u in seen)  # paging was followed
    assert any("/Patient/" in u for u in seen)
    assert any("code=http" in u for u in seen)  # the observation template's LOINC filter
    line = next(ln for ln in server.log().splitlines() if body["hookInstance"] in ln)
    assert "fetched_keys=6" in line


def test_wrong_fhir_token_means_412(server: Server, keys: Keys, fake_fhir: FakeFhir) -> None:
    """When the FHIR server refuses the token the data cannot be had: 412."""
    body = copy.deepcopy(spec_request("patient-view"))
    body["context"]["patientId"] = demo_patient_id()
    body["fhirServer"] = fake_fhir.base
    before = fake_fhir.unauthorised
    r = post(server, keys, PV, body)
    assert r.status_code == 412
    assert fake_fhir.unauthorised > before


def test_plain_http_fhir_server_off_loopback_is_refused(server: Server, keys: Keys) -> None:
    """The bearer token is never sent to a plain-http server on the network."""
    body = copy.deepcopy(spec_request("patient-view"))  # fhirServer http://hooks.smarthealthit.org
    body["context"]["patientId"] = demo_patient_id()
    r = post(server, keys, PV, body)
    assert r.status_code == 412


def test_order_sign_spec_example_amoxicillin_says_nothing(server: Server, keys: Keys) -> None:
    """The spec's order-sign example (amoxicillin, a diet order) is not a B12 matter."""
    r = post(server, keys, SIGN, adapted("order-sign", observations=False))
    assert cards_of(r) == []


def test_order_sign_metformin_without_recent_b12_speaks(server: Server, keys: Keys) -> None:
    """A metformin draft with no B12 result in 12 months gives a card offering a B12 test."""
    body = adapted("order-sign", observations=False)
    body["context"]["draftOrders"]["entry"].append({"resource": copy.deepcopy(METFORMIN_DRAFT)})
    (card,) = cards_of(post(server, keys, SIGN, body))
    assert "metformin" in card["summary"].lower()
    assert len(card["summary"]) < 140
    assert "Draft order" in card["detail"]
    codes = {s["actions"][0]["resource"]["code"]["coding"][0]["code"] for s in card["suggestions"]}
    assert "2132-9" in codes


def test_order_sign_metformin_with_recent_b12_is_quiet(server: Server, keys: Keys) -> None:
    """The demo patient had a B12 result two months ago: no card for a metformin draft."""
    body = adapted("order-sign")
    body["context"]["draftOrders"]["entry"].append({"resource": copy.deepcopy(METFORMIN_DRAFT)})
    assert cards_of(post(server, keys, SIGN, body)) == []


def test_order_select_reads_only_the_selections(server: Server, keys: Keys) -> None:
    """order-select speaks for a selected metformin draft, not for an unselected one."""
    body = adapted("order-select", observations=False)
    body["context"]["draftOrders"]["entry"].append({"resource": copy.deepcopy(METFORMIN_DRAFT)})
    assert cards_of(post(server, keys, SELECT, body)) == []  # only amoxicillin selected
    body["context"]["selections"] = ["MedicationRequest/draft-metformin"]
    body["hookInstance"] = str(uuid.uuid4())
    (card,) = cards_of(post(server, keys, SELECT, body))
    assert card["indicator"] in ("info", "warning")


def test_order_select_recognises_s1p_and_ppi_by_name(server: Server, keys: Keys) -> None:
    """Drugs known only by text (fingolimod, omeprazole) are found by the knowledge base's names."""
    body = adapted("order-select", observations=False)
    entries = body["context"]["draftOrders"]["entry"]
    for i, text in enumerate(("Fingolimod 0.5 mg capsules", "Omeprazole 20 mg")):
        entries.append(
            {
                "resource": {
                    "resourceType": "MedicationRequest",
                    "id": f"txt-{i}",
                    "status": "draft",
                    "intent": "order",
                    "medicationCodeableConcept": {"text": text},
                }
            }
        )
    body["context"]["selections"] = ["MedicationRequest/txt-0", "MedicationRequest/txt-1"]
    (card,) = cards_of(post(server, keys, SELECT, body))
    assert "RESEARCH ONLY" in card["detail"]  # S1P modulators are research context
    assert "proton pump inhibitor" in card["detail"]


def test_hook_mismatch_unknown_service_and_bad_context(server: Server, keys: Keys) -> None:
    """Wrong hook for the service is 400, an unknown service 404, a bad patientId 400."""
    body = adapted("patient-view")
    body["hook"] = "order-sign"
    assert post(server, keys, PV, body).status_code == 400
    assert post(server, keys, "/cds-services/nope", adapted("patient-view")).status_code == 404
    body = adapted("patient-view")
    body["context"]["patientId"] = "../../etc/passwd"
    r = post(server, keys, PV, body)
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"


def test_prefetch_about_another_patient_is_refused(server: Server, keys: Keys) -> None:
    """A Patient in prefetch that is not context.patientId is a 400, not a wrong answer."""
    body = adapted("patient-view")
    body["context"]["patientId"] = "someone-else"
    assert post(server, keys, PV, body).status_code == 400


def test_validation_errors_do_not_echo_input(server: Server, keys: Keys) -> None:
    """A 400 names locations, never the submitted values."""
    body = adapted("patient-view")
    body["hookInstance"] = {"secret": "Jane Doe NHS 943 476 5919"}
    r = post(server, keys, PV, body)
    assert r.status_code == 400
    assert "Jane" not in r.text and "943" not in r.text


def test_logs_hold_no_patient_data(server: Server, keys: Keys) -> None:
    """After every call above, the log has ids and timings but no identifiers or record text."""
    post(server, keys, PV, adapted("patient-view"))
    log = server.log()
    assert "hook service=b12ms-patient-view" in log and "ms=" in log
    forbidden = {demo_patient_id(), FHIR_TOKEN, "Numbness", "metformin", "Metformin", "/report/"}
    for r in demo_resources():
        for name in r.get("name", []):
            forbidden.update(name.get("given", []))
            forbidden.add(name.get("family", "-"))
    leaked = sorted(w for w in forbidden if w and w in log)
    assert leaked == []
