"""`b12ms screen`: Bulk Data folders to worklists, with every patient assessed as by `assess`."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from b12ms.care_gaps import WORKLIST_COLUMNS, care_gaps, worklist_row
from b12ms.engine import assess
from b12ms.fhir.extract import record_from_resources
from b12ms.knowledge import load_knowledge
from b12ms.population import bulk, screen

pytest.importorskip("duckdb")
pytest.importorskip("pyarrow")

CASES = Path(__file__).parent / "cases"
SYNTHEA_10 = Path(__file__).parents[2] / "shared" / "data" / "synthea-10"
AS_OF = dt.date(2026, 11, 1)
KB = load_knowledge()

# Where each type goes in the case export: several file-name conventions, gzip, and a file
# whose name says nothing (its type comes from its first line).
_FILE_FOR = {
    "Patient": "Patient.000.ndjson",
    "Observation": "Observation_1.ndjson",
    "Condition": "2b7e1f0a-5c1d-4e8f-9a3b-6d2c1e0f9a8b_Condition.ndjson",
    "MedicationRequest": "MedicationRequest.000.ndjson.gz",
    "MedicationStatement": "sub/MedicationStatement.jsonl",
    "Procedure": "part-0007.ndjson",
    "Medication": "Medication.000.ndjson",
}


def _relabel(resource: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """The resource with its patient id (or references to it) changed from old to new."""
    text = json.dumps(resource)
    text = text.replace(f'"Patient/{old}"', f'"Patient/{new}"')
    out: dict[str, Any] = json.loads(text)
    if out["resourceType"] == "Patient":
        out["id"] = new
    return out


def build_case_export(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Write the case bundles as one Bulk Data export; returns each patient's own resources.

    Every case becomes one patient (id = case name). One more patient takes metformin through
    a referenced Medication resource. Encounters and a log.ndjson are added to be ignored.
    """
    per_patient: dict[str, list[dict[str, Any]]] = {}
    by_file: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(CASES.glob("*.json")):
        if path.name.endswith(".expected.json"):
            continue
        bundle = json.loads(path.read_text())
        resources = [e["resource"] for e in bundle["entry"]]
        (patient,) = [r for r in resources if r["resourceType"] == "Patient"]
        pid = path.stem
        mine = [_relabel(r, patient["id"], pid) for r in resources]
        per_patient[pid] = mine
        for r in mine:
            by_file.setdefault(_FILE_FOR[r["resourceType"]], []).append(r)
    medication = {
        "resourceType": "Medication",
        "id": "med-metformin",
        "code": {
            "coding": [
                {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": "860975",
                    "display": "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet",
                }
            ]
        },
    }
    extra = [
        {"resourceType": "Patient", "id": "med-ref", "birthDate": "1960-02-01", "gender": "male"},
        {
            "resourceType": "MedicationRequest",
            "id": "mr-ref",
            "status": "active",
            "intent": "order",
            "medicationReference": {"reference": "Medication/med-metformin"},
            "subject": {"reference": "urn:uuid:med-ref"},
            "authoredOn": "2015-03-01",
        },
    ]
    per_patient["med-ref"] = [*extra, medication]
    by_file["Patient.000.ndjson"].append(extra[0])
    by_file["MedicationRequest.000.ndjson.gz"].append(extra[1])
    by_file["Medication.000.ndjson"] = [medication]
    for name, resources in by_file.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(json.dumps(r) + "\n" for r in resources)
        if name.endswith(".gz"):
            path.write_bytes(gzip.compress(text.encode()))
        else:
            path.write_text(text)
    encounter = {"resourceType": "Encounter", "id": "e1", "subject": {"reference": "Patient/x"}}
    (folder / "Encounter.000.ndjson").write_text(json.dumps(encounter) + "\n")
    (folder / "log.ndjson").write_text('{"type": "kickoff"}\n')
    (folder / "notes.txt").write_text("not part of the export\n")
    return per_patient


