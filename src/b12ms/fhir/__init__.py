"""FHIR R4 input edge: read files into resource dicts, and resources into a PatientRecord."""

from b12ms.fhir.extract import parse_fhir_date, record_from_resources
from b12ms.fhir.read import (
    decode_text,
    resources_from_bytes,
    resources_from_document,
    resources_from_ndjson,
)

__all__ = [
    "decode_text",
    "parse_fhir_date",
    "record_from_resources",
    "resources_from_bytes",
    "resources_from_document",
    "resources_from_ndjson",
]
