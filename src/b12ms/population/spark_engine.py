"""The PySpark engine of `b12ms screen`: the same screen on a cluster (`local[*]` by default).

pyspark is imported inside these functions only, so `import b12ms` stays light.

1. Each kept file is read as text lines numbered from 1 (`textFile` + `zipWithIndex`, per file,
   so the numbers are exact whatever the splits; gzip is read directly).
2. Each line is classified on the executors by `b12ms.population.bulk.classify_line`, the rule
   the DuckDB engine states in SQL.
3. Resources are grouped by patient (referenced Medication resources joined in), ordered by
   file and line as in the DuckDB engine, and each group is assessed on the executors by
   `assess_resources`, the code `b12ms assess` runs. Each partition returns its worklist rows
   and one partial PopulationSummary, merged on the driver with `PopulationSummary.merge`.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import pickle
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from b12ms.knowledge import Knowledge
from b12ms.population.bulk import ExportFile, classify_line
from b12ms.population.screen import (
    MALFORMED_KEPT,
    EngineResult,
    Malformed,
    Progress,
    WorklistSorter,
    assess_resources,
)
from b12ms.population.summary import PopulationSummary

DEFAULT_MASTER = "local[*]"
LINES_PER_PARTITION = 50_000  # resources per partition when grouping by patient


def spark_session(master: str | None = None, app_name: str = "b12ms-screen") -> Any:
    """A SparkSession for the screen: `master` (default $B12MS_SPARK_MASTER or local[*]).

    Local mode binds to 127.0.0.1 with the UI off, and the executors' Python is this one.
    """
    from pyspark.sql import SparkSession

    master = master or os.environ.get("B12MS_SPARK_MASTER") or DEFAULT_MASTER
    builder = SparkSession.builder.master(master).appName(app_name)
    if master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (
            builder.config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "8")
        )
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


# --------------------------------------------------------------------------------------------
# Executor-side functions (module level so they pickle by reference).


def _classify_partition(
    lines: Iterable[tuple[int, int, str]],
) -> Iterator[tuple[Any, ...]]:
    """(file_idx, line_no, text) -> tagged tuples; blank lines vanish."""
    for fi, ln, text in lines:
        c = classify_line(text)
        kind = c.kind
        if kind == "resource":
            yield ("resource", c.patient, fi, ln, text, c.medication_ref)
        elif kind == "medication":
            yield ("medication", c.medication_id, fi, ln, text)
        elif kind == "malformed":
            yield ("malformed", fi, ln, c.reason)
        elif kind != "blank":
            yield (kind,)


@functools.cache
def _worker_kb() -> Knowledge:
    from b12ms.knowledge import load_knowledge

    return load_knowledge()


def _assess_partition(
    groups: Iterable[tuple[str, Iterable[tuple[int, int, str]]]],
    as_of: dt.date,
    kb_sha256: str,
) -> Iterator[tuple[str, Any]]:
    """Per patient: assess; yields ("row", json) per worklist row, then ("summary", pickle)."""
    kb = _worker_kb()
    if kb.sha256 != kb_sha256:
        raise RuntimeError(
            f"executor knowledge base {kb.sha256[:12]} differs from the driver's "
            f"{kb_sha256[:12]}: install the same b12ms on every node"
        )
    summary = PopulationSummary(
        as_of=as_of, kb_version=kb.version, kb_sha256=kb.sha256, engine="spark"
    )
    loads = json.loads
    for _, items in groups:
        resources = [loads(text) for _, _, text in sorted(items)]
        a, gaps, row = assess_resources(resources, kb, as_of)
        summary.add(a, gaps)
        if row is not None:
            yield ("row", json.dumps(row))
    yield ("summary", pickle.dumps(summary, protocol=pickle.HIGHEST_PROTOCOL))


# --------------------------------------------------------------------------------------------
# Driver.


def run_spark(
    files: list[ExportFile],
    *,
    kb: Knowledge,
    as_of: dt.date,
    summary: PopulationSummary,
    sorter: WorklistSorter,
    progress: Progress,
    spark: Any = None,
) -> EngineResult:
    """Read, group and assess an export with Spark; patients go to `summary` and `sorter`."""
    from pyspark import StorageLevel

    spark = spark or spark_session()
    sc = spark.sparkContext
    kept = [f for f in files if f.kept]
    result = EngineResult(files_read=len(kept))

    def numbered(idx: int, f: ExportFile) -> Any:
        return (
            sc.textFile(f.path.resolve().as_uri())
            .zipWithIndex()
            .map(lambda t, i=idx: (i, t[1] + 1, t[0]))
        )

    lines = sc.union([numbered(i, f) for i, f in enumerate(kept)])
    tagged = lines.mapPartitions(_classify_partition).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts = tagged.map(lambda t: t[0]).countByValue()
        result.malformed_total = int(counts.get("malformed", 0))
        result.without_patient = int(counts.get("orphan", 0))
        result.resources_read = sum(int(v) for k, v in counts.items() if k != "malformed")
        progress.read(result.resources_read + result.malformed_total)
        if result.malformed_total:
            bad = tagged.filter(lambda t: t[0] == "malformed").map(lambda t: t[1:])
            result.malformed = [
                Malformed(file=kept[fi].name, line=ln, reason=reason)
                for fi, ln, reason in bad.takeOrdered(MALFORMED_KEPT, key=lambda t: (t[0], t[1]))
            ]
        resources = tagged.filter(lambda t: t[0] == "resource")
        by_patient = resources.map(lambda t: (t[1], (t[2], t[3], t[4])))
        medications = tagged.filter(lambda t: t[0] == "medication").map(
            lambda t: (t[1], (t[2], t[3], t[4]))
        )
        wanted = resources.filter(lambda t: t[5] is not None).map(lambda t: (t[5], t[1])).distinct()
        attached = wanted.join(medications).map(lambda kv: kv[1])
        n_lines = int(counts.get("resource", 0))
        partitions = max(sc.defaultParallelism, n_lines // LINES_PER_PARTITION + 1)
        groups = by_patient.union(attached).groupByKey(numPartitions=partitions)
        sha = kb.sha256
        outputs = groups.mapPartitions(
            lambda it: _assess_partition(it, as_of, sha), preservesPartitioning=False
        )
        progress.patients_total(resources.map(lambda t: t[1]).distinct().count())
        for tag, payload in outputs.toLocalIterator(prefetchPartitions=True):
            if tag == "row":
                sorter.add(json.loads(payload))
            else:
                # Produced by our own executors from this very job.
                part: PopulationSummary = pickle.loads(payload)  # noqa: S301
                summary.merge(part)
                progress.assessed(part.patients)
    finally:
        tagged.unpersist()
    return result
