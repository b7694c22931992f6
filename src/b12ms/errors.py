"""Errors b12ms raises on purpose, and the CLI's stable exit codes.

Hierarchy:

- B12msError: base; its message is safe to show the user as it is (one line, no data dump)
  - InputError: the input cannot be read as a patient record at all
    - EmptyInputError: the file is empty
    - NotJsonError: not JSON, NDJSON or YAML
    - NotFhirError: JSON, but neither FHIR R4 nor the b12ms patient form
    - FormError: the patient form breaks its JSON Schema
  - KnowledgeBaseError: the knowledge base failed validation at load

A record that is readable but holds some bad entries (an unknown unit, a negative value, an
entered-in-error result) is not an error: those entries are listed in `skipped` and the rest
is assessed.
"""

from __future__ import annotations

# Exit codes. Stable: never renumber or reuse one; retire by commenting out.
EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug in b12ms: please report it
EXIT_USAGE = 2  # bad command line (argparse's own code)
EXIT_INPUT = 3  # input unreadable: missing, empty, not JSON/YAML, not FHIR, invalid form
EXIT_SKIPPED = 4  # assessed, but some entries were skipped (listed in the output and on stderr)
EXIT_KNOWLEDGE_BASE = 5  # knowledge base invalid


class B12msError(Exception):
    """Base class; `str(error)` is one line fit to show a user."""

    exit_code = EXIT_INTERNAL


class InputError(B12msError):
    """The input cannot be read as a patient record."""

    exit_code = EXIT_INPUT


class EmptyInputError(InputError):
    """The input file is empty."""


class NotJsonError(InputError):
    """The input is not JSON, NDJSON or YAML."""


class NotFhirError(InputError):
    """The input is JSON but neither FHIR R4 nor the b12ms patient form."""


class FormError(InputError):
    """The b12ms patient form does not match its schema."""


class KnowledgeBaseError(B12msError):
    """The knowledge base files are inconsistent or incomplete."""

    exit_code = EXIT_KNOWLEDGE_BASE
