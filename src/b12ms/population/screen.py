"""`b12ms screen`: a FHIR Bulk Data export folder in, a care-gap worklist (and summary) out.

The engines (DuckDB, embedded, the default; PySpark for clusters) only read, filter, group and
parallelise. Every patient is assessed by `assess_resources`, exactly what `b12ms assess` runs:
`record_from_resources` -> `assess` -> `care_gaps` -> `worklist_row`. Nothing clinical is
restated in SQL.

Memory stays bounded whatever the export's size: the engines stream one patient's resources
at a time, the summary holds counts and one number per tested patient, and worklist rows are
sorted through temporary files when there are many (`WorklistSorter`). Outputs are written to
a temporary file beside the target and renamed, so a run that dies leaves no partial file.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import heapq
import json
import os
import pickle
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Protocol

from b12ms.assessment import Assessment
from b12ms.care_gaps import WORKLIST_COLUMNS, CareGap, care_gaps, worklist_row
from b12ms.engine import assess
from b12ms.errors import B12msError, InputError
from b12ms.fhir.extract import record_from_resources
from b12ms.knowledge import Knowledge
from b12ms.population.bulk import ExportFile, discover
from b12ms.population.summary import PopulationSummary

ENGINES = ("duckdb", "spark")
OUTPUT_SUFFIXES = (".csv", ".parquet")
MALFORMED_KEPT = 10_000  # malformed lines listed in the summary (all are counted)


class OutputError(B12msError):
    """An output cannot be written (bad suffix, unwritable folder)."""

    exit_code = 3


# --------------------------------------------------------------------------------------------
# One patient: exactly what `b12ms assess` does.


def assess_resources(
    resources: Iterable[Mapping[str, Any]], kb: Knowledge, as_of: dt.date
) -> tuple[Assessment, tuple[CareGap, ...], dict[str, Any] | None]:
    """Assess one patient's resources: (assessment, care gaps, worklist row or None)."""
    record = record_from_resources(resources)
    a = assess(record, kb, as_of=as_of)
    gaps = care_gaps(a, kb)
    return a, gaps, worklist_row(a, gaps)


def row_key(row: Mapping[str, Any]) -> tuple[int, str]:
    """Worklist order: priority, then patient id."""
    return (int(row["priority"]), str(row["patient_id"]))


# --------------------------------------------------------------------------------------------
# What an engine hands back.


@dataclasses.dataclass(kw_only=True)
class Malformed:
    """A malformed line: where it is and why it was skipped."""

    file: str
    line: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as in the summary's malformed_lines."""
        return {"file": self.file, "line": self.line, "reason": self.reason}


@dataclasses.dataclass(kw_only=True)
class EngineResult:
    """Input-level facts an engine found while reading (the patients go to the summary)."""

    resources_read: int = 0
    files_read: int = 0
    without_patient: int = 0  # kept types with no usable patient reference (Patient: no id)
    malformed_total: int = 0
    malformed: list[Malformed] = dataclasses.field(default_factory=list)  # first MALFORMED_KEPT


class Progress(Protocol):
    """Progress callbacks an engine calls (no-ops when no bar is shown)."""

    def read(self, resources: int) -> None:
        """`resources` more lines read."""

    def patients_total(self, total: int) -> None:
        """The number of patients to assess, once known."""

    def assessed(self, patients: int) -> None:
        """`patients` more patients assessed."""


class NoProgress:
    """Progress that shows nothing."""

    def read(self, resources: int) -> None:
        """Ignore."""

    def patients_total(self, total: int) -> None:
        """Ignore."""

    def assessed(self, patients: int) -> None:
        """Ignore."""


