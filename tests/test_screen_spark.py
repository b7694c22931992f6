"""`b12ms screen --engine spark` gives exactly the DuckDB engine's worklist and summary."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from b12ms.population import screen as screen_mod
from test_screen import AS_OF, KB, build_case_export, direct_rows

pytest.importorskip("pyspark")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from b12ms.population.spark_engine import spark_session

    session = spark_session("local[2]", app_name="b12ms-tests")
    yield session
    session.stop()


def _both(folder: Path, out: Path, spark: Any, as_of: dt.date = AS_OF) -> dict[str, Any]:
    """Screen with each engine; returns their worklists (CSV bytes) and summaries."""
    got: dict[str, Any] = {}
    for engine in ("duckdb", "spark"):
        path = out / f"{engine}.csv"
        result = screen_mod.screen(folder, out=path, engine=engine, as_of=as_of, kb=KB, spark=spark)
        summary = result.summary_dict()
        assert summary.pop("engine") == engine
        summary.pop("seconds")
        got[engine] = (path.read_bytes(), summary)
    return got


def test_spark_equals_duckdb_on_the_cases(spark: Any, tmp_path: Path) -> None:
    """On the case corpus (gzip, odd file names, a referenced Medication) the engines agree
    byte for byte, and both equal each patient's own assessment."""
    per_patient = build_case_export(tmp_path / "in")
    got = _both(tmp_path / "in", tmp_path, spark)
    assert got["spark"] == got["duckdb"]
    expected = direct_rows(per_patient)
    rows = screen_mod.read_worklist(tmp_path / "spark.csv")
    assert len(rows) == sum(r is not None for r in expected.values())


def test_spark_equals_duckdb_on_malformed_input(spark: Any, tmp_path: Path) -> None:
    """Malformed lines, orphans and ignored types are reported identically by both engines."""
    from test_screen import _make_malformed_export

    folder = _make_malformed_export(tmp_path)
    got = _both(folder, tmp_path, spark)
    assert got["spark"] == got["duckdb"]
    assert got["spark"][1]["malformed_lines_total"] == 5


def test_spark_equals_duckdb_on_a_synthetic_population(spark: Any, tmp_path: Path) -> None:
    """On 400 synthetic patients (with planted malformed lines) the engines agree exactly."""
    synth = pytest.importorskip("b12ms.synth")
    synth.generate(tmp_path / "pop", patients=400, seed=11, as_of=AS_OF, max_file_bytes=2 << 20)
    got = _both(tmp_path / "pop", tmp_path, spark)
    assert got["spark"] == got["duckdb"]
    assert got["spark"][1]["patients"] == 400
    assert got["spark"][1]["malformed_lines"]
