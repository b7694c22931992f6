"""Client authentication against the real service: every forgery is a generic 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from test_service_support import (
    Keys,
    Server,
    adapted,
)

PV = "/cds-services/b12ms-patient-view"
GENERIC = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "login", "diagnostics": "Unauthorized"}],
}

pytest_plugins = ("test_service_support",)


def call(server: Server, token: str | None, path: str = PV) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.post(server.url(path), json=adapted("patient-view"), headers=headers, timeout=30)


def refused(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.json() == GENERIC  # the same body whatever the reason: nothing leaks
    assert response.headers["www-authenticate"] == "Bearer"


def test_valid_es384_token_is_accepted(server: Server, keys: Keys) -> None:
    """A correct ES384 token from the allowed issuer gets 200."""
    assert call(server, keys.token(server.url(PV))).status_code == 200


def test_valid_rs384_token_is_accepted(server: Server, keys: Keys) -> None:
    """A correct RS384 token from the allowed issuer gets 200."""
    assert call(server, keys.token(server.url(PV), alg="RS384")).status_code == 200


def test_no_token(server: Server) -> None:
    """No Authorization header: 401."""
    refused(call(server, None))


def test_not_a_bearer_scheme(server: Server, keys: Keys) -> None:
    """Basic credentials are not a bearer token: 401."""
    r = httpx.post(server.url(PV), json={}, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    refused(r)


def test_garbage_token(server: Server) -> None:
    """A token that is not a JWT at all: 401."""
    refused(call(server, "not.a.jwt"))


def test_alg_none(server: Server, keys: Keys) -> None:
    """An unsigned token (alg none) is refused."""
    header = {"alg": "none", "typ": "JWT", "kid": "ec-1"}
    refused(call(server, Keys.unsigned(header, keys.claims(server.url(PV)))))


def test_hs256_with_the_public_key_as_secret(server: Server, keys: Keys) -> None:
    """The key-confusion attack: HMAC over the token with the public key PEM as secret."""
    pem = keys.ec.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for alg, digest in (("HS256", hashlib.sha256), ("HS384", hashlib.sha384)):
        header = {"alg": alg, "typ": "JWT", "kid": "ec-1"}
        unsigned = Keys.unsigned(header, keys.claims(server.url(PV)))
        signing_input = unsigned.rsplit(".", 1)[0]
        sig = hmac.new(pem, signing_input.encode(), digest).digest()
        forged = f"{signing_input}.{base64.urlsafe_b64encode(sig).rstrip(b'=').decode()}"
        refused(call(server, forged))


def test_wrong_audience(server: Server, keys: Keys) -> None:
    """A token for another service URL (or the discovery URL) is refused here."""
    refused(call(server, keys.token(server.url("/cds-services/b12ms-order-sign"))))
    refused(call(server, keys.token(server.url("/cds-services"))))
    refused(call(server, keys.token("https://cds.example.org/cds-services/b12ms-patient-view")))


def test_expired(server: Server, keys: Keys) -> None:
    """A token that expired (beyond the clock skew) is refused."""
    refused(call(server, keys.token(server.url(PV), iat_offset=-900, lifetime=300)))


def test_issued_in_the_future(server: Server, keys: Keys) -> None:
    """A token issued ten minutes from now is refused."""
    refused(call(server, keys.token(server.url(PV), iat_offset=600)))


def test_replayed_jti(server: Server, keys: Keys) -> None:
    """The same token twice: the first is served, the replay refused."""
    token = keys.token(server.url(PV), jti=str(uuid.uuid4()))
    assert call(server, token).status_code == 200
    refused(call(server, token))


def test_reused_jti_in_a_new_token(server: Server, keys: Keys) -> None:
    """A fresh token that reuses an earlier jti is a replay too."""
    jti = str(uuid.uuid4())
    assert call(server, keys.token(server.url(PV), jti=jti)).status_code == 200
    refused(call(server, keys.token(server.url(PV), jti=jti, lifetime=200)))


def test_unknown_kid(server: Server, keys: Keys) -> None:
    """A kid that is not in the issuer's key set is refused."""
    refused(call(server, keys.token(server.url(PV), kid="ec-9")))


