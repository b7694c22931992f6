"""The clinician-facing service: CDS Hooks 2.0 discovery, services and feedback (FastAPI).

`create_app(config)` builds the application; `b12ms serve` runs it under uvicorn. Layers, from
the outside in: CORS (configured origins only), the request body limit (413), client
authentication on every `/cds-services` request (401, see `security.py`; off with `--dev`),
then the routes. Logs carry service ids, hook instance ids, statuses and timings, never
patient data: no identifiers, no resource content, no report tokens.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import gc
import html
import importlib
import logging
import os
import pathlib
import pickle
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError
from starlette.datastructures import URL, Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from b12ms import __version__
from b12ms.assessment import Assessment
from b12ms.engine import assess
from b12ms.errors import InputError
from b12ms.fhir.extract import record_from_resources
from b12ms.knowledge import Knowledge, load_knowledge
from b12ms.service import cards
from b12ms.service.config import ServiceConfig
from b12ms.service.feedback import FeedbackStore
from b12ms.service.hooks import (
    CdsResponse,
    Discovery,
    Feedback,
    HookRequest,
    OrderSelectContext,
    OrderSignContext,
    PatientViewContext,
)
from b12ms.service.prefetch import PrefetchError, gather, only_patient, prefetch_templates
from b12ms.service.security import AuthError, ReplayCache, SqliteReplayCache, TokenVerifier

log = logging.getLogger("b12ms.service")

SERVICES: dict[str, tuple[str, str, str]] = {
    # id: (hook, title, description)
    "b12ms-patient-view": (
        "patient-view",
        "B12 deficiency check (NICE NG239)",
        "When a patient's record is opened: whether to test for vitamin B12 deficiency, how the "
        "latest B12 result reads, and what to do next, for people with MS or MS-like symptoms.",
    ),
    "b12ms-order-select": (
        "order-select",
        "B12 check when selecting B12-lowering medicines",
        "When metformin, a proton pump inhibitor, an H2 receptor antagonist or an S1P "
        "receptor modulator is selected and there is no B12 result in the last 12 months.",
    ),
    "b12ms-order-sign": (
        "order-sign",
        "B12 check when signing B12-lowering medicines",
        "When orders for metformin, a proton pump inhibitor, an H2 receptor antagonist or an "
        "S1P receptor modulator are signed and there is no B12 result in the last 12 months.",
    ),
}
# Documented as an enum (for clients and fuzzers); any other id is answered 404 at run time.
ServiceId = Annotated[str, Path(json_schema_extra={"enum": list(SERVICES)})]
_CONTEXTS: dict[str, type[PatientViewContext]] = {
    "patient-view": PatientViewContext,
    "order-select": OrderSelectContext,
    "order-sign": OrderSignContext,
}
_OUTCOME_CODES = {
    400: "invalid",
    401: "login",
    404: "not-found",
    412: "incomplete",
    413: "too-long",
}


def outcome(status: int, text: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An error response with an OperationOutcome body (recommended by CDS Hooks 3.0)."""
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": _OUTCOME_CODES.get(status, "processing"),
                "diagnostics": text,
            }
        ],
    }
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


_UNAUTHORIZED = outcome(401, "Unauthorized", {"WWW-Authenticate": "Bearer"})
_TOO_LARGE = outcome(413, "Request body too large")


# --------------------------------------------------------------------------------------------
# Middleware (pure ASGI: they act before any body is read or parsed)


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, by Content-Length or by counting."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None:
            try:
                too_big = int(length) > self.limit
            except ValueError:
                too_big = True
            if too_big:
                await _TOO_LARGE(scope, receive, send)
                return
        # Read the whole body first (bounded), then hand it on: chunked bodies are counted too.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _TOO_LARGE(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class ClientAuth:
    """Bearer JWT on every `/cds-services` request; a generic 401 on any failure."""

    def __init__(self, app: ASGIApp, verifier: TokenVerifier, base_url: str | None) -> None:
        self.app = app
        self.verifier = verifier
        self.base_url = base_url

    def audience(self, scope: Scope) -> str:
        if self.base_url is not None:
            return self.base_url + str(scope["path"])
        return str(URL(scope=scope).replace(query="", fragment=""))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/cds-services"):
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization", "")
        scheme, _, token = header.partition(" ")
        try:
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthError("no bearer token")
            claims = await self.verifier.verify(token.strip(), self.audience(scope))
        except AuthError as exc:
            log.warning("auth refused path=%s reason=%s", _log_path(scope["path"]), exc)
            await _UNAUTHORIZED(scope, receive, send)
            return
        scope.setdefault("state", {})["client"] = claims.get("iss")
        await self.app(scope, receive, send)


