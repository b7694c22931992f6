"""The DuckDB engine of `b12ms screen`: embedded, the default, bounded memory.

1. Each file the screen keeps is read as lines of text (`read_csv` with a delimiter that cannot
   occur in JSON, so every line is one value and blank lines stay, keeping line numbers exact;
   gzip is read directly). A line is classified in SQL by the rule of
   `b12ms.population.bulk.classify`: blank, malformed (with file and line), a type the screen
   ignores, a kept type without a patient, a resource with its patient, or a Medication.
   The kept lines go to a table in a DuckDB database file in the scratch folder.
2. Referenced Medication resources are joined to the patients whose requests name them.
3. One query orders all kept lines by patient (DuckDB's sort spills to disk past
   `memory_limit`), and Arrow record batches stream to Python, which assesses one patient at a
   time with `assess_resources`: the same code as `b12ms assess`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from b12ms.knowledge import Knowledge
from b12ms.population.bulk import CLINICAL_TYPES, KEPT_TYPES, MEDICATION_USERS, ExportFile
from b12ms.population.screen import (
    MALFORMED_KEPT,
    EngineResult,
    Malformed,
    Progress,
    WorklistSorter,
    assess_resources,
)
from b12ms.population.summary import PopulationSummary

BATCH_ROWS = 20_000
MAX_LINE_BYTES = 16 * 1024 * 1024  # longest line read; buffers are twice this


def _sql_list(values: Any) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(values)) + "]"


def _ref_id(expr: str, rtype: str) -> str:
    """SQL for bulk.reference_id(expr, rtype): "T/x", "urn:uuid:x" or ".../T/x"."""
    return (
        f"CASE WHEN starts_with({expr}, '{rtype}/') "
        f"THEN nullif(split_part({expr}[{len(rtype) + 2}:], '/', 1), '') "
        f"WHEN starts_with({expr}, 'urn:uuid:') THEN nullif({expr}[10:], '') "
        f"WHEN contains({expr}, '/{rtype}/') "
        f"THEN nullif(split_part(regexp_extract({expr}, '.*/{rtype}/(.*)$', 1), '/', 1), '') "
        "END"
    )


def _falsy(x: str) -> str:
    """SQL: JSON fragment `x` is absent or falsy in Python (null, {}, [], "", 0, false)."""
    return f"({x} IS NULL OR {x}::VARCHAR IN ('null', '{{}}', '[]', '\"\"', '0', 'false'))"


def _reference(x: str) -> str:
    """SQL: the reference string of JSON fragment `x`, when it is an object holding one."""
    return (
        f"CASE WHEN json_type({x}) = 'OBJECT' AND json_type({x}, '$.reference') = 'VARCHAR' "
        f"THEN {x} ->> '$.reference' END"
    )


def _string(x: str) -> str:
    """SQL: JSON fragment `x` as text when it is a non-empty string, else NULL."""
    return f"CASE WHEN json_type({x}) = 'VARCHAR' THEN nullif({x} ->> '$', '') END"


_SUBJECT = (
    f"CASE WHEN NOT {_falsy('subject')} THEN {_reference('subject')} "
    f"ELSE {_reference('patient')} END"
)

# One file: line number, classification and what grouping needs. `?` is the file's path.
# Each line is parsed once (json_valid) plus once for all the paths read (json_extract with a
# list of paths); the fragments are small.
_CLASSIFY = f"""
WITH raw AS (
    SELECT row_number() OVER () AS line_no, line
    FROM read_csv(?, columns = {{'line': 'VARCHAR'}}, header = false, delim = chr(1),
                  quote = '', escape = '', auto_detect = false,
                  max_line_size = {MAX_LINE_BYTES}, buffer_size = {2 * MAX_LINE_BYTES})
), checked AS (
    SELECT line_no, line,
        CASE
            WHEN line IS NULL OR regexp_full_match(line, '\\s*') THEN 'blank'
            WHEN NOT json_valid(line) THEN 'not valid JSON'
            WHEN NOT regexp_matches(line, '^\\s*\\{{') THEN 'not a JSON object'
        END AS problem
    FROM raw
), parts AS (
    SELECT line_no, line, problem, x[1] AS rt, x[2] AS id, x[3] AS subject, x[4] AS patient,
        x[5] AS medref
    FROM (
        SELECT line_no, problem, CASE WHEN problem IS NULL THEN line END AS line,
            json_extract(CASE WHEN problem IS NULL THEN line END, ['$.resourceType', '$.id',
                '$.subject', '$.patient', '$.medicationReference']) AS x
        FROM checked
        WHERE problem IS DISTINCT FROM 'blank'
    )
), typed AS (
    SELECT line_no, line, id,
        CASE WHEN rt IS NOT NULL THEN {_SUBJECT} END AS sref,
        CASE WHEN medref IS NOT NULL THEN {_reference("medref")} END AS mref_text,
        coalesce(problem, CASE WHEN {_string("rt")} IS NULL THEN 'no resourceType' END)
            AS problem,
        {_string("rt")} AS rtype
    FROM parts
), keyed AS (
    SELECT line_no, line, problem, rtype,
        CASE
            WHEN rtype = 'Patient' THEN {_string("id")}
            WHEN rtype IN {tuple(CLINICAL_TYPES)!r} THEN {_ref_id("sref", "Patient")}
        END AS pkey,
        CASE WHEN rtype = 'Medication' THEN {_string("id")} END AS mid,
        CASE WHEN rtype IN {tuple(MEDICATION_USERS)!r}
            THEN {_ref_id("mref_text", "Medication")}
        END AS mref
    FROM typed
)
SELECT
    CASE
        WHEN problem IS NOT NULL THEN 'malformed'
        WHEN rtype NOT IN {tuple(sorted(KEPT_TYPES))!r} THEN 'ignored'
        WHEN rtype = 'Medication' AND mid IS NOT NULL THEN 'medication'
        WHEN rtype <> 'Medication' AND pkey IS NOT NULL THEN 'resource'
        ELSE 'orphan'
    END AS kind,
    ?::INTEGER AS file_idx, line_no, problem AS reason, pkey, mid, mref,
    CASE WHEN problem IS NULL AND (pkey IS NOT NULL OR mid IS NOT NULL) THEN line END AS line
