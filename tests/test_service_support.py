"""Shared parts for the service tests: real keys, real server processes, a fake FHIR server.

Imported by the other tests/test_service_*.py modules (it holds no tests of its own, except a
check of the recursive no-empty-element checker they all use).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "cds-hooks"
DEMO = ROOT / "examples" / "ms-numbness-metformin.json"
AS_OF = "2026-11-01"
ISSUER = "https://ehr.test.example"
FHIR_TOKEN = "fhir-access-token-for-tests"  # noqa: S105 (a test fixture, not a secret)
MAX_BODY = 1_000_000


# --------------------------------------------------------------------------------------------
# The rule every response must keep


def empty_elements(value: Any, path: str = "$") -> list[str]:
    """Paths of every null, empty string, empty array or empty object inside `value`."""
    bad: list[str] = []
    if value is None or value == "" or value == [] or value == {}:
        return [path]
    if isinstance(value, dict):
        for k, v in value.items():
            bad += empty_elements(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            bad += empty_elements(v, f"{path}[{i}]")
    return bad


def assert_cds_clean(body: Any) -> None:
    """No null or empty element anywhere, except the sanctioned top-level `{"cards": []}`."""
    if isinstance(body, dict) and body.get("cards") == []:
        rest = {k: v for k, v in body.items() if k != "cards"}
        assert empty_elements(rest) == [] if rest else True
        return
    assert empty_elements(body) == []


def test_checker_finds_every_kind_of_empty() -> None:
    """The checker reports nulls, empty strings, arrays and objects at any depth."""
    found = empty_elements({"a": None, "b": [{"c": ""}], "d": {"e": []}, "f": {}, "g": [1]})
    assert sorted(found) == ["$.a", "$.b[0].c", "$.d.e", "$.f"]
    assert_cds_clean({"cards": []})


# --------------------------------------------------------------------------------------------
# Keys and tokens


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Keys:
    """An ES384 and an RS384 key pair with kids, and their public JWK Set."""

    def __init__(self) -> None:
        self.ec = ec.generate_private_key(ec.SECP384R1())
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_ec = ec.generate_private_key(ec.SECP384R1())

    def jwks(self) -> dict[str, Any]:
        ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec.public_key()))
        rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key()))
        ec_jwk.update(kid="ec-1", use="sig", alg="ES384")
        rsa_jwk.update(kid="rsa-1", use="sig", alg="RS384")
        return {"keys": [ec_jwk, rsa_jwk]}

    def token(
        self,
        aud: str,
        *,
        alg: str = "ES384",
        kid: str | None = None,
        iss: str = ISSUER,
        lifetime: int = 300,
        iat_offset: int = 0,
        jti: str | None = None,
        drop: tuple[str, ...] = (),
        headers: dict[str, Any] | None = None,
        key: Any = None,
    ) -> str:
        now = int(time.time()) + iat_offset
        claims: dict[str, Any] = {
            "iss": iss,
            "aud": aud,
            "exp": now + lifetime,
            "iat": now,
            "jti": jti or str(uuid.uuid4()),
        }
        for name in drop:
            claims.pop(name, None)
        if key is None:
            key = self.ec if alg.startswith("ES") else self.rsa
        hdr = {"kid": kid or ("ec-1" if alg.startswith("ES") else "rsa-1"), "typ": "JWT"}
        hdr.update(headers or {})
        return jwt.encode(claims, key, algorithm=alg, headers=hdr)

    @staticmethod
    def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
        """A token assembled by hand (for alg none and HMAC forgeries)."""
        head = _b64(json.dumps(header).encode())
        body = _b64(json.dumps(claims).encode())
        return f"{head}.{body}.{_b64(signature)}"

    def claims(self, aud: str) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": ISSUER, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}


# --------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`b12ms serve` in a subprocess on a free loopback port; stderr (the log) kept in a file."""

    def __init__(self, workdir: Path, *, dev: bool, config: str, workers: int = 1) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.config_path = workdir / "service.toml"
        self.config_path.write_text(config, encoding="utf-8")
        self.log_path = workdir / "server.log"
        self.db_path = workdir / "feedback.sqlite3"
        args = [sys.executable, "-m", "b12ms", "serve", "--port", str(self.port)]
        args += ["--config", str(self.config_path)] + (["--dev"] if dev else [])
        args += ["--workers", str(workers)] if workers > 1 else []
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.base}/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("server did not start in 30 s")
            time.sleep(0.1)

    def url(self, path: str) -> str:
        return self.base + path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def service_config(workdir: Path, keys: Keys) -> str:
    jwks = workdir / "ehr.jwks.json"
    jwks.write_text(json.dumps(keys.jwks()), encoding="utf-8")
    return (
        f'feedback_db = "feedback.sqlite3"\n'
        f"max_body_bytes = {MAX_BODY}\n"
        f'as_of = "{AS_OF}"\n'
        'log_level = "info"\n'
        'cors_origins = ["https://sandbox.cds-hooks.org"]\n'
        f'[issuers."{ISSUER}"]\n'
        f'jwks_file = "{jwks.name}"\n'
    )


