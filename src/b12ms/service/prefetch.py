"""Prefetch: the templates the services advertise, and turning a hook request into resources.

Semantics (CDS Hooks 2.0, "Prefetch Template"):

- a key given with a resource or a searchset Bundle: used; a Bundle's `link[next]` pages are
  followed when the request carries FHIR access (else what was given is used, and logged);
- a key given as `null`: satisfied, no data;
- a key absent: the service fetches it itself from `fhirServer` with the bearer token in
  `fhirAuthorization` (following `link[next]`); with no FHIR access the request cannot be
  served and the caller answers 412 Precondition Failed;
- OperationOutcome resources (the client's way of reporting a failed prefetch) are skipped and
  counted, never read as patient data.

The bearer token is only ever sent to the FHIR server named in the request: paging links that
lead elsewhere are refused. A FHIR server must use https, except on the loopback interface;
a deployment can also allow-list servers (`fhir_servers` in the configuration).
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx

from b12ms.knowledge import Knowledge
from b12ms.service.hooks import HookRequest

LOINC = "http://loinc.org"
MAX_PAGES = 50  # per prefetch key: a patient's B12-relevant history fits in far fewer


class PrefetchError(Exception):
    """The data the service needs cannot be had (answered with 412); the message names keys
    and HTTP statuses only, never patient data."""


def prefetch_templates(kb: Knowledge) -> dict[str, str]:
    """Prefetch templates: the patient, lab results by LOINC code, and the record's problems,
    medicines and procedures."""
    codes: list[str] = []
    for lab in kb.labs.values():
        for entry in lab.valueset.entries:
            if entry.system == LOINC and not entry.code.endswith("*"):
                token = f"{LOINC}|{entry.code}"
                if token not in codes:
                    codes.append(token)
    patient = "{{context.patientId}}"
    return {
        "patient": f"Patient/{patient}",
        "observations": f"Observation?patient={patient}&code={','.join(codes)}",
        "conditions": f"Condition?patient={patient}",
        "medicationRequests": f"MedicationRequest?patient={patient}",
        "medicationStatements": f"MedicationStatement?patient={patient}",
        "procedures": f"Procedure?patient={patient}",
    }


def fill_template(template: str, context: Mapping[str, Any]) -> str | None:
    """The template with `{{context.x}}` tokens replaced (URL-encoded); None if a token has no
    primitive value in the context."""
    out = template
    while (start := out.find("{{")) >= 0:
        end = out.find("}}", start)
        if end < 0:
            return None
        name = out[start + 2 : end].strip()
        if not name.startswith("context."):
            return None
        value = context.get(name[len("context.") :])
        if not isinstance(value, str | int) or isinstance(value, bool):
            return None
        out = out[:start] + urllib.parse.quote(str(value), safe="") + out[end + 2 :]
    return out


@dataclasses.dataclass(slots=True)
class Gathered:
    """The resources for one hook call, and counts for the log."""

    resources: list[Mapping[str, Any]] = dataclasses.field(default_factory=list)
    outcomes_skipped: int = 0
    fetched_keys: int = 0
    pages: int = 0
    incomplete_keys: int = 0  # Bundles with more pages that could not be followed


def server_allowed(url: str, allow_list: Sequence[str]) -> bool:
    """Whether the service may send a bearer token to this FHIR server."""
    parsed = urllib.parse.urlsplit(url)
    if allow_list:
        base = url.rstrip("/")
        return any(base == a or base.startswith(a + "/") for a in allow_list)
    if parsed.scheme == "https":
        return True
    host = parsed.hostname or ""
    if parsed.scheme != "http":
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _resources_of(value: Any, gathered: Gathered) -> tuple[list[Mapping[str, Any]], str | None]:
    """The resources in a prefetch value (a resource or a Bundle) and the Bundle's next link."""
    if not isinstance(value, dict):
        return [], None
    rtype = value.get("resourceType")
    if rtype == "OperationOutcome":
        gathered.outcomes_skipped += 1
        return [], None
    if rtype != "Bundle":
        return [value], None
    out: list[Mapping[str, Any]] = []
    for entry in value.get("entry") or ():
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        if resource.get("resourceType") == "OperationOutcome":
            gathered.outcomes_skipped += 1
            continue
        out.append(resource)
    next_url = None
    for link in value.get("link") or ():
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            next_url = url if isinstance(url, str) and url else None
    return out, next_url


