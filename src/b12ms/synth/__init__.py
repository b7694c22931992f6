"""`b12ms synth`: a deterministic synthetic population as FHIR R4 Bulk Data NDJSON.

    from b12ms.synth import generate
    summary = generate(Path("pop"), patients=10_000, seed=1, as_of=date(2026, 11, 1))

See docs/synth.md for what the population holds and how the ground truth reads.
"""

from b12ms.synth.generator import (
    DEFAULT_AS_OF,
    DEFAULT_MAX_FILE_BYTES,
    GROUND_TRUTH,
    MALFORMED,
    MANIFEST,
    SynthError,
    SynthSummary,
    generate,
)
from b12ms.synth.progress import progress_bar

__all__ = [
    "DEFAULT_AS_OF",
    "DEFAULT_MAX_FILE_BYTES",
    "GROUND_TRUTH",
    "MALFORMED",
    "MANIFEST",
    "SynthError",
    "SynthSummary",
    "generate",
    "progress_bar",
]
