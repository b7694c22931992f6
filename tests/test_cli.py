"""The `b12ms` command: outputs, exit codes, and one clear line for every kind of bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from b12ms import __version__
from b12ms.cli import main
from b12ms.errors import EXIT_INPUT, EXIT_OK, EXIT_SKIPPED, EXIT_USAGE

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ms-numbness-metformin.json"
FORM = ROOT / "examples" / "patient-form.yaml"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def bundle(tmp_path: Path, *resources: dict[str, object], name: str = "b.json") -> Path:
    path = tmp_path / name
    path.write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": r} for r in resources],
            }
        )
    )
    return path


def b12(value: float, unit: str, oid: str = "b12", date: str = "2026-09-01") -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]},
        "effectiveDateTime": date,
        "valueQuantity": {"value": value, "unit": unit},
    }


PATIENT = {"resourceType": "Patient", "id": "p", "birthDate": "1970-01-01", "gender": "female"}


class TestAssess:
    def test_text_leads_with_the_conclusion(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Text output reads conclusion, why, what to do, then sources, in that order."""
        code, out, _ = run(capsys, "assess", str(EXAMPLE), "--as-of", "2026-11-01")
        assert code == EXIT_OK
        positions = [out.index(h) for h in ("CONCLUSION", "WHY", "WHAT TO DO", "SOURCES")]
        assert positions == sorted(positions)
        assert "B12 deficiency likely" in out.split("WHY")[0]
        assert "does not replace it" in out

    def test_json_is_the_contract(self, capsys: pytest.CaptureFixture[str]) -> None:
        """JSON output has every contract field with the documented names and types."""
        code, out, _ = run(
            capsys, "assess", str(EXAMPLE), "--as-of", "2026-11-01", "--format", "json"
        )
        assert code == EXIT_OK
        doc = json.loads(out)
        assert set(doc) >= {
            "patient",
            "as_of",
            "knowledge_base",
            "guideline",
            "b12_status",
            "should_test",
            "findings",
            "recommendations",
            "skipped",
        }
        assert set(doc["patient"]) >= {"id", "age", "sex"}
        assert doc["patient"] == {"id": "ex-ms-1", "age": 52, "sex": "female", "deceased": False}
        assert doc["as_of"] == "2026-11-01"
        assert set(doc["knowledge_base"]) == {"version", "sha256"}
        assert doc["guideline"] == "nice-ng239"
        status = doc["b12_status"]
        assert status["band"] == "indeterminate"
        assert status["conclusion"] == "deficiency_likely"
        basis = status["basis"][0]
        assert {k: basis[k] for k in ("test", "value", "unit", "date")} == {
            "test": "total_b12",
            "value": 210,
            "unit": "ng/L",
            "date": "2026-09-14",
        }
        assert basis["value_si"] == pytest.approx(154.9, abs=0.1)
        assert isinstance(doc["should_test"], bool)
        for f in doc["findings"]:
            assert set(f) >= {"id", "kind", "summary", "evidence", "sources"}
            assert f["kind"] in {"risk_factor", "symptom", "ms_context", "caveat", "red_flag"}
            assert f["sources"]
        for r in doc["recommendations"]:
            assert set(r) >= {"id", "urgency", "text", "sources"}
            assert r["urgency"] in {"routine", "soon", "urgent"}
        assert doc["skipped"] == []

    def test_markdown(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Markdown output has the same sections as headings and a recommendations table."""
        code, out, _ = run(
            capsys, "assess", str(EXAMPLE), "--as-of", "2026-11-01", "--format", "markdown"
        )
        assert code == EXIT_OK
        for heading in ("## Conclusion", "## Why", "## What to do", "## Sources"):
            assert heading in out
        assert "| urgent |" in out

    def test_patient_form_is_accepted(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The human-writable patient form is assessed like a FHIR bundle."""
        code, out, _ = run(capsys, "assess", str(FORM), "--as-of", "2026-11-01", "--format", "json")
        assert code == EXIT_OK
        doc = json.loads(out)
        assert doc["b12_status"]["band"] != "untested"

    def test_as_of_ignores_later_results(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Results dated after --as-of are not known at that date."""
        path = bundle(tmp_path, PATIENT, b12(150, "ng/L", date="2026-10-01"))
        code, out, _ = run(capsys, "assess", str(path), "--as-of", "2026-09-01", "--format", "json")
        assert code == EXIT_OK
        assert json.loads(out)["b12_status"]["band"] == "untested"

    def test_version(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--version prints the package version."""
        with pytest.raises(SystemExit) as info:
            main(["--version"])
        assert info.value.code == 0
        assert __version__ in capsys.readouterr().out


class TestBadInput:
    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (b"", "empty"),
            (b"   \n\n", "empty"),
            (b"this is not json {", "not"),
            (b'{"hello": "world"}', "FHIR"),
            (b"[1, 2, 3]", "FHIR"),
            (b"42", "FHIR"),
        ],
        ids=["empty", "whitespace", "not-json", "json-not-fhir", "json-array", "json-number"],
    )
    def test_unreadable_input_is_one_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
    ) -> None:
        """Empty, non-JSON and non-FHIR files fail with exit 3 and one clear line on stderr."""
        path = tmp_path / "input.json"
        path.write_bytes(content)
        code, out, err = run(capsys, "assess", str(path))
        assert code == EXIT_INPUT
        assert out == ""
        assert len(err.strip().splitlines()) == 1
        assert err.startswith("b12ms: error:")
        assert message.lower() in err.lower()
        assert "Traceback" not in err

    def test_missing_file(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A file that does not exist is an input error, not a crash."""
        code, _, err = run(capsys, "assess", "/no/such/file.json")
        assert code == EXIT_INPUT
        assert len(err.strip().splitlines()) == 1

    @pytest.mark.parametrize(
        ("value", "unit", "reason"),
        [(300, "mg/dL", "unknown unit 'mg/dL'"), (-5, "ng/L", "impossible (negative)")],
        ids=["unknown-unit", "negative-value"],
    )
    def test_bad_entries_are_skipped_and_listed(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        value: float,
        unit: str,
        reason: str,
    ) -> None:
        """An entry with an unknown unit or an impossible value is skipped, listed in the output
        and on stderr, and the rest of the record is still assessed (exit 4)."""
        path = bundle(
            tmp_path, PATIENT, b12(value, unit, "bad"), b12(150, "ng/L", "good", "2026-08-01")
        )
        code, out, err = run(
            capsys, "assess", str(path), "--as-of", "2026-11-01", "--format", "json"
        )
        assert code == EXIT_SKIPPED
        doc = json.loads(out)
        assert doc["skipped"] == [
            {"resource": "Observation/bad", "reason": doc["skipped"][0]["reason"]}
        ]
        assert reason in doc["skipped"][0]["reason"]
        assert doc["b12_status"]["band"] == "low"  # assessed on the valid result
        assert err.strip() == f"b12ms: skipped Observation/bad: {doc['skipped'][0]['reason']}"

    def test_only_result_unusable(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """When the only B12 result is unusable the patient counts as untested, and says why."""
        path = bundle(tmp_path, PATIENT, b12(300, "mg/dL", "bad"))
        code, out, _ = run(capsys, "assess", str(path), "--as-of", "2026-11-01")
        assert code == EXIT_SKIPPED
        assert "SKIPPED (1 entries not assessed)" in out
        assert "unknown unit 'mg/dL'" in out

    def test_bad_date_is_a_usage_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--as-of must be a date; anything else is a usage error (exit 2)."""
        with pytest.raises(SystemExit) as info:
            main(["assess", str(EXAMPLE), "--as-of", "yesterday"])
        assert info.value.code == EXIT_USAGE
        assert "not a date" in capsys.readouterr().err

    def test_no_traceback_in_a_real_process(self, tmp_path: Path) -> None:
        """Run as a real process, bad input still gives one line and no traceback."""
        path = tmp_path / "junk.json"
        path.write_text("{not json")
        proc = subprocess.run(
            [sys.executable, "-m", "b12ms", "assess", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == EXIT_INPUT
        assert proc.stdout == ""
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


class TestKnowledgeCommands:
    def test_validate(self, capsys: pytest.CaptureFixture[str]) -> None:
        """`kb validate` reports the version, counts and hash."""
        code, out, _ = run(capsys, "kb", "validate")
        assert code == EXIT_OK
        assert "is valid" in out and "sha256" in out

    def test_show_text_lists_thresholds(self, capsys: pytest.CaptureFixture[str]) -> None:
        """`kb show` lists the NICE bands with their sources."""
        code, out, _ = run(capsys, "kb", "show")
        assert code == EXIT_OK
        assert "< 180 ng/L" in out and "> 258 pmol/L" in out

    def test_show_json(self, capsys: pytest.CaptureFixture[str]) -> None:
        """`kb show --format json` is valid JSON with every source."""
        code, out, _ = run(capsys, "kb", "show", "--format", "json")
        assert code == EXIT_OK
        doc = json.loads(out)
        assert "nice-ng239" in doc["sources"]
        assert doc["guidelines"]["nice-ng239"]["bands"]


CASES = sorted((ROOT / "tests" / "cases").glob("*.expected.json"))


@pytest.mark.parametrize("expected_path", CASES, ids=[p.name.split(".")[0] for p in CASES])
def test_cli_gives_each_case_its_documented_outcome(
    expected_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`b12ms assess CASE --as-of DATE --format json` gives the case's documented band,
    conclusion, should-test answer and recommendations, with exit 0 (or 4 when it skips)."""
    spec = json.loads(expected_path.read_text())
    if "xfail" in spec:
        pytest.xfail(spec["xfail"])
    bundle_path = expected_path.with_name(expected_path.name.replace(".expected.json", ".json"))
    code, out, _ = run(
        capsys, "assess", str(bundle_path), "--as-of", spec["as_of"], "--format", "json"
    )
    doc = json.loads(out)
    expect = spec["expect"]
    assert code == (EXIT_SKIPPED if doc["skipped"] else EXIT_OK)
    for key in ("band", "conclusion"):
        if key in expect:
            assert doc["b12_status"][key] == expect[key]
    if "should_test" in expect:
        assert doc["should_test"] == expect["should_test"]
    made = {r["id"] for r in doc["recommendations"]}
    assert set(expect.get("recommendations", [])) <= made
    assert not set(expect.get("no_recommendations", [])) & made


def test_markdown_escapes_record_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Text from the record cannot become a Markdown link or inline HTML in markdown output."""
    evil = {
        "resourceType": "Condition",
        "id": "c1",
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"text": "Numbness [click](http://evil.example) <script>alert(1)</script>"},
        "onsetDateTime": "2026-08-01",
    }
    path = bundle(tmp_path, PATIENT, evil)
    code, out, _ = run(capsys, "assess", str(path), "--as-of", "2026-11-01", "--format", "markdown")
    assert code == EXIT_OK
    assert "[click](http" not in out
    assert "<script>" not in out
    assert "\\[click\\]\\(http://evil.example\\)" in out