def _log_path(path: str) -> str:
    """A request path fit for the log (report tokens hidden)."""
    return "/report/…" if path.startswith("/report/") else path[:120]


# --------------------------------------------------------------------------------------------
# Reports linked from cards


class ReportCache:
    """Assessments kept for a short time under unguessable tokens, for the card's link.

    Kept pickled: thousands of live assessments (dozens of objects each) made every full
    garbage collection walk them, which showed as 100 ms latency spikes under load; bytes
    are not walked. Only this process's own objects are ever unpickled.
    """

    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max = max_entries
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, assessment: Assessment) -> str:
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        data = pickle.dumps(assessment, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            self._items[token] = (now + self.ttl, data)
            while len(self._items) > self.max:
                self._items.popitem(last=False)
        return token

    def get(self, token: str) -> Assessment | None:
        now = time.monotonic()
        with self._lock:
            while self._items:
                first = next(iter(self._items.values()))
                if first[0] > now:
                    break
                self._items.popitem(last=False)
            item = self._items.get(token)
        if item is None:
            return None
        found: Assessment = pickle.loads(item[1])  # noqa: S301 (our own bytes, never a client's)
        return found


def _fallback_report(a: Assessment, kb: Knowledge) -> str:
    """Plain-text report in a page, for when the web package is not installed."""
    from b12ms.render import to_text

    return (
        '<!doctype html><html lang="en"><meta charset="utf-8">'
        "<title>b12ms report</title>"
        f"<pre>{html.escape(to_text(a, kb))}</pre></html>"
    )


def _report_renderer() -> Callable[[Assessment, Knowledge], str]:
    """`b12ms.web.render.patient_report_html` when the web package is there, else a fallback.
    Imported by name so the service works (and type-checks) with or without it."""
    try:
        module = importlib.import_module("b12ms.web.render")
    except ImportError:
        return _fallback_report
    renderer = getattr(module, "patient_report_html", None)
    return renderer if callable(renderer) else _fallback_report


def _web_router() -> APIRouter | None:
    """The clinician web pages' router, when that package is there."""
    try:
        module = importlib.import_module("b12ms.web.routes")
    except ImportError:
        return None
    router = getattr(module, "router", None)
    return router if isinstance(router, APIRouter) else None


# --------------------------------------------------------------------------------------------
# The application


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid request (OperationOutcome)"},
    401: {"description": "Missing or invalid client JWT (OperationOutcome)"},
    413: {"description": "Request body too large (OperationOutcome)"},
}


