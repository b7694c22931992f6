"""The knowledge base: data files shipped in this package, loaded, validated and hashed once.

Design rules:
- Every clinical fact lives in exactly one data file here, with source ids; code holds logic only.
- Loading validates everything (ids, references between files, units, bands, value sets) and
  fails with one `KnowledgeBaseError` listing every problem, never half-loads.
- The version and the SHA-256 of the files are stamped on every assessment.
"""

from __future__ import annotations

from b12ms.knowledge.loader import (
    Band,
    CareGapDef,
    Conclusion,
    FindingDef,
    Guideline,
    Knowledge,
    LabDef,
    Matcher,
    MatcherSet,
    RecommendationDef,
    RiskFactor,
    RiskRoute,
    Setting,
    Source,
    SymptomDef,
    UnitFamily,
    ValueSet,
    load_knowledge,
)

__all__ = [
    "Band",
    "CareGapDef",
    "Conclusion",
    "FindingDef",
    "Guideline",
    "Knowledge",
    "LabDef",
    "Matcher",
    "MatcherSet",
    "RecommendationDef",
    "RiskFactor",
    "RiskRoute",
    "Setting",
    "Source",
    "SymptomDef",
    "UnitFamily",
    "ValueSet",
    "load_knowledge",
]