class RichProgress:
    """A rich progress bar on stderr: resources read, patients assessed."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._read = self._bar.add_task("resources read", total=None)
        self._assessed = self._bar.add_task("patients assessed", total=None)

    def __enter__(self) -> RichProgress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def read(self, resources: int) -> None:
        """Advance the resources counter."""
        self._bar.advance(self._read, resources)

    def patients_total(self, total: int) -> None:
        """Set the patients total."""
        self._bar.update(self._read, total=self._bar.tasks[self._read].completed)
        self._bar.update(self._assessed, total=total)

    def assessed(self, patients: int) -> None:
        """Advance the patients counter."""
        self._bar.advance(self._assessed, patients)


# --------------------------------------------------------------------------------------------
# Worklist rows: sorted with bounded memory, written atomically.


class WorklistSorter:
    """Collects worklist rows in any order; yields them in worklist order.

    Up to `chunk_rows` rows are held in memory; beyond that, sorted runs are pickled to files
    in `workdir` and merged lazily.
    """

    def __init__(self, workdir: Path, chunk_rows: int = 100_000) -> None:
        self._workdir = workdir
        self._chunk_rows = chunk_rows
        self._rows: list[dict[str, Any]] = []
        self._runs: list[Path] = []
        self.count = 0

    def add(self, row: dict[str, Any]) -> None:
        """Add one row."""
        self._rows.append(row)
        self.count += 1
        if len(self._rows) >= self._chunk_rows:
            self._spill()

    def _spill(self) -> None:
        self._rows.sort(key=row_key)
        path = self._workdir / f"worklist-run-{len(self._runs):05d}.pickle"
        with path.open("wb") as f:
            for row in self._rows:
                pickle.dump(row, f, protocol=pickle.HIGHEST_PROTOCOL)
        self._runs.append(path)
        self._rows = []

    @staticmethod
    def _read_run(path: Path) -> Iterator[dict[str, Any]]:
        with path.open("rb") as f:
            while True:
                try:
                    # Our own temporary file, written just above by this process.
                    yield pickle.load(f)  # noqa: S301
                except EOFError:
                    return

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every row, in worklist order."""
        self._rows.sort(key=row_key)
        if not self._runs:
            yield from self._rows
            return
        runs = [self._read_run(p) for p in self._runs]
        yield from heapq.merge(*runs, iter(self._rows), key=row_key)


