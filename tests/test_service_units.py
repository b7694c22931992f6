"""Service parts on their own: cards for every case patient, config, replay cache, jku, prefetch."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from b12ms.engine import assess
from b12ms.inputs import load_record
from b12ms.knowledge import load_knowledge
from b12ms.service import cards
from b12ms.service.config import ConfigError, IssuerConfig, load_config, parse_config
from b12ms.service.hooks import Card, CdsResponse, HookRequest
from b12ms.service.prefetch import (
    PrefetchError,
    fill_template,
    gather,
    prefetch_templates,
    server_allowed,
)
from b12ms.service.security import AuthError, ReplayCache, SqliteReplayCache, TokenVerifier
from test_service_support import ISSUER, Keys, assert_cds_clean, searchset

KB = load_knowledge()
CASES = sorted((Path(__file__).parent / "cases").glob("*.expected.json"))


@pytest.mark.parametrize("expected", CASES, ids=lambda p: p.name.split(".")[0])
def test_cards_for_every_case_follow_the_rules(expected: Path) -> None:
    """Every case patient's card is valid CDS Hooks: no empties, summary < 140, right indicator."""
    case = json.loads(expected.read_text(encoding="utf-8"))
    bundle = expected.with_name(expected.name.replace(".expected.json", ".json"))
    as_of = dt.date.fromisoformat(case["as_of"])
    a = assess(load_record(bundle, today=as_of), KB, as_of=as_of)
    ctx = cards.CardContext(kb=KB, patient_id="p1", report_url="https://cds.example/report/t")
    out = cards.patient_view_cards(a, ctx)
    body = {"cards": out}
    assert_cds_clean(body)
    CdsResponse.model_validate(body)
    speaks = bool(a.recommendations) or any(f.kind == "red_flag" for f in a.findings)
    assert len(out) == (1 if speaks else 0)
    for card in out:
        assert len(card["summary"]) < 140
        if a.recommendation("treat.urgent_neuro"):
            assert card["indicator"] == "critical"
        elif a.should_test or a.b12_status.conclusion in (
            "deficiency_likely",
            "deficiency_possible",
        ):
            assert card["indicator"] == "warning"
        else:
            assert card["indicator"] == "info"
        for s in card.get("suggestions", []):
            assert s["actions"][0]["resource"]["subject"] == {"reference": "Patient/p1"}


def test_card_model_enforces_the_invariants() -> None:
    """The response model refuses a 140-character summary and suggestions without behaviour."""
    base: dict[str, Any] = {"summary": "x", "indicator": "info", "source": {"label": "s"}}
    Card.model_validate(base)
    for bad in (
        {**base, "summary": "x" * 140},
        {**base, "indicator": "hard-stop"},
        {**base, "suggestions": [{"label": "a"}]},
        {**base, "links": []},
        {**base, "overrideReasons": [{"system": "s", "code": "c"}]},
    ):
        with pytest.raises(ValueError):
            Card.model_validate(bad)


def test_clip_and_markdown_escape() -> None:
    """Long summaries are cut at a word under 140 characters; record text cannot inject links."""
    assert len(cards.clip("word " * 60)) <= 139
    assert cards.md("[x](javascript:alert(1)) <b>") == "\\[x\\](javascript:alert(1)) \\<b\\>"


def test_config_file_and_errors(tmp_path: Path) -> None:
    """The TOML file is read with relative paths; unknown keys and bad values are refused."""
    (tmp_path / "k.json").write_text('{"keys": []}')
    path = tmp_path / "s.toml"
    path.write_text(
        'base_url = "https://cds.example.org/"\nas_of = 2026-11-01\nmax_body_bytes = 10\n'
        '[issuers."https://ehr"]\njwks_file = "k.json"\n'
    )
    cfg = load_config(path)
    assert cfg.base_url == "https://cds.example.org"
    assert cfg.as_of == dt.date(2026, 11, 1)
    assert cfg.issuers["https://ehr"].jwks_file == tmp_path / "k.json"
    assert cfg.feedback_db == tmp_path / "b12ms-feedback.sqlite3"
    for raw in (
        {"unknown": 1},
        {"max_body_bytes": 0},
        {"log_level": "loud"},
        {"issuers": {"x": {}}},
        {"issuers": {"x": {"jku": ["http://insecure"]}}},
        {"as_of": "soon"},
    ):
        with pytest.raises(ConfigError):
            parse_config(raw, tmp_path)
    with pytest.raises(ConfigError):
        load_config(tmp_path / "missing.toml")