def create_app(
    config: ServiceConfig, *, kb: Knowledge | None = None, replay: ReplayCache | None = None
) -> FastAPI:
    """The FastAPI application for this configuration (`replay`: a shared jti cache, for
    several worker processes; default: this process's own)."""
    # httpx logs every request URL at INFO, and FHIR search URLs carry patient ids.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    knowledge = kb or load_knowledge()
    templates = prefetch_templates(knowledge)
    store = FeedbackStore(config.feedback_db)
    reports = ReportCache(config.report_ttl_seconds)
    render_report = _report_renderer()
    verifier = (
        None
        if config.dev
        else TokenVerifier(
            config.issuers,
            clock_skew=config.clock_skew_seconds,
            max_lifetime=config.max_token_lifetime_seconds,
            replay=replay,
        )
    )
    holder: dict[str, httpx.AsyncClient] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if config.dev:
            log.warning(
                "DEVELOPMENT MODE: CLIENT AUTHENTICATION IS OFF. Any caller can use this "
                "service. Never run --dev with real patient data or on a shared network."
            )
        # The knowledge base and the imported code live as long as the process: keep them out
        # of the collector's way (fewer, shorter full collections under load).
        gc.collect()
        gc.freeze()
        holder["fhir"] = httpx.AsyncClient(
            timeout=config.fhir_timeout_seconds, follow_redirects=False
        )
        try:
            yield
        finally:
            await holder["fhir"].aclose()
            if verifier is not None:
                await verifier.aclose()

    app = FastAPI(
        title="b12ms CDS Hooks service",
        version=__version__,
        description=(
            "CDS Hooks 2.0 services for vitamin B12 deficiency in people with MS or MS-like "
            "symptoms (NICE NG239). Every /cds-services request needs "
            "`Authorization: Bearer <JWT>` signed by an allowed CDS client (ES384 or RS384)."
        ),
        lifespan=lifespan,
    )

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Locations and messages only: never echo the submitted values back.
        where = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in exc.errors()[:10]
        )
        return outcome(400, f"Invalid request: {where}"[:1000])

    def base_url(request: Request) -> str:
        if config.base_url is not None:
            return config.base_url
        return str(request.base_url).rstrip("/")

    @app.get(
        "/cds-services",
        response_model=Discovery,
        response_model_exclude_none=True,
        responses={401: _ERRORS[401]},
        tags=["CDS Hooks"],
    )
    async def discovery() -> dict[str, Any]:
        """CDS Hooks discovery: the three services and their prefetch templates."""
        return {
            "services": [
                {
                    "hook": hook,
                    "title": title,
                    "description": description,
                    "id": sid,
                    "prefetch": templates,
                }
                for sid, (hook, title, description) in SERVICES.items()
            ]
        }

    @app.post(
        "/cds-services/{service_id}",
        response_model=CdsResponse,
        response_model_exclude_none=True,
        responses={
            **_ERRORS,
            404: {"description": "Unknown service (OperationOutcome)"},
            412: {"description": "Prefetch missing and no FHIR access (OperationOutcome)"},
        },
        tags=["CDS Hooks"],
    )
    async def call(service_id: ServiceId, body: HookRequest, request: Request) -> Response:
        """Call a CDS service: returns cards, or `{"cards": []}` when there is nothing to say."""
        started = time.perf_counter()
        service = SERVICES.get(service_id)
        if service is None:
            return outcome(404, "Unknown service")
        hook = service[0]
        if body.hook != hook:
            return outcome(400, f"This service answers the {hook} hook")
        try:
            context = _CONTEXTS[hook].model_validate(body.context)
        except ValidationError as exc:
            where = "; ".join(
                f"context.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            return outcome(400, f"Invalid context: {where}"[:1000])
        try:
            gathered = await gather(body, templates, holder["fhir"], config.fhir_servers)
        except PrefetchError as exc:
            log.info(
                "hook service=%s instance=%s status=412 reason=%s",
                service_id,
                _short(body.hookInstance),
                exc,
            )
            return outcome(412, str(exc))
        if not only_patient(gathered.resources, context.patientId):
            return outcome(400, "Prefetch holds a different patient than context.patientId")
        resources: list[Mapping[str, Any]] = list(gathered.resources)
        draft_refs: set[str] = set()
        if isinstance(context, OrderSignContext):
            drafts = _draft_medication_requests(context)
            draft_refs = {f"MedicationRequest/{r['id']}" for r in drafts}
            resources += drafts
            resources += _bundle_medications(context.draftOrders)
        as_of = config.as_of or dt.date.today()
        try:
            record = record_from_resources(resources)
        except InputError:
            return outcome(400, "Prefetch holds more than one patient")
        assessment = assess(record, knowledge, as_of=as_of)
        token = reports.put(assessment)
        ctx = cards.CardContext(
            kb=knowledge,
            patient_id=context.patientId,
            encounter_id=context.encounterId,
            report_url=f"{base_url(request)}/report/{token}",
        )
        if isinstance(context, OrderSignContext):
            drafted = [m for m in record.medications if m.ref in draft_refs]
            triggers = cards.draft_triggers(knowledge, drafted)
            result = cards.order_cards(assessment, ctx, triggers)
        else:
            result = cards.patient_view_cards(assessment, ctx)
        elapsed = (time.perf_counter() - started) * 1000
        log.info(
            "hook service=%s instance=%s status=200 cards=%d resources=%d fetched_keys=%d "
            "pages=%d outcomes_skipped=%d incomplete_keys=%d ms=%.1f",
            service_id,
            _short(body.hookInstance),
            len(result),
            len(gathered.resources),
            gathered.fetched_keys,
            gathered.pages,
            gathered.outcomes_skipped,
            gathered.incomplete_keys,
            elapsed,
        )
        return JSONResponse({"cards": result})

    @app.post(
        "/cds-services/{service_id}/feedback",
        responses={**_ERRORS, 404: {"description": "Unknown service (OperationOutcome)"}},
        tags=["CDS Hooks"],
    )
    def feedback(service_id: ServiceId, body: Feedback, request: Request) -> Response:
        """Record what the clinician did with cards (stored durably; no content is logged)."""
        if service_id not in SERVICES:
            return outcome(404, "Unknown service")
        client = request.scope.get("state", {}).get("client")
        stored = store.add(service_id, body.feedback, client if isinstance(client, str) else None)
        log.info("feedback service=%s items=%d", service_id, stored)
        return Response(status_code=200)

    @app.get("/report/{token}", response_class=HTMLResponse, include_in_schema=False)
    def report(token: str) -> Response:
        """The full report behind a card's link (short-lived; the token is the capability)."""
        assessment = reports.get(token)
        headers = {
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        }
        if assessment is None:
            return HTMLResponse(
                "<!doctype html><title>b12ms</title><p>This report has expired.</p>",
                status_code=404,
                headers=headers,
            )
        return HTMLResponse(render_report(assessment, knowledge), headers=headers)

    web = _web_router()
    if web is not None:
        app.include_router(web)

    # Middleware: the last added runs first.
    if verifier is not None:
        app.add_middleware(ClientAuth, verifier=verifier, base_url=config.base_url)
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.state.store = store
    app.state.knowledge = knowledge
    app.state.reports = reports
    return app


def _short(instance: str) -> str:
    """A hook instance id for the log (bounded; it is a random UUID, not patient data)."""
    return instance[:64]


def _draft_medication_requests(context: OrderSignContext) -> list[dict[str, Any]]:
    """The MedicationRequests of the draft orders (order-select: only the selected ones), copied
    as active so the reader takes them as the medicines about to be prescribed."""
    selected: set[str] | None = None
    if isinstance(context, OrderSelectContext):
        selected = set(context.selections)
    out: list[dict[str, Any]] = []
    for n, entry in enumerate(context.draftOrders.get("entry") or ()):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != "MedicationRequest":
            continue
        rid = resource.get("id")
        if selected is not None and f"MedicationRequest/{rid}" not in selected:
            continue
        draft = copy.deepcopy(resource)
        draft["status"] = "active"
        draft["id"] = f"draft-{n}-{rid}" if isinstance(rid, str) else f"draft-{n}"
        draft["subject"] = {"reference": f"Patient/{context.patientId}"}
        out.append(draft)
    return out


def _bundle_medications(bundle: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Medication resources carried in the draft orders Bundle (for medicationReference)."""
    out: list[Mapping[str, Any]] = []
    for entry in bundle.get("entry") or ():
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "Medication":
            out.append(resource)
    return out


_ENV_CONFIG = "B12MS_SERVICE_CONFIG"
_ENV_DEV = "B12MS_SERVICE_DEV"
_ENV_REPLAY = "B12MS_SERVICE_REPLAY_DB"


def app_from_env() -> FastAPI:
    """Factory for uvicorn worker processes: the configuration comes from the environment."""
    from b12ms.service.config import load_config

    config = load_config(os.environ.get(_ENV_CONFIG) or None)
    config = config.with_dev(os.environ.get(_ENV_DEV) == "1")
    replay_db = os.environ.get(_ENV_REPLAY)
    replay = SqliteReplayCache(replay_db) if replay_db else None
    _configure_logging(config)
    return create_app(config, replay=replay)


def _configure_logging(config: ServiceConfig) -> None:
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(process)d %(name)s %(message)s",
    )


def run(*, host: str, port: int, config_path: str | None, dev: bool, workers: int = 1) -> int:
    """`b12ms serve`: load the configuration and run the service under uvicorn.

    With several workers, each is its own process (the OS spreads connections over them) and
    the jti replay cache is an SQLite file beside the feedback database, shared by all.
    """
    import uvicorn

    from b12ms.service.config import load_config

    config = load_config(config_path).with_dev(dev)
    _configure_logging(config)
    if dev:
        log.warning("*** --dev: CLIENT AUTHENTICATION IS OFF ***")
    elif not config.issuers:
        log.warning("no issuers configured: every CDS Hooks request will be refused (401)")
    if not dev and config.base_url is None:
        log.warning("base_url not configured: the JWT audience is taken from the request URL")
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": config.log_level,
        "access_log": False,  # its lines carry full paths (report tokens); ours do not
        "server_header": False,
    }
    if workers <= 1:
        uvicorn.run(create_app(config), **common)
        return 0
    replay_db = str(config.feedback_db) + ".jti.sqlite3"
    os.environ[_ENV_CONFIG] = str(pathlib.Path(config_path).resolve()) if config_path else ""
    os.environ[_ENV_DEV] = "1" if dev else "0"
    os.environ[_ENV_REPLAY] = replay_db
    SqliteReplayCache(replay_db)  # create the table once, before the workers race to
    uvicorn.run("b12ms.service.app:app_from_env", factory=True, workers=workers, **common)
    return 0
