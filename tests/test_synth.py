"""`b12ms synth`: determinism, Bulk Data layout, valid FHIR, ground truth the engine agrees with."""

from __future__ import annotations

import collections
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from b12ms.cli import main
from b12ms.engine import assess
from b12ms.errors import EXIT_OK, EXIT_USAGE
from b12ms.fhir.extract import record_from_resources
from b12ms.knowledge import load_knowledge
from b12ms.synth import GROUND_TRUTH, MALFORMED, MANIFEST, SynthError, generate

AS_OF = dt.date(2026, 11, 1)
N = 200
SEED = 11
KB = load_knowledge()
SYMPTOM_IDS = {s.id for s in KB.symptoms}


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def resource_text(folder: Path) -> dict[str, bytes]:
    """Each resource type's NDJSON, its numbered files concatenated in order."""
    out: dict[str, bytes] = collections.defaultdict(bytes)
    for p in sorted(folder.glob("*.*.ndjson")):
        out[p.name.split(".")[0]] += p.read_bytes()
    return dict(out)


def truth(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / GROUND_TRUTH).read_text().splitlines()]


def lines(folder: Path) -> list[tuple[str, int, str]]:
    """(file, 1-based line number, text) of every resource line."""
    return [
        (p.name, n, text)
        for p in sorted(folder.glob("*.*.ndjson"))
        for n, text in enumerate(p.read_text().splitlines(), 1)
    ]


def parse(text: str) -> dict[str, Any] | None:
    """The resource on a line, or None when the line is not a FHIR resource."""
    try:
        r = json.loads(text)
    except ValueError:
        return None
    if not isinstance(r, dict) or "resourceType" not in r:
        return None
    return r


