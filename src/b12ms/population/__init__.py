"""Population screening: FHIR Bulk Data NDJSON in, care-gap worklists and a report out."""