@pytest.fixture(scope="session")
def keys() -> Keys:
    """Real key pairs generated for this test session."""
    return Keys()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[Server]:
    """The service with authentication on."""
    work = tmp_path_factory.mktemp("service")
    srv = Server(work, dev=False, config=service_config(work, keys))
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def workers_server(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[Server]:
    """The service with authentication on and two worker processes."""
    work = tmp_path_factory.mktemp("service-workers")
    srv = Server(work, dev=False, config=service_config(work, keys), workers=2)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def dev_server(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> Iterator[Server]:
    """The service in --dev mode (authentication off)."""
    work = tmp_path_factory.mktemp("service-dev")
    srv = Server(work, dev=True, config=service_config(work, keys))
    yield srv
    srv.stop()


# --------------------------------------------------------------------------------------------
# Data


def demo_resources() -> list[dict[str, Any]]:
    bundle = json.loads(DEMO.read_text(encoding="utf-8"))
    return [e["resource"] for e in bundle["entry"]]


def demo_patient_id() -> str:
    return next(r["id"] for r in demo_resources() if r["resourceType"] == "Patient")


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r} for r in resources],
    }


def demo_prefetch(*, observations: bool = True) -> dict[str, Any]:
    """Every prefetch key b12ms advertises, filled from the demo patient."""
    res = demo_resources()

    def of(rtype: str) -> dict[str, Any]:
        return searchset([r for r in res if r["resourceType"] == rtype])

    return {
        "patient": next(r for r in res if r["resourceType"] == "Patient"),
        "observations": of("Observation") if observations else None,
        "conditions": of("Condition"),
        "medicationRequests": of("MedicationRequest"),
        "medicationStatements": of("MedicationStatement"),
        "procedures": of("Procedure"),
    }


def spec_request(name: str) -> dict[str, Any]:
    """A reconstructed specification example (see tests/data/cds-hooks/README.md)."""
    data: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    return data


def adapted(name: str, **prefetch_options: bool) -> dict[str, Any]:
    """The specification example adapted: demo patient, B12-relevant prefetch, no FHIR access."""
    req = copy.deepcopy(spec_request(name))
    pid = demo_patient_id()
    req["context"]["patientId"] = pid
    req.pop("fhirServer", None)
    req.pop("fhirAuthorization", None)
    req["prefetch"] = demo_prefetch(**prefetch_options)
    req["hookInstance"] = str(uuid.uuid4())
    draft = req["context"].get("draftOrders")
    if draft is not None:
        for entry in draft["entry"]:
            r = entry["resource"]
            for key in ("subject", "patient"):
                if key in r:
                    r[key] = {"reference": f"Patient/{pid}"}
    return req


METFORMIN_DRAFT = {
    "resourceType": "MedicationRequest",
    "id": "draft-metformin",
    "status": "draft",
    "intent": "order",
    "medicationCodeableConcept": {
        "coding": [
            {
                "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                "code": "860975",
                "display": "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet",
            }
        ]
    },
}


# --------------------------------------------------------------------------------------------
# Fake FHIR server: requires the bearer token, pages search results two at a time


class FakeFhir:
    """A tiny FHIR server (Starlette under uvicorn, in a thread) serving the demo patient."""

    PAGE = 2

    def __init__(self) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/fhir"
        self.requests: list[str] = []
        self.unauthorised = 0
        self.resources = demo_resources()
        app = Starlette(
            routes=[
                Route("/fhir/Patient/{pid}", self.read),
                Route("/fhir/{rtype}", self.search),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake FHIR server did not start")
            time.sleep(0.05)

    def _authorised(self, request: Request) -> bool:
        self.requests.append(str(request.url))
        ok = request.headers.get("authorization") == f"Bearer {FHIR_TOKEN}"
        if not ok:
            self.unauthorised += 1
        return ok

    async def read(self, request: Request) -> JSONResponse:
        if not self._authorised(request):
            return JSONResponse({"resourceType": "OperationOutcome"}, status_code=401)
        pid = request.path_params["pid"]
        for r in self.resources:
            if r["resourceType"] == "Patient" and r["id"] == pid:
                return JSONResponse(r)
        return JSONResponse({"resourceType": "OperationOutcome"}, status_code=404)

    async def search(self, request: Request) -> JSONResponse:
        if not self._authorised(request):
            return JSONResponse({"resourceType": "OperationOutcome"}, status_code=401)
        rtype = request.path_params["rtype"]
        matches = [r for r in self.resources if r["resourceType"] == rtype]
        offset = int(request.query_params.get("_offset", "0"))
        page = matches[offset : offset + self.PAGE]
        bundle = searchset(page)
        bundle["total"] = len(matches)
        if offset + self.PAGE < len(matches):
            query = dict(request.query_params)
            query["_offset"] = str(offset + self.PAGE)
            bundle["link"] = [
                {"relation": "next", "url": f"{self.base}/{rtype}?{httpx.QueryParams(query)}"}
            ]
        return JSONResponse(bundle)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def fake_fhir() -> Iterator[FakeFhir]:
    """The fake FHIR server, for the service's own fetches."""
    fhir = FakeFhir()
    yield fhir
    fhir.stop()


def post(srv: Server, keys: Keys, path: str, body: Any, **token_options: Any) -> httpx.Response:
    """POST with a fresh valid ES384 token whose aud is the URL called."""
    url = srv.url(path)
    token = keys.token(url, **token_options)
    return httpx.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
