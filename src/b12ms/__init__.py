"""b12ms: look for, read and act on vitamin B12 deficiency in MS and MS-like presentations.

Public API (one patient):

    from b12ms import assess, load_knowledge, load_record
    record = load_record("patient.json")          # FHIR R4 Bundle/NDJSON or patient form
    result = assess(record, load_knowledge(), as_of=datetime.date(2026, 11, 1))
    result.to_dict()                              # the stable JSON contract
"""

from b12ms.assessment import Assessment, Finding, Recommendation
from b12ms.engine import assess
from b12ms.errors import B12msError, InputError, KnowledgeBaseError
from b12ms.inputs import load_record, parse_record
from b12ms.knowledge import Knowledge, load_knowledge
from b12ms.model import PatientRecord

__version__ = "0.1.0"

__all__ = [
    "Assessment",
    "B12msError",
    "Finding",
    "InputError",
    "Knowledge",
    "KnowledgeBaseError",
    "PatientRecord",
    "Recommendation",
    "__version__",
    "assess",
    "load_knowledge",
    "load_record",
    "parse_record",
]
