"""Body size limit (413), CORS, OpenAPI docs and the --dev mode warning on the real process."""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from test_service_support import (
    MAX_BODY,
    Keys,
    Server,
    adapted,
)

PV = "/cds-services/b12ms-patient-view"

pytest_plugins = ("test_service_support",)


def test_oversize_body_is_413_by_content_length(server: Server, keys: Keys) -> None:
    """A body one byte over the limit is refused with 413 and an OperationOutcome."""
    url = server.url(PV)
    body = b"{" + b" " * MAX_BODY + b"}"
    r = httpx.post(
        url,
        content=body,
        headers={"Authorization": f"Bearer {keys.token(url)}", "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["resourceType"] == "OperationOutcome"


def test_oversize_chunked_body_is_413(server: Server, keys: Keys) -> None:
    """A chunked body with no Content-Length is counted and refused past the limit."""
    url = server.url(PV)

    def chunks() -> Iterator[bytes]:
        yield b'{"x": "'
        for _ in range(MAX_BODY // 65536 + 2):
            yield b"a" * 65536
        yield b'"}'

    r = httpx.post(
        url,
        content=chunks(),
        headers={"Authorization": f"Bearer {keys.token(url)}", "Content-Type": "application/json"},
    )
    assert r.status_code == 413


def test_body_under_the_limit_is_served(server: Server, keys: Keys) -> None:
    """A normal request is well under the limit and served."""
    url = server.url(PV)
    r = httpx.post(
        url, json=adapted("patient-view"), headers={"Authorization": f"Bearer {keys.token(url)}"}
    )
    assert r.status_code == 200


def test_cors_allows_only_configured_origins(server: Server) -> None:
    """A preflight from the configured origin is allowed; another origin gets no CORS grant."""
    headers = {
        "Origin": "https://sandbox.cds-hooks.org",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    r = httpx.options(server.url(PV), headers=headers)
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "https://sandbox.cds-hooks.org"
    r = httpx.options(server.url(PV), headers={**headers, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_openapi_docs_are_served(server: Server) -> None:
    """/docs and /openapi.json are there and describe the CDS Hooks paths."""
    assert httpx.get(server.url("/docs")).status_code == 200
    paths = httpx.get(server.url("/openapi.json")).json()["paths"]
    assert {"/cds-services", "/cds-services/{service_id}"} <= set(paths)


def test_dev_mode_needs_no_token_and_says_so(dev_server: Server) -> None:
    """--dev serves without a token and warns loudly in the log."""
    r = httpx.post(dev_server.url(PV), json=adapted("patient-view"))
    assert r.status_code == 200 and r.json()["cards"]
    assert "CLIENT AUTHENTICATION IS OFF" in dev_server.log()
