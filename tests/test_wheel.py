"""The built wheel carries the knowledge base and schemas: b12ms works from it, not from src/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_assess_from_the_installed_wheel(tmp_path: Path) -> None:
    """A wheel built from the tree, installed on its own, loads its knowledge base and
    assesses the demo patient and the patient form."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            str(ROOT),
            "-w",
            str(wheels),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("b12ms-*.whl")
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = (
        "import b12ms, sys; assert b12ms.__file__.startswith(sys.argv[1]), b12ms.__file__; "
        "from b12ms.cli import main; "
        "args = ['assess', sys.argv[2], '--as-of', '2026-11-01', '--format', 'json']; "
        "raise SystemExit(main(args))"
    )
    for example in ("ms-numbness-metformin.json", "patient-form.yaml"):
        proc = subprocess.run(
            [sys.executable, "-c", code, str(target), str(ROOT / "examples" / example)],
            env=env,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert '"conclusion"' in proc.stdout
    assert (target / "b12ms" / "py.typed").exists()
