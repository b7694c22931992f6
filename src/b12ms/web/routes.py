"""The web page's routes, as a FastAPI router for the service's app to include.

- GET `/`: the form page (upload a record, or describe the patient);
- POST `/assess`: the form's fields (application/x-www-form-urlencoded) -> the report page;
- POST `/upload`: one file (multipart/form-data: FHIR Bundle, NDJSON or patient form) -> the
  report page.

Plain HTML forms: everything works without JavaScript. A bad field or file gives the form page
again with the message next to the field (status 422), never a traceback. Pages carry a strict
Content-Security-Policy (no scripts, nothing loaded from elsewhere) and are not cached.
"""

from __future__ import annotations

import datetime as dt
import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from b12ms.assessment import Assessment
from b12ms.engine import assess
from b12ms.errors import B12msError, InputError
from b12ms.inputs import parse_record
from b12ms.knowledge import Knowledge, load_knowledge
from b12ms.web.forms import fields_from_items, form_page, record_from_fields
from b12ms.web.page import esc, page
from b12ms.web.render import patient_report_html

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_FORM_FIELDS = 400
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

log = logging.getLogger(__name__)
router = APIRouter()


def _html(body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status_code, headers=HEADERS)


def report_response(
    assessment: Assessment, kb: Knowledge, *, base_path: str = "", status_code: int = 200
) -> HTMLResponse:
    """The report page for an assessment, as a response with the page's security headers."""
    return _html(patient_report_html(assessment, kb, base_path=base_path), status_code)


def _base(request: Request) -> str:
    """The path the form lives at, without its trailing slash ("" at the root)."""
    return request.url_for("b12ms_form").path.rstrip("/")


def _problem_page(title: str, message: str, base_path: str, status_code: int) -> HTMLResponse:
    body = (
        '<main id="main" class="wrap"><section class="card errors" role="alert">'
        f"<h1>{esc(title)}</h1><p>{esc(message)}</p>"
        f'<p><a href="{esc(base_path)}/">Back to the form</a></p></section></main>'
    )
    return _html(page(f"b12ms: {title}", body), status_code)


def _internal_error(base_path: str) -> HTMLResponse:
    return _problem_page(
        "Internal error",
        "b12ms could not assess this record because of an internal error. It has been logged; "
        "please report it.",
        base_path,
        500,
    )


@router.get("/", response_class=HTMLResponse, name="b12ms_form")
def form(request: Request) -> HTMLResponse:
    """The form page."""
    return _html(form_page(load_knowledge(), base_path=_base(request)))


@router.post("/assess", response_class=HTMLResponse, name="b12ms_assess")
async def assess_form(request: Request) -> HTMLResponse:
    """Assess the patient the form's fields describe."""
    kb = load_knowledge()
    base = _base(request)
    async with request.form(max_files=0, max_fields=MAX_FORM_FIELDS) as submitted:
        fields = fields_from_items(submitted.multi_items())
    record, outcome = record_from_fields(fields, kb)
    if record is None:
        html = form_page(kb, fields=fields, errors=outcome.errors, base_path=base)
        return _html(html, 422)
    try:
        assessment = assess(record, kb, as_of=outcome.as_of)
    except B12msError as exc:
        return _problem_page("Cannot assess", str(exc), base, 422)
    except Exception:  # one error path: never a traceback on the page
        log.exception("b12ms: internal error assessing a form")
        return _internal_error(base)
    return report_response(assessment, kb, base_path=base)


@router.post("/upload", response_class=HTMLResponse, name="b12ms_upload")
async def upload(request: Request) -> HTMLResponse:
    """Assess the patient in an uploaded file."""
    kb = load_knowledge()
    base = _base(request)
    too_big = f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB: upload one patient."
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES + 64 * 1024:
        return _problem_page("File too large", too_big, base, 413)
    async with request.form(max_files=1, max_fields=10) as submitted:
        fields = fields_from_items(submitted.multi_items())
        item = submitted.get("file")
        data = b""
        name = "upload"
        if isinstance(item, UploadFile):
            name = item.filename or name
            data = await item.read(MAX_UPLOAD_BYTES + 1)

    def again(message: str, status_code: int = 422) -> HTMLResponse:
        return _html(
            form_page(kb, fields=fields, upload_error=message, base_path=base), status_code
        )

    if len(data) > MAX_UPLOAD_BYTES:
        return again(too_big, 413)
    if not data:
        return again("Choose a file to upload (the file was missing or empty).")
    as_of_text = (fields.get("as_of") or [""])[0].strip()
    try:
        as_of = dt.date.fromisoformat(as_of_text) if as_of_text else dt.date.today()
    except ValueError:
        return again("The assessment date must be a real date, written YYYY-MM-DD.")
    try:
        record = parse_record(data, name=name, today=as_of)
        assessment = assess(record, kb, as_of=as_of)
    except InputError as exc:
        return again(str(exc))
    except B12msError as exc:
        return _problem_page("Cannot assess", str(exc), base, 422)
    except Exception:  # one error path: never a traceback on the page
        log.exception("b12ms: internal error assessing an upload")
        return _internal_error(base)
    return report_response(assessment, kb, base_path=base)