def by_patient(folder: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for _, _, text in lines(folder):
        r = parse(text)
        if r is None:
            continue
        owner = r.get("subject") or r.get("patient") or {"reference": f"Patient/{r['id']}"}
        out[owner["reference"].removeprefix("Patient/")].append(r)
    return out


def disagreements(folder: Path) -> list[tuple[str, str, object, object]]:
    """Every ground-truth fact the engine reads differently: (patient, fact, engine, truth)."""
    groups = by_patient(folder)
    out = []
    for t in truth(folder):
        record = record_from_resources(groups[t["patient"]])
        a = assess(record, KB, as_of=AS_OF)
        found = {f.id for f in a.findings}
        facts = {
            "risk_factors": (sorted(f for f in found if f.startswith("risk.")), t["risk_factors"]),
            "symptoms": (sorted(found & SYMPTOM_IDS), t["symptoms"]),
            "ms": ("ms.diagnosis" in found, t["ms"]),
            "pregnant": ("caveat.pregnancy" in found, t["pregnant"]),
            "s1p_modulator": ("ms.s1p_modulator" in found, t["s1p_modulator"]),
            "b12_band": (a.b12_status.band, t["b12_band"]),
            "deceased": (a.patient.deceased, t["deceased"]),
            "age": (a.patient.age, t["age"]),
            "skipped": (
                sorted(s.resource for s in a.skipped),
                sorted(f"Observation/{i}" for i in t["not_final_results"]),
            ),
        }
        out.extend((t["patient"], k, got, want) for k, (got, want) in facts.items() if got != want)
    return out


@pytest.fixture(scope="module")
def pop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "pop"
    generate(out, patients=N, seed=SEED, as_of=AS_OF)
    return out


class TestDeterminism:
    def test_same_seed_same_bytes(self, pop: Path, tmp_path: Path) -> None:
        """The same patients, seed and as-of date give byte-identical files."""
        generate(tmp_path / "again", patients=N, seed=SEED, as_of=AS_OF)
        assert files(pop) == files(tmp_path / "again")

    def test_other_seed_other_population(self, pop: Path, tmp_path: Path) -> None:
        """A different seed gives different patients."""
        generate(tmp_path / "other", patients=N, seed=SEED + 1, as_of=AS_OF)
        mine, other = files(pop), files(tmp_path / "other")
        assert mine["Patient.000.ndjson"] != other["Patient.000.ndjson"]
        assert mine[GROUND_TRUTH] != other[GROUND_TRUTH]

    def test_patient_i_does_not_depend_on_population_size(self, pop: Path, tmp_path: Path) -> None:
        """The first 50 patients of a population of 200 are the population of 50."""
        small = tmp_path / "small"
        generate(small, patients=50, seed=SEED, as_of=AS_OF)
        big_text, small_text = resource_text(pop), resource_text(small)
        for rtype, text in small_text.items():
            assert big_text[rtype].startswith(text), rtype
        assert truth(pop)[:50] == truth(small)

    def test_split_files_hold_the_same_content(self, pop: Path, tmp_path: Path) -> None:
        """A small file limit gives numbered files under the limit, with the same content."""
        split = tmp_path / "split"
        limit = 200 * 1024
        summary = generate(split, patients=N, seed=SEED, as_of=AS_OF, max_file_bytes=limit)
        names = [p.name for p in sorted(split.glob("Observation.*.ndjson"))]
        assert len(names) > 3
        assert names == [f"Observation.{i:03d}.ndjson" for i in range(len(names))]
        assert all((split / name).stat().st_size <= limit for name in summary.files)
        assert resource_text(split) == resource_text(pop)
        assert (split / GROUND_TRUTH).read_bytes() == (pop / GROUND_TRUTH).read_bytes()


class TestLayout:
    def test_manifest_matches_files(self, pop: Path) -> None:
        """The manifest is a Bulk Data complete manifest whose counts are the files' lines."""
        manifest = json.loads((pop / MANIFEST).read_text())
        assert manifest["requiresAccessToken"] is False
        assert manifest["error"] == []
        assert manifest["transactionTime"] == "2026-11-01T00:00:00Z"
        listed = {o["url"]: o for o in manifest["output"]}
        assert set(listed) == {p.name for p in pop.glob("*.*.ndjson")}
        for url, o in listed.items():
            assert o["type"] == url.split(".")[0]
            assert o["count"] == len((pop / url).read_text().splitlines())
        patients = sum(o["count"] for o in manifest["output"] if o["type"] == "Patient")
        assert patients == N

    def test_only_population_files_and_no_leftovers(self, pop: Path) -> None:
        """The folder holds the NDJSON files, ground truth, malformed list and manifest, and
        the temporary folder next to it is gone."""
        extra = {p.name for p in pop.iterdir()} - {p.name for p in pop.glob("*.*.ndjson")}
        assert extra == {GROUND_TRUTH, MALFORMED, MANIFEST}
        assert [p.name for p in pop.parent.iterdir()] == ["pop"]

    def test_every_line_is_a_resource_of_a_patient(self, pop: Path) -> None:
        """Every line but the listed malformed ones is ASCII FHIR JSON with a unique id and a
        reference to a patient of the population."""
        broken = {(m["file"], m["line"]) for m in json.loads((pop / MALFORMED).read_text())}
        ids: set[str] = set()
        patients = {t["patient"] for t in truth(pop)}
        for name, n, text in lines(pop):
            if (name, n) in broken:
                continue
            assert text.isascii()
            r = parse(text)
            assert r is not None, (name, n)
            assert r["resourceType"] == name.split(".")[0]
            assert isinstance(r["id"], str) and r["id"]
            assert r["id"] not in ids
            ids.add(r["id"])
            if r["resourceType"] == "Patient":
                assert r["id"] in patients
            else:
                owner = (r.get("subject") or r.get("patient"))["reference"]
                assert owner.startswith("Patient/")
                assert owner.removeprefix("Patient/") in patients

    def test_malformed_lines_are_where_listed(self, pop: Path) -> None:
        """The lines that are not FHIR resources are exactly those in malformed.json, of the
        kinds it names, and the ground truth lists them under their patients."""
        listed = json.loads((pop / MALFORMED).read_text())
        assert listed
        bad = {(name, n) for name, n, text in lines(pop) if parse(text) is None}
        assert bad == {(m["file"], m["line"]) for m in listed}
        assert {m["kind"] for m in listed} <= {"truncated", "not_object", "no_resource_type"}
        in_truth = sorted((t["patient"], m["kind"]) for t in truth(pop) for m in t["malformed"])
        assert in_truth == sorted((m["patient"], m["kind"]) for m in listed)


class TestGroundTruth:
    def test_engine_agrees_on_every_patient(self, pop: Path) -> None:
        """For every patient the engine finds exactly the ground truth's risk factors, active
        symptoms, MS, pregnancy, S1P modulator, B12 band, death, age and skipped results."""
        assert disagreements(pop) == []

    def test_untested_patients_are_band_untested(self, pop: Path) -> None:
        """Patients with no final B12 result are read as untested, and there are many."""
        groups = by_patient(pop)
        untested = [
            t for t in truth(pop) if not any(r["status"] == "final" for r in t["b12_results"])
        ]
        assert len(untested) > N // 3
        for t in untested:
            a = assess(record_from_resources(groups[t["patient"]]), KB, as_of=AS_OF)
            assert a.b12_status.band == "untested"

    def test_metformin_users_have_the_risk_factor(self, pop: Path) -> None:
        """Every current metformin user in the ground truth has risk.metformin from the engine."""
        groups = by_patient(pop)
        users = [
            t
            for t in truth(pop)
            if any(m["risk"] == "risk.metformin" and m["current"] for m in t["medications"])
        ]
        assert users
        for t in users:
            a = assess(record_from_resources(groups[t["patient"]]), KB, as_of=AS_OF)
            assert a.finding("risk.metformin") is not None
            assert t["metformin_start"] is not None

    def test_b12_relevant_data_is_a_small_share(self, pop: Path, tmp_path: Path) -> None:
        """B12-relevant resources are a small share of the export, as in real data."""
        summary = generate(tmp_path / "p", patients=N, seed=SEED, as_of=AS_OF)
        assert summary.b12_relevant < 0.2 * summary.total_resources
        assert summary.resources["Patient"] == N


class TestOutputFolder:
    def test_refuses_a_non_empty_folder(self, tmp_path: Path) -> None:
        """A folder with other files in it is never written into, even with force."""
        (tmp_path / "notes.txt").write_text("mine")
        with pytest.raises(SynthError, match="not empty"):
            generate(tmp_path, patients=5, seed=1)
        with pytest.raises(SynthError, match="not written by b12ms synth"):
            generate(tmp_path, patients=5, seed=1, force=True)
        assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]

    def test_force_replaces_an_earlier_population(self, tmp_path: Path) -> None:
        """With force, an earlier synthetic population is replaced as a whole."""
        out = tmp_path / "pop"
        generate(out, patients=5, seed=1, max_file_bytes=4096)
        generate(out, patients=3, seed=2, force=True)
        assert len(truth(out)) == 3
        assert not list(out.glob("*.001.ndjson"))
        assert sorted(p.name for p in tmp_path.iterdir()) == ["pop"]

    def test_interrupted_run_leaves_nothing(self, tmp_path: Path) -> None:
        """A run stopped part way leaves neither the output folder nor a partial one."""

        def stop(done: int) -> None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            generate(tmp_path / "pop", patients=600, seed=1, progress=stop)
        assert list(tmp_path.iterdir()) == []