def direct_rows(
    per_patient: dict[str, list[dict[str, Any]]], as_of: dt.date = AS_OF
) -> dict[str, dict[str, Any] | None]:
    """Each patient assessed on its own, as `b12ms assess` does."""
    out = {}
    for pid, resources in per_patient.items():
        a = assess(record_from_resources(resources), KB, as_of=as_of)
        out[pid] = worklist_row(a, care_gaps(a, KB))
    return out


def screened_rows(path: Path) -> list[dict[str, str]]:
    """A written worklist, as CSV text."""
    return screen.read_worklist(path)


def as_text(row: dict[str, Any]) -> dict[str, str]:
    """A worklist row as its CSV text."""
    return {c: screen.csv_cell(row[c]) for c in WORKLIST_COLUMNS}


@pytest.fixture(scope="module")
def case_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("case-export")
    return folder, build_case_export(folder)


@pytest.fixture(scope="module")
def case_screen(
    case_export: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[screen.ScreenResult, Path]:
    out = tmp_path_factory.mktemp("case-out") / "worklist.csv"
    return screen.screen(case_export[0], out=out, as_of=AS_OF, kb=KB), out


def test_discover_types_from_names_and_first_lines(case_export: tuple[Path, Any]) -> None:
    """Types come from every file-name convention, else the first line; logs are left out."""
    files = {f.name: f.resource_type for f in bulk.discover(case_export[0])}
    assert files == {
        "2b7e1f0a-5c1d-4e8f-9a3b-6d2c1e0f9a8b_Condition.ndjson": "Condition",
        "Encounter.000.ndjson": "Encounter",
        "Medication.000.ndjson": "Medication",
        "MedicationRequest.000.ndjson.gz": "MedicationRequest",
        "Observation_1.ndjson": "Observation",
        "Patient.000.ndjson": "Patient",
        "part-0007.ndjson": "Procedure",
        "sub/MedicationStatement.jsonl": "MedicationStatement",
    }


def test_screen_equals_assess_on_every_case(
    case_export: tuple[Path, dict[str, Any]], case_screen: tuple[screen.ScreenResult, Path]
) -> None:
    """Every case patient gets the same worklist row (or none) as when assessed on its own."""
    result, out = case_screen
    expected = direct_rows(case_export[1])
    got = {r["patient_id"]: r for r in screened_rows(out)}
    assert result.summary.patients == len(expected) > 80
    assert set(got) == {pid for pid, row in expected.items() if row is not None}
    for pid, row in expected.items():
        if row is not None:
            assert got[pid] == as_text(row), pid
    assert got["med-ref"]["risk_factors"].split(";")[0] == "risk.metformin"


def test_worklist_order_and_columns(case_screen: tuple[screen.ScreenResult, Path]) -> None:
    """The worklist has the stable columns in order and is sorted by priority, then patient."""
    _, out = case_screen
    with out.open() as f:
        assert f.readline().rstrip("\n").split(",") == list(WORKLIST_COLUMNS)
    rows = screened_rows(out)
    keys = [(int(r["priority"]), r["patient_id"]) for r in rows]
    assert keys == sorted(keys)


def test_summary_counts_inputs(case_screen: tuple[screen.ScreenResult, Path]) -> None:
    """Files read are the kept types only; no malformed lines; summary agrees with the rows."""
    result, _ = case_screen
    d = result.summary_dict()
    assert d["files_read"] == 7  # not Encounter, not the log
    assert d["malformed_lines"] == [] and d["malformed_lines_total"] == 0
    assert d["on_worklist"] == result.worklist_rows
    assert d["resources_without_patient"] == 0


def test_csv_and_parquet_hold_the_same_worklist(
    case_export: tuple[Path, Any], case_screen: tuple[screen.ScreenResult, Path], tmp_path: Path
) -> None:
    """The Parquet worklist holds exactly the CSV's rows, typed (booleans, numbers)."""
    import pyarrow.parquet as pq

    out = tmp_path / "worklist.parquet"
    screen.screen(case_export[0], out=out, as_of=AS_OF, kb=KB)
    assert screen.read_worklist(out) == screened_rows(case_screen[1])
    schema = pq.read_schema(out)
    assert schema.names == list(WORKLIST_COLUMNS)
    assert str(schema.field("priority").type) == "int64"
    assert str(schema.field("urgent").type) == "bool"


def _write(path: Path, lines: list[str], gz: bool = False) -> None:
    data = "".join(line + "\n" for line in lines).encode()
    path.write_bytes(gzip.compress(data) if gz else data)


def _malformed_export(folder: Path) -> None:
    p = json.dumps({"resourceType": "Patient", "id": "p1", "birthDate": "1970-01-01"})
    obs = json.dumps(
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": "Patient/p1"},
        }
    )
    _write(folder / "Patient.000.ndjson", [p, "", "{not json", "[1, 2]", '{"id": "x"}', "  "])
    _write(
        folder / "Observation.000.ndjson.gz",
        [obs, obs, '{"resourceType": "Observation", "subject": {"reference": "Group/1"}}', "nul"],
        gz=True,
    )
    _write(folder / "Condition.ndjson", [json.dumps({"resourceType": "Condition"}), '{"a":'])