class _Fetcher:
    """GETs from the request's FHIR server with its bearer token."""

    def __init__(self, client: httpx.AsyncClient, server: str, token: str) -> None:
        self.client = client
        self.server = server.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}

    def url(self, relative_or_absolute: str) -> str:
        if relative_or_absolute.startswith(("https://", "http://")):
            base = self.server + "/"
            if not relative_or_absolute.startswith(base):
                raise PrefetchError("a paging link leads away from the FHIR server")
            return relative_or_absolute
        return f"{self.server}/{relative_or_absolute.lstrip('/')}"

    async def get(self, url: str, key: str) -> Any:
        try:
            response = await self.client.get(self.url(url), headers=self.headers)
        except httpx.HTTPError as exc:
            raise PrefetchError(f"prefetch {key!r}: FHIR server unreachable") from exc
        if response.status_code != 200:
            raise PrefetchError(
                f"prefetch {key!r}: FHIR server answered HTTP {response.status_code}"
            )
        try:
            return response.json()
        except ValueError:
            raise PrefetchError(f"prefetch {key!r}: FHIR server answered with no JSON") from None


async def _follow(
    fetcher: _Fetcher, key: str, first: Any, gathered: Gathered
) -> list[Mapping[str, Any]]:
    out, next_url = _resources_of(first, gathered)
    pages = 0
    while next_url is not None:
        pages += 1
        if pages > MAX_PAGES:
            raise PrefetchError(f"prefetch {key!r}: more than {MAX_PAGES} pages")
        page = await fetcher.get(next_url, key)
        more, next_url = _resources_of(page, gathered)
        out.extend(more)
    gathered.pages += pages
    return out


async def gather(
    request: HookRequest,
    templates: Mapping[str, str],
    client: httpx.AsyncClient,
    allowed_servers: Sequence[str] = (),
) -> Gathered:
    """Every resource the templates ask for, from the prefetch or the FHIR server."""
    given = request.prefetch or {}
    gathered = Gathered()
    fetcher: _Fetcher | None = None
    if request.fhirServer is not None and request.fhirAuthorization is not None:
        if not server_allowed(request.fhirServer, allowed_servers):
            raise PrefetchError("fhirServer is not allowed (https or an allow-listed server)")
        fetcher = _Fetcher(client, request.fhirServer, request.fhirAuthorization.access_token)

    jobs: list[tuple[str, Any]] = []  # (key, the value given) or (key, None) to fetch
    missing: list[str] = []
    for key in templates:
        if key in given:
            value = given[key]
            if value is None:
                continue  # satisfied: no data
            resources, next_url = _resources_of(value, gathered)
            if next_url is None:
                gathered.resources.extend(resources)
            elif fetcher is None:
                gathered.resources.extend(resources)
                gathered.incomplete_keys += 1
            else:
                jobs.append((key, value))
        elif fetcher is None:
            missing.append(key)
        else:
            jobs.append((key, None))
    if missing:
        raise PrefetchError(f"prefetch not given and no FHIR access: {', '.join(sorted(missing))}")

    async def run(key: str, value: Any) -> list[Mapping[str, Any]]:
        assert fetcher is not None  # noqa: S101 (jobs exist only with FHIR access)
        if value is None:
            url = fill_template(templates[key], request.context)
            if url is None:
                raise PrefetchError(f"prefetch {key!r}: template tokens missing in context")
            value = await fetcher.get(url, key)
            gathered.fetched_keys += 1
        return await _follow(fetcher, key, value, gathered)

    if jobs:
        results = await asyncio.gather(*(run(k, v) for k, v in jobs))
        for resources in results:
            gathered.resources.extend(resources)
    return gathered


def only_patient(resources: Iterable[Mapping[str, Any]], patient_id: str) -> bool:
    """Whether every Patient resource given is the context's patient."""
    return all(r.get("id") == patient_id for r in resources if r.get("resourceType") == "Patient")