class TestCli:
    def test_synth_command_writes_a_population(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`b12ms synth` writes the population and prints a one-line summary."""
        code = main(["synth", "--patients", "20", "--seed", "3", "--out", str(tmp_path / "p")])
        out, _ = capsys.readouterr()
        assert code == EXIT_OK
        assert out.startswith("wrote 20 patients")
        assert len(truth(tmp_path / "p")) == 20

    def test_synth_command_refuses_a_non_empty_folder(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A non-empty --out is a usage error with one line on stderr."""
        (tmp_path / "x").write_text("x")
        code = main(["synth", "--patients", "2", "--seed", "1", "--out", str(tmp_path), "--quiet"])
        _, err = capsys.readouterr()
        assert code == EXIT_USAGE
        assert err.startswith("b12ms: error:") and err.count("\n") == 1


@pytest.mark.slow
def test_large_population_covers_the_knowledge_base(tmp_path: Path) -> None:
    """3,000 patients hold every risk factor, every symptom and every band, and the engine
    agrees with the ground truth on all of them."""
    out = tmp_path / "pop"
    generate(out, patients=3000, seed=5, as_of=AS_OF, max_file_bytes=16 << 20)
    t = truth(out)
    assert {r for p in t for r in p["risk_factors"]} == {rf.id for rf in KB.risk_factors}
    assert {s for p in t for s in p["symptoms"]} == SYMPTOM_IDS - {
        "symptom.peripheral_neuropathy",
        "symptom.myelopathy",
    }
    assert {p["b12_band"] for p in t} == {"low", "indeterminate", "normal", "untested"}
    assert sum(p["ms"] for p in t) > 200
    assert any(p["deceased"] for p in t) and any(p["pregnant"] for p in t)
    assert any(p["treated_after"] for p in t)
    assert disagreements(out) == []