def test_malformed_lines_reported_by_file_and_line(tmp_path: Path) -> None:
    """Bad lines are skipped and listed with their exact file and line (blank lines counted)."""
    folder = _make_malformed_export(tmp_path)
    result = screen.screen(folder, out=tmp_path / "w.csv", as_of=AS_OF, kb=KB)
    assert result.summary.malformed_lines == [
        {"file": "Condition.ndjson", "line": 2, "reason": "not valid JSON"},
        {"file": "Observation.000.ndjson.gz", "line": 4, "reason": "not valid JSON"},
        {"file": "Patient.000.ndjson", "line": 3, "reason": "not valid JSON"},
        {"file": "Patient.000.ndjson", "line": 4, "reason": "not a JSON object"},
        {"file": "Patient.000.ndjson", "line": 5, "reason": "no resourceType"},
    ]
    assert result.summary.patients == 1
    assert result.engine_result.without_patient == 2  # Group subject; Condition without one
    assert result.summary.resources_read == 5


def _make_malformed_export(tmp: Path) -> Path:
    (tmp / "in").mkdir(parents=True, exist_ok=True)
    _malformed_export(tmp / "in")
    return tmp / "in"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "b12ms", *args], capture_output=True, text=True, check=False
    )


def test_cli_exit_4_and_one_line_per_malformed_line(tmp_path: Path) -> None:
    """The CLI exits 4 after skipping lines, naming each on stderr, and writes the outputs."""
    folder = _make_malformed_export(tmp_path)
    out, summary = tmp_path / "w.csv", tmp_path / "s.json"
    proc = _cli("screen", str(folder), "--as-of", "2026-11-01", "--out", str(out), "--summary",
                str(summary), "--quiet")  # fmt: skip
    assert proc.returncode == 4, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == "b12ms: skipped Condition.ndjson line 2: not valid JSON"
    assert len(lines) == 5
    data = json.loads(summary.read_text())
    assert data["malformed_lines_total"] == 5 and data["engine"] == "duckdb"
    assert out.exists()


def test_stderr_is_capped_with_a_count() -> None:
    """Past 20 malformed lines, stderr gives a count instead of more lines."""
    result = screen.EngineResult(
        malformed_total=25,
        malformed=[screen.Malformed(file="a.ndjson", line=i, reason="x") for i in range(25)],
    )
    messages = screen.malformed_messages(result)
    assert len(messages) == 21
    assert messages[-1] == "and 5 more malformed lines (listed in the summary)"


@pytest.mark.parametrize("setup", ["missing", "empty", "no-fhir"])
def test_cli_exit_3_without_fhir_files(tmp_path: Path, setup: str) -> None:
    """A missing folder, an empty one, or one without FHIR NDJSON: exit 3, one line, no file."""
    folder = tmp_path / "in"
    if setup != "missing":
        folder.mkdir()
    if setup == "no-fhir":
        (folder / "log.ndjson").write_text('{"a": 1}\n')
        (folder / "readme.md").write_text("hello\n")
        (folder / "data.ndjson").write_text('{"not": "fhir"}\n')
    proc = _cli("screen", str(folder), "--out", str(tmp_path / "w.csv"), "--quiet")
    assert proc.returncode == 3
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("b12ms: error: ")
    assert not (tmp_path / "w.csv").exists()


