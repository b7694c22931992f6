"""Write a synthetic population as a FHIR R4 Bulk Data export: NDJSON per resource type.

    generate(Path("pop"), patients=10_000, seed=1, as_of=date(2026, 11, 1))

writes into `pop/`:

- `<Type>.000.ndjson`, `<Type>.001.ndjson`, ...: one resource type per file, split into
  numbered files when a file would pass `max_file_bytes` (content order does not depend on
  the split: concatenating a type's files gives the same text for any limit);
- `ground_truth.ndjson`: one JSON object per patient, what the generator put in;
- `malformed.json`: the deliberately broken lines (file, 1-based line number, kind);
- `manifest.json`: shaped like a Bulk Data complete-status manifest.

The population is streamed: one patient is held in memory at a time. Files are written into a
temporary folder next to `out` and renamed into place at the end, so an interrupted run never
leaves a half-written population at `out`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from b12ms.errors import EXIT_USAGE, B12msError
from b12ms.synth._patient import RELEVANT, Patient

GENERATOR = "b12ms-synth/1"
MIB = 1 << 20
DEFAULT_MAX_FILE_BYTES = 64 * MIB
DEFAULT_AS_OF = dt.date(2026, 11, 1)
GROUND_TRUTH = "ground_truth.ndjson"
MALFORMED = "malformed.json"
MANIFEST = "manifest.json"
_PROGRESS_EVERY = 500
_FLUSH_LINES = 2048


class SynthError(B12msError):
    """The population cannot be written as asked (a bad argument or output folder)."""

    exit_code = EXIT_USAGE


@dataclasses.dataclass(frozen=True, slots=True)
class SynthSummary:
    """What `generate` wrote."""

    out: Path
    patients: int
    seed: int
    as_of: dt.date
    resources: dict[str, int]  # valid resources per type (malformed lines not counted)
    files: tuple[str, ...]  # NDJSON resource files, in manifest order
    malformed: int
    b12_relevant: int  # resources about B12, its risk factors, symptoms, MS or treatment
    bytes_written: int  # resource files only
    seconds: float

    @property
    def total_resources(self) -> int:
        """All valid resources written."""
        return sum(self.resources.values())

    def describe(self) -> str:
        """One line for people."""
        rate = self.patients / self.seconds * 60 if self.seconds > 0 else float("inf")
        return (
            f"wrote {self.patients} patients, {self.total_resources} resources "
            f"({self.b12_relevant} B12-relevant, {self.malformed} malformed lines) in "
            f"{len(self.files)} files, {self.bytes_written / MIB:.1f} MiB, to {self.out} "
            f"in {self.seconds:.1f} s ({rate:,.0f} patients/min)"
        )


class _TypeWriter:
    """Lines of one resource type into numbered files, a new file past the size limit."""

    __slots__ = ("_buf", "_fh", "_folder", "_max", "counts", "line", "name", "rtype", "size")

    def __init__(self, folder: Path, rtype: str, max_bytes: int) -> None:
        self._folder = folder
        self.rtype = rtype
        self._max = max_bytes
        self._buf: list[str] = []
        self._fh: IO[str] | None = None
        self.counts: list[tuple[str, int]] = []  # (file name, lines) per finished file
        self.name = ""
        self.line = 0  # lines in the current file
        self.size = 0  # bytes in the current file

    def add(self, text: str) -> None:
        n = len(text) + 1  # ASCII: characters are bytes
        if self._fh is None or (self.size and self.size + n > self._max):
            self._next_file()
        self._buf.append(text)
        self.line += 1
        self.size += n
        if len(self._buf) >= _FLUSH_LINES:
            self._flush()

    def _flush(self) -> None:
        if self._buf and self._fh is not None:
            self._buf.append("")
            self._fh.write("\n".join(self._buf))
            self._buf.clear()

    def _next_file(self) -> None:
        self.close()
        self.name = f"{self.rtype}.{len(self.counts):03d}.ndjson"
        self._fh = open(self._folder / self.name, "w", encoding="ascii", newline="\n")  # noqa: SIM115
        self.line = self.size = 0

    def close(self) -> None:
        if self._fh is not None:
            self._flush()
            self._fh.close()
            self._fh = None
            self.counts.append((self.name, self.line))


class _Output:
    """The temporary folder and its writers; renamed to `out` on success, removed otherwise."""

    def __init__(self, out: Path, force: bool) -> None:
        self.out = out
        self.force = force
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        out = self.out
        if out.exists():
            if not out.is_dir():
                raise SynthError(f"{out} exists and is not a folder")
            if any(out.iterdir()):
                if not self.force:
                    raise SynthError(f"{out} is not empty; use --force to replace it")
                if not _written_by_synth(out):
                    raise SynthError(
                        f"{out} is not empty and was not written by b12ms synth; "
                        "--force only replaces an earlier synthetic population"
                    )
        parent = out.parent
        parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))
        return self.tmp

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tmp = self.tmp
        if tmp is None:
            return
        if exc_type is not None:
            shutil.rmtree(tmp, ignore_errors=True)
            return
        out = self.out
        old: Path | None = None
        if out.exists():
            if any(out.iterdir()):
                old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
                old.rmdir()
                out.rename(old)
            else:
                out.rmdir()
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _close_all(writers: dict[str, _TypeWriter]) -> None:
    for w in writers.values():
        w.close()


def _written_by_synth(folder: Path) -> bool:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        return GENERATOR.split("/")[0] in manifest["extension"]["generator"]
    except (OSError, ValueError, KeyError, TypeError):
        return False


def generate(
    out: Path,
    *,
    patients: int,
    seed: int,
    as_of: dt.date = DEFAULT_AS_OF,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    progress: Callable[[int], None] | None = None,
    force: bool = False,
) -> SynthSummary:
    """Write `patients` synthetic patients as FHIR R4 Bulk Data NDJSON into the folder `out`.

    Deterministic: the same patients, seed and as-of date give byte-identical files, and
    patient i is the same whatever `patients` is. `progress` is called with the number of
    patients written so far (every few hundred, and at the end). Raises SynthError for bad
    arguments or an output folder that is not empty (unless `force` and it holds an earlier
    synthetic population, which is then replaced).
    """
    if patients < 1:
        raise SynthError("--patients must be at least 1")
    if seed < 0:
        raise SynthError("--seed must be 0 or more")
    if max_file_bytes < 1024:
        raise SynthError("--max-file-mb is too small (at least 1 KiB per file)")
    started = time.perf_counter()
    out = Path(out).absolute()
    day0 = as_of.toordinal()
    writers: dict[str, _TypeWriter] = {}
    resources: dict[str, int] = {}
    malformed: list[dict[str, Any]] = []
    relevant = 0
    dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode
    with _Output(out, force) as tmp, contextlib.ExitStack() as closing:
        closing.callback(_close_all, writers)
        with open(tmp / GROUND_TRUTH, "w", encoding="ascii", newline="\n") as truth_file:
            truth_buf: list[str] = []
            for i in range(patients):
                p = Patient(seed, i, day0)
                for rtype, line, tag in p.lines:
                    w = writers.get(rtype)
                    if w is None:
                        w = writers[rtype] = _TypeWriter(tmp, rtype, max_file_bytes)
                        resources[rtype] = 0
                    w.add(line)
                    if not tag:
                        resources[rtype] += 1
                    elif tag == RELEVANT:
                        resources[rtype] += 1
                        relevant += 1
                    else:
                        malformed.append(
                            {
                                "file": w.name,
                                "line": w.line,
                                "kind": tag,
                                "resourceType": rtype,
                                "patient": p.pid,
                            }
                        )
                truth_buf.append(dumps(p.truth))
                if len(truth_buf) >= 256:
                    truth_buf.append("")
                    truth_file.write("\n".join(truth_buf))
                    truth_buf.clear()
                if progress is not None and (i + 1) % _PROGRESS_EVERY == 0:
                    progress(i + 1)
            truth_buf.append("")
            truth_file.write("\n".join(truth_buf) if len(truth_buf) > 1 else "")
        closing.close()
        files: list[tuple[str, str, int]] = [
            (rtype, name, count)
            for rtype in sorted(writers)
            for name, count in writers[rtype].counts
        ]
        (tmp / MALFORMED).write_text(json.dumps(malformed, indent=1) + "\n", encoding="ascii")
        manifest = {
            "transactionTime": f"{as_of.isoformat()}T00:00:00Z",
            "request": (
                f"b12ms synth --patients {patients} --seed {seed} --as-of {as_of.isoformat()}"
            ),
            "requiresAccessToken": False,
            "output": [{"type": t, "url": name, "count": n} for t, name, n in files],
            "error": [],
            "extension": {
                "generator": GENERATOR,
                "patients": patients,
                "seed": seed,
                "as_of": as_of.isoformat(),
                "max_file_bytes": max_file_bytes,
                "ground_truth": GROUND_TRUTH,
                "malformed": MALFORMED,
                "counts_are": "lines in the file, including deliberately malformed lines",
            },
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="ascii")
        size = sum((tmp / name).stat().st_size for _, name, _ in files)
    if progress is not None:
        progress(patients)
    return SynthSummary(
        out=out,
        patients=patients,
        seed=seed,
        as_of=as_of,
        resources=dict(sorted(resources.items())),
        files=tuple(name for _, name, _ in files),
        malformed=len(malformed),
        b12_relevant=relevant,
        bytes_written=size,
        seconds=time.perf_counter() - started,
    )
