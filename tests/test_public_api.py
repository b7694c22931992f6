"""The public surface is explicit, and importing b12ms stays light."""

from __future__ import annotations

import subprocess
import sys

import b12ms


def test_all_is_exact() -> None:
    """`b12ms.__all__` lists exactly the public names, sorted, and each one exists."""
    public = sorted(n for n in dir(b12ms) if not n.startswith("_") or n == "__version__")
    public = [n for n in public if n in b12ms.__all__ or not _is_module(n)]
    assert sorted(b12ms.__all__) == b12ms.__all__
    assert set(b12ms.__all__) == set(public)
    for name in b12ms.__all__:
        assert hasattr(b12ms, name)


def _is_module(name: str) -> bool:
    return type(getattr(b12ms, name)).__name__ == "module"


def test_import_is_light() -> None:
    """`import b12ms` loads none of the heavy optional stacks (Spark, web, NLP, DuckDB)."""
    code = (
        "import sys, b12ms; "
        "heavy = [m for m in ('pyspark', 'fastapi', 'spacy', 'medspacy', 'duckdb', 'pandas') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