def test_cli_rejects_an_unknown_worklist_suffix(tmp_path: Path) -> None:
    """--out must be .csv or .parquet."""
    proc = _cli("screen", str(tmp_path), "--out", str(tmp_path / "w.xlsx"), "--quiet")
    assert proc.returncode == 3 and "csv or .parquet" in proc.stderr


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_failed_run_leaves_no_file(
    case_export: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    """A run that dies part-way leaves neither the worklist nor a temporary file behind."""
    real = screen.WorklistSorter.rows

    def failing(self: screen.WorklistSorter) -> Any:
        for i, row in enumerate(real(self)):
            if i == 3:
                raise RuntimeError("disk on fire")
            yield row

    monkeypatch.setattr(screen.WorklistSorter, "rows", failing)
    out = tmp_path / f"worklist{suffix}"
    with pytest.raises(RuntimeError, match="disk on fire"):
        screen.screen(case_export[0], out=out, as_of=AS_OF, kb=KB)
    assert list(tmp_path.iterdir()) == []


def test_worklist_sorter_spills_and_merges(tmp_path: Path) -> None:
    """With a tiny chunk size, rows spill to sorted runs and merge back in worklist order."""
    sorter = screen.WorklistSorter(tmp_path, chunk_rows=7)
    rows = [{"priority": (i * 7) % 4 + 1, "patient_id": f"p{(i * 13) % 50:02d}"} for i in range(50)]
    for r in rows:
        sorter.add(r)
    assert len(list(tmp_path.glob("worklist-run-*"))) == 7
    assert list(sorter.rows()) == sorted(rows, key=screen.row_key)


def test_report_is_written(case_export: tuple[Path, Any], tmp_path: Path) -> None:
    """--report writes one HTML file from the summary and the worklist."""
    report = tmp_path / "report.html"
    screen.screen(case_export[0], out=tmp_path / "w.csv", as_of=AS_OF, kb=KB, report_path=report)
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>") or html.lower().startswith("<!doctype html>")
    assert "ms_numbness_indeterminate_urgent" in html


def test_screen_modules_stay_light() -> None:
    """Importing the screen does not import DuckDB, Spark or pandas until a run needs them."""
    code = (
        "import sys, b12ms.population.screen, b12ms.population.bulk; "
        "print([m for m in ('duckdb', 'pyspark', 'pandas', 'pyarrow') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_classify_line_rules() -> None:
    """The grouping rule: patient from subject (or patient), urn:uuid and absolute references."""
    c = bulk.classify_line
    assert c("   ").kind == "blank"
    assert c('{"resourceType": "Encounter"}').kind == "ignored"
    assert c('{"resourceType": "Observation", "subject": {}}').kind == "orphan"
    ref = "http://x/fhir/Patient/9/_history/2"
    sub = json.dumps({"resourceType": "Observation", "subject": {"reference": ref}})
    assert c(sub).patient == "9"
    pat = {
        "resourceType": "MedicationStatement",
        "subject": {},
        "patient": {"reference": "urn:uuid:u"},
    }
    assert c(json.dumps(pat)).patient == "u"
    med = {
        "resourceType": "MedicationRequest",
        "subject": {"reference": "Patient/a"},
        "medicationReference": {"reference": "Medication/m1"},
    }
    assert (c(json.dumps(med)).patient, c(json.dumps(med)).medication_ref) == ("a", "m1")


# --------------------------------------------------------------------------------------------
# A synthetic population (b12ms synth) and the real Synthea sample.


def _own_grouping(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Each patient's resources, grouped in plain Python (medications attached by reference)."""
    per: dict[str, list[dict[str, Any]]] = {}
    meds: dict[str, dict[str, Any]] = {}
    for f in bulk.discover(folder):
        if not f.kept:
            continue
        opener: Any = gzip.open if f.name.endswith(".gz") else open
        with opener(f.path, "rt") as fh:
            for line in fh:
                c = bulk.classify_line(line)
                if c.kind == "resource":
                    r = json.loads(line)
                    per.setdefault(c.patient or "", []).append(r)
                elif c.kind == "medication":
                    meds[c.medication_id or ""] = json.loads(line)
    for resources in per.values():
        refs = {bulk.classify(r).medication_ref for r in resources} - {None}
        resources.extend(meds[m] for m in sorted(refs) if m in meds)
    return per


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    synth = pytest.importorskip("b12ms.synth")
    folder = tmp_path_factory.mktemp("synth") / "pop"
    synth.generate(folder, patients=600, seed=7, as_of=AS_OF, max_file_bytes=4 << 20)
    return folder


def test_synthetic_population_screen_equals_assess(synthetic: Path, tmp_path: Path) -> None:
    """On 600 synthetic patients every row equals the patient's own assessment, and the
    malformed lines found are exactly those the generator planted."""
    out = tmp_path / "w.csv"
    result = screen.screen(synthetic, out=out, as_of=AS_OF, kb=KB)
    expected = direct_rows(_own_grouping(synthetic))
    assert result.summary.patients == 600
    got = {r["patient_id"]: r for r in screened_rows(out)}
    assert got == {pid: as_text(r) for pid, r in expected.items() if r is not None}
    planted = json.loads((synthetic / "malformed.json").read_text())
    assert sorted((m["file"], m["line"]) for m in result.summary.malformed_lines) == sorted(
        (m["file"], m["line"]) for m in planted
    )


@pytest.mark.skipif(not SYNTHEA_10.is_dir(), reason="shared/data/synthea-10 not beside the repo")
@pytest.mark.parametrize("as_of", [AS_OF, dt.date(1993, 11, 2)])
def test_real_synthea_export(tmp_path: Path, as_of: dt.date) -> None:
    """The real 10-patient Synthea export screens; its metformin (RxNorm 860975) user is found
    with risk.metformin, and every row equals the patient's own assessment."""
    out = tmp_path / "w.csv"
    result = screen.screen(SYNTHEA_10, out=out, as_of=as_of, kb=KB)
    per = _own_grouping(SYNTHEA_10)
    assert result.summary.patients == len(per) == 13
    assert result.summary.malformed_lines == []
    got = {r["patient_id"]: r for r in screened_rows(out)}
    expected = direct_rows(per, as_of)
    assert got == {pid: as_text(r) for pid, r in expected.items() if r is not None}
    metformin = [pid for pid, rs in per.items() if any("860975" in json.dumps(r) for r in rs)]
    assert metformin
    for pid in metformin:
        a = assess(record_from_resources(per[pid]), KB, as_of=as_of)
        assert a.finding("risk.metformin") is not None
        if not a.patient.deceased:  # alive on the as-of date: on the worklist for it
            assert "risk.metformin" in got[pid]["risk_factors"].split(";")
    if as_of == dt.date(1993, 11, 2):
        assert result.summary.metformin_users == len(metformin)


_RSS_SCRIPT = """
import datetime as dt, resource, sys
from b12ms.population.screen import screen
screen(sys.argv[1], out=sys.argv[2], as_of=dt.date(2026, 11, 1), memory_limit="200MB")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.slow
def test_memory_stays_bounded(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Peak RSS stays bounded: under 600 MiB with DuckDB held to 200 MB, and 20,000 patients
    need at most 200 MiB more than 2,000 (the FHIR reader's bounded caches filling up)."""
    synth = pytest.importorskip("b12ms.synth")
    peaks = {}
    for n in (2_000, 20_000):
        base = tmp_path_factory.mktemp(f"rss{n}")
        synth.generate(base / "pop", patients=n, seed=3, as_of=AS_OF)
        proc = subprocess.run(
            [sys.executable, "-c", _RSS_SCRIPT, str(base / "pop"), str(base / "w.csv")],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        peaks[n] = int(proc.stdout.split()[-1]) / 1024  # MiB
    assert peaks[20_000] < 600 and peaks[20_000] < peaks[2_000] + 200, peaks