FROM keyed
"""  # noqa: S608 (built from this module's constants; the file path is a parameter)

_PATIENT_LINES = """
SELECT pkey, file_idx, line_no, line FROM (
    SELECT pkey, file_idx, line_no, line FROM lines WHERE kind = 'resource'
    UNION ALL
    SELECT r.pkey, m.file_idx, m.line_no, m.line
    FROM (SELECT DISTINCT pkey, mref FROM lines WHERE kind = 'resource' AND mref IS NOT NULL) r
    JOIN lines m ON m.kind = 'medication' AND m.mid = r.mref
)
ORDER BY pkey, file_idx, line_no
"""


def default_memory_limit() -> str:
    """A quarter of this machine's memory (at least 1 GB): the rest is for Python and the OS."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "2GB"
    return f"{max(1024, total // 4 // (1024 * 1024))}MB"


def run_duckdb(
    files: list[ExportFile],
    *,
    kb: Knowledge,
    as_of: dt.date,
    summary: PopulationSummary,
    sorter: WorklistSorter,
    progress: Progress,
    scratch: Path,
    memory_limit: str | None = None,
    threads: int | None = None,
) -> EngineResult:
    """Read, group and assess an export with DuckDB; patients go to `summary` and `sorter`."""
    import duckdb

    kept = [f for f in files if f.kept]
    result = EngineResult(files_read=len(kept))
    spill = scratch / "duckdb-spill"
    spill.mkdir(exist_ok=True)
    config: dict[str, Any] = {
        "memory_limit": memory_limit or default_memory_limit(),
        "temp_directory": str(spill),
        "preserve_insertion_order": True,
    }
    if threads:
        config["threads"] = threads
    con = duckdb.connect(str(scratch / "screen.duckdb"), config=config)
    try:
        con.execute(
            "CREATE TABLE lines (kind VARCHAR, file_idx INTEGER, line_no BIGINT, reason VARCHAR, "
            "pkey VARCHAR, mid VARCHAR, mref VARCHAR, line VARCHAR)"
        )
        for idx, f in enumerate(kept):
            inserted = con.execute(
                f"INSERT INTO lines SELECT * FROM ({_CLASSIFY})",  # noqa: S608 (constant SQL)
                [str(f.path), idx],
            ).fetchall()
            progress.read(int(inserted[0][0]))
        counts = dict(con.execute("SELECT kind, count(*) FROM lines GROUP BY kind").fetchall())
        result.malformed_total = int(counts.get("malformed", 0))
        result.without_patient = int(counts.get("orphan", 0))
        result.resources_read = sum(int(v) for k, v in counts.items() if k != "malformed")
        bad: list[tuple[int, int, str]] = [
            (int(fi), int(ln), str(reason))
            for fi, ln, reason in con.execute(
                "SELECT file_idx, line_no, reason FROM lines WHERE kind = 'malformed' "
                "ORDER BY file_idx, line_no LIMIT ?",
                [MALFORMED_KEPT],
            ).fetchall()
        ]
        total = con.execute(
            "SELECT count(DISTINCT pkey) FROM lines WHERE kind = 'resource'"
        ).fetchall()
        progress.patients_total(int(total[0][0]))

        # Python is the final judge of JSON: a line DuckDB's lenient parser accepted but
        # json.loads rejects is malformed too (and not a resource).
        late_bad: list[tuple[int, int, str]] = []
        # The sort gives the order; one thread sorts within the memory limit most reliably.
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET threads = 1")
        reader = con.sql(_PATIENT_LINES).to_arrow_reader(BATCH_ROWS)
        current: str | None = None
        resources: list[Any] = []
        loads = json.loads
        done = 0

        def finish() -> None:
            nonlocal done
            if resources:
                a, gaps, wrow = assess_resources(resources, kb, as_of)
                summary.add(a, gaps)
                if wrow is not None:
                    sorter.add(wrow)
                done += 1
                if done % 1000 == 0:
                    progress.assessed(1000)

        for batch in reader:
            cols = batch.to_pydict()
            for pkey, fi, ln, text in zip(
                cols["pkey"], cols["file_idx"], cols["line_no"], cols["line"], strict=True
            ):
                if pkey != current:
                    finish()
                    current = pkey
                    resources = []
                try:
                    resources.append(loads(text))
                except ValueError:
                    late_bad.append((fi, ln, "not valid JSON"))
        finish()
        progress.assessed(done % 1000)
    finally:
        con.close()
    if late_bad:
        late = sorted(set(late_bad))
        result.malformed_total += len(late)
        result.resources_read -= len(late)
        bad = sorted(set(bad) | set(late))[:MALFORMED_KEPT]
    result.malformed = [Malformed(file=kept[fi].name, line=ln, reason=r) for fi, ln, r in bad]
    return result