def test_replay_cache_is_thread_safe_and_expires() -> None:
    """Of 8 threads racing on one jti exactly one wins; an expired entry is forgotten."""
    cache = ReplayCache()
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def race() -> None:
        barrier.wait()
        wins.append(cache.check_and_add("iss", "same", time.time() + 60, time.time()))

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]
    now = time.time()
    assert cache.check_and_add("iss", "old", now + 1, now)
    assert cache.check_and_add("iss", "old", now + 100, now + 60)  # expired, purged, new again
    assert cache.check_and_add("other-iss", "same", now + 60, now)  # per issuer


def test_jku_allow_listed_key_set_is_fetched_and_cached() -> None:
    """A token whose jku is allow-listed verifies with the fetched keys; the set is cached."""
    keys = Keys()
    fetched: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        fetched.append(str(request.url))
        return httpx.Response(200, json=keys.jwks())

    jku = "https://ehr.example/jwks.json"
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    verifier = TokenVerifier({ISSUER: IssuerConfig(iss=ISSUER, jku=(jku,))}, http=client)
    aud = "https://cds.example/cds-services/x"

    async def scenario() -> None:
        for alg in ("ES384", "RS384"):
            token = keys.token(aud, alg=alg, headers={"jku": jku})
            assert (await verifier.verify(token, aud))["iss"] == ISSUER
        with pytest.raises(AuthError):  # no jku header and no configured file: no keys
            await verifier.verify(keys.token(aud), aud)
        with pytest.raises(AuthError):  # unknown kid: not refetched within a minute
            await verifier.verify(keys.token(aud, kid="nope", headers={"jku": jku}), aud)
        await verifier.aclose()

    asyncio.run(scenario())
    assert fetched == [jku]


def test_templates_tokens_and_servers() -> None:
    """Templates fill from context (URL-encoded); only https or loopback servers get tokens."""
    templates = prefetch_templates(KB)
    assert fill_template(templates["patient"], {"patientId": "a b"}) == "Patient/a%20b"
    assert fill_template(templates["patient"], {}) is None
    assert server_allowed("https://fhir.example/r4", ())
    assert server_allowed("http://127.0.0.1:8080/fhir", ())
    assert not server_allowed("http://fhir.example/r4", ())
    assert not server_allowed("https://other.example/r4", ("https://fhir.example/r4",))
    assert server_allowed("https://fhir.example/r4/", ("https://fhir.example/r4",))


def test_paging_link_off_the_fhir_server_is_refused() -> None:
    """A next link to another host would leak the bearer token: the request fails (412)."""
    bundle = searchset([])
    bundle["link"] = [{"relation": "next", "url": "https://evil.example/steal"}]
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=bundle)

    request = HookRequest.model_validate(
        {
            "hook": "patient-view",
            "hookInstance": "x",
            "fhirServer": "https://fhir.example/r4",
            "fhirAuthorization": {
                "access_token": "t",
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "patient/*.read",
                "subject": "b12ms",
            },
            "context": {"patientId": "p1", "userId": "Practitioner/1"},
            "prefetch": {"observations": bundle},
        }
    )
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    with pytest.raises(PrefetchError):
        asyncio.run(gather(request, {"observations": "Observation?patient=x"}, client))
    assert not any("evil" in u for u in seen)


def test_shared_replay_cache_sees_other_connections(tmp_path: Path) -> None:
    """Two caches on one SQLite file (as two workers) refuse each other's jti until it expires."""
    db = str(tmp_path / "jti.sqlite3")
    a, b = SqliteReplayCache(db), SqliteReplayCache(db)
    now = time.time()
    assert a.check_and_add("iss", "j1", now + 60, now)
    assert not b.check_and_add("iss", "j1", now + 60, now)
    assert not a.check_and_add("iss", "j1", now + 60, now)
    assert b.check_and_add("iss", "j1", now + 200, now + 61)  # expired: may be used again