def csv_cell(value: Any) -> str:
    """A worklist value as CSV text: empty for none, true/false for booleans."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


_PARQUET_TYPES = {
    "priority": "int64",
    "latest_b12_value": "float64",
    "latest_b12_value_si": "float64",
    "should_test": "bool_",
    "ms": "bool_",
    "urgent": "bool_",
    "age": "int64",
}


def _parquet_schema(sample: list[Mapping[str, Any]]) -> Any:
    """Arrow schema of the worklist; a column not listed above gets its type from the first
    rows (booleans, integers, floats, else text), so new columns need no change here."""
    import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type stubs

    def infer(column: str) -> Any:
        name = _PARQUET_TYPES.get(column)
        if name is None:
            value = next((r[column] for r in sample if r.get(column) is not None), None)
            name = (
                "bool_"
                if isinstance(value, bool)
                else "int64"
                if isinstance(value, int)
                else "float64"
                if isinstance(value, float)
                else "string"
            )
        return getattr(pa, name)()

    return pa.schema([(c, infer(c)) for c in WORKLIST_COLUMNS])


@contextlib.contextmanager
def atomic_output(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path`; rename it to `path` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        kwargs: dict[str, Any] = {"encoding": "utf-8", "newline": ""} if "b" not in mode else {}
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; an output is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_worklist(rows: Iterable[Mapping[str, Any]], path: Path, batch_rows: int = 65_536) -> int:
    """Write rows (already in worklist order) as CSV or Parquet, by suffix; returns the count."""
    n = 0
    if path.suffix.lower() == ".csv":
        with atomic_output(path) as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(WORKLIST_COLUMNS)
            for row in rows:
                w.writerow([csv_cell(row[c]) for c in WORKLIST_COLUMNS])
                n += 1
        return n
    import pyarrow as pa
    import pyarrow.parquet as pq  # type: ignore[import-untyped]  # no type stubs

    it = iter(rows)
    batch: list[Mapping[str, Any]] = [row for _, row in zip(range(batch_rows), it, strict=False)]
    schema = _parquet_schema(batch)
    with atomic_output(path, "wb") as f, pq.ParquetWriter(f, schema) as writer:
        while True:
            n += len(batch)
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            batch = [row for _, row in zip(range(batch_rows), it, strict=False)]
            if not batch:
                break
    return n


def read_worklist(path: Path) -> list[dict[str, str]]:
    """A written worklist (CSV or Parquet) as rows of CSV text, for comparing outputs."""
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))
    import pyarrow.parquet as pq

    return [{k: csv_cell(v) for k, v in r.items()} for r in pq.read_table(path).to_pylist()]


# --------------------------------------------------------------------------------------------
# The screen.


@dataclasses.dataclass(kw_only=True)
class ScreenResult:
    """What a screen did: the summary, the worklist size and what it skipped."""

    summary: PopulationSummary
    engine_result: EngineResult
    worklist_rows: int
    out: Path

    def summary_dict(self) -> dict[str, Any]:
        """The summary as written by --summary: PopulationSummary.to_dict() plus the count of
        resources without a patient and of all malformed lines (the list is capped)."""
        d = self.summary.to_dict()
        d["resources_without_patient"] = self.engine_result.without_patient
        d["malformed_lines_total"] = self.engine_result.malformed_total
        return d


def check_output(path: Path) -> None:
    """Raise OutputError unless `path` ends in .csv or .parquet."""
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise OutputError(f"{path}: the worklist must be a .csv or .parquet file")


def screen(
    directory: Path | str,
    *,
    out: Path | str,
    kb: Knowledge | None = None,
    engine: str = "duckdb",
    as_of: dt.date | None = None,
    summary_path: Path | str | None = None,
    report_path: Path | str | None = None,
    progress: Progress | None = None,
    work_dir: Path | str | None = None,
    spark: Any = None,
    memory_limit: str | None = None,
) -> ScreenResult:
    """Screen a FHIR Bulk Data export folder; write the worklist (and summary, report).

    Raises InputError (exit 3) when the folder is missing or holds no FHIR NDJSON, and
    OutputError for an output that is not .csv/.parquet. Malformed lines are skipped and
    listed in the result (the CLI exits 4). `work_dir` holds temporary files (default: a
    folder beside `out`, removed at the end); `spark` is an existing SparkSession to use.
    """
    from b12ms.knowledge import load_knowledge

    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    out = Path(out)
    check_output(out)
    render = _report_renderer() if report_path is not None else None
    files = discover(directory)
    kb = kb or load_knowledge()
    as_of = as_of or dt.date.today()
    progress = progress or NoProgress()
    start = time.perf_counter()
    summary = PopulationSummary(
        as_of=as_of, kb_version=kb.version, kb_sha256=kb.sha256, engine=engine
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(
        tempfile.mkdtemp(prefix=".b12ms-screen-", dir=work_dir if work_dir else out.parent)
    )
    try:
        sorter = WorklistSorter(scratch)
        result = _run_engine(
            engine,
            files,
            kb=kb,
            as_of=as_of,
            summary=summary,
            sorter=sorter,
            progress=progress,
            scratch=scratch,
            spark=spark,
            memory_limit=memory_limit,
        )
        summary.resources_read = result.resources_read
        summary.files_read = result.files_read
        summary.malformed_lines = [m.to_dict() for m in result.malformed]
        n = write_worklist(sorter.rows(), out)
        summary.seconds = round(time.perf_counter() - start, 3)
        screened = ScreenResult(summary=summary, engine_result=result, worklist_rows=n, out=out)
        if summary_path is not None:
            with atomic_output(Path(summary_path)) as f:
                json.dump(screened.summary_dict(), f, indent=2, ensure_ascii=False)
                f.write("\n")
        if render is not None and report_path is not None:
            html = render(screened.summary_dict(), sorter.rows(), kb)
            with atomic_output(Path(report_path)) as f:
                f.write(html)
        return screened
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


Renderer = Callable[[Mapping[str, Any], Iterable[Mapping[str, Any]], Knowledge], str]


def _report_renderer() -> Renderer:
    try:
        from b12ms.population import report
    except ImportError:
        raise OutputError(
            "--report is not available in this version of b12ms (no HTML report module)"
        ) from None
    render: Renderer | None = getattr(report, "render_report", None)
    if render is None:
        raise OutputError("--report is not available in this version of b12ms")
    return render


def _run_engine(
    engine: str,
    files: list[ExportFile],
    *,
    kb: Knowledge,
    as_of: dt.date,
    summary: PopulationSummary,
    sorter: WorklistSorter,
    progress: Progress,
    scratch: Path,
    spark: Any,
    memory_limit: str | None,
) -> EngineResult:
    if engine == "spark":
        from b12ms.population.spark_engine import run_spark

        return run_spark(
            files,
            kb=kb,
            as_of=as_of,
            summary=summary,
            sorter=sorter,
            progress=progress,
            spark=spark,
        )
    from b12ms.population.duckdb_engine import run_duckdb

    return run_duckdb(
        files,
        kb=kb,
        as_of=as_of,
        summary=summary,
        sorter=sorter,
        progress=progress,
        scratch=scratch,
        memory_limit=memory_limit,
    )


def malformed_messages(result: EngineResult, limit: int = 20) -> list[str]:
    """One stderr line per malformed line, at most `limit`, then a count of the rest."""
    lines = [f"skipped {m.file} line {m.line}: {m.reason}" for m in result.malformed[:limit]]
    rest = result.malformed_total - len(lines)
    if rest > 0:
        lines.append(f"and {rest:,} more malformed lines (listed in the summary)")
    return lines


def stderr_is_terminal() -> bool:
    """Whether a progress bar should be shown."""
    return sys.stderr.isatty()