def test_unknown_issuer(server: Server, keys: Keys) -> None:
    """A correctly signed token from an issuer not on the allow-list is refused."""
    refused(call(server, keys.token(server.url(PV), iss="https://evil.example")))


def test_wrong_signature(server: Server, keys: Keys) -> None:
    """Signed by another key under the right kid: refused."""
    refused(call(server, keys.token(server.url(PV), key=keys.other_ec)))


def test_tampered_claims(server: Server, keys: Keys) -> None:
    """Changing the payload after signing breaks the signature."""
    head, _, sig = keys.token(server.url(PV)).split(".")
    other = Keys.unsigned({}, keys.claims(server.url(PV))).split(".")[1]
    refused(call(server, f"{head}.{other}.{sig}"))


@pytest.mark.parametrize("claim", ["exp", "iat", "jti", "aud", "iss"])
def test_missing_required_claim(server: Server, keys: Keys, claim: str) -> None:
    """exp, iat, jti, aud and iss are each required."""
    refused(call(server, keys.token(server.url(PV), drop=(claim,))))


def test_wrong_typ_and_algorithms(server: Server, keys: Keys) -> None:
    """typ must be JWT; ES256/RS256/ES512 are not accepted; a key must match its algorithm."""
    refused(call(server, keys.token(server.url(PV), headers={"typ": "at+jwt"})))
    refused(call(server, keys.token(server.url(PV), alg="RS256")))
    refused(call(server, keys.token(server.url(PV), alg="RS384", kid="ec-1")))


def test_jku_not_on_the_allow_list(server: Server, keys: Keys) -> None:
    """A token pointing its own jku at an attacker's key set is refused."""
    token = keys.token(server.url(PV), headers={"jku": "https://evil.example/jwks.json"})
    refused(call(server, token))


def test_overlong_lifetime(server: Server, keys: Keys) -> None:
    """A token valid for a day is refused (the replay cache only has to hold an hour)."""
    refused(call(server, keys.token(server.url(PV), lifetime=86_400)))


def test_discovery_and_feedback_need_tokens_too(server: Server, keys: Keys) -> None:
    """Discovery and feedback are protected, with aud exactly their own URL."""
    refused(httpx.get(server.url("/cds-services")))
    url = server.url("/cds-services")
    ok = httpx.get(url, headers={"Authorization": f"Bearer {keys.token(url)}"})
    assert ok.status_code == 200
    fb = server.url("/cds-services/b12ms-patient-view/feedback")
    body: dict[str, Any] = {
        "feedback": [
            {
                "card": str(uuid.uuid4()),
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-01T10:00:00Z",
            }
        ]
    }
    refused(httpx.post(fb, json=body))
    refused(httpx.post(fb, json=body, headers={"Authorization": f"Bearer {keys.token(url)}"}))
    r = httpx.post(fb, json=body, headers={"Authorization": f"Bearer {keys.token(fb)}"})
    assert r.status_code == 200


def test_invalid_body_without_token_is_401_not_400(server: Server) -> None:
    """Authentication comes before parsing: junk from an unauthenticated caller gets 401."""
    r = httpx.post(server.url(PV), content=b"{not json", headers={"Content-Type": "text/plain"})
    refused(r)
    assert json.loads(r.text) == GENERIC


def test_replay_is_caught_across_worker_processes(workers_server: Server, keys: Keys) -> None:
    """With two workers the jti cache is shared: a token is served once, on whichever worker."""
    token = keys.token(workers_server.url(PV))
    codes = []
    for _ in range(12):  # a new connection each time: the OS spreads them over the workers
        codes.append(call(workers_server, token).status_code)
    assert codes == [200] + [401] * 11
    pids = {ln.split()[3] for ln in workers_server.log().splitlines() if "hook service=" in ln}
    assert pids  # served, and logged with the worker's pid
