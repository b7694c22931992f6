"""The README stays true: its worked example, commands, exit codes and ids match the code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from b12ms import errors
from b12ms.knowledge import load_knowledge

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SHA = re.compile(r"sha256 [0-9a-f]{12}")


def test_worked_example_is_real_output() -> None:
    """The README's worked example is exactly what `b12ms assess` prints (up to the sources)."""
    block = README.split("$ b12ms assess examples/ms-numbness-metformin.json --as-of 2026-11-01\n")[
        1
    ]
    block = block.split("\n```")[0]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "b12ms",
            "assess",
            str(ROOT / "examples/ms-numbness-metformin.json"),
            "--as-of",
            "2026-11-01",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    real = out.split("\nSOURCES\n")[0].rstrip("\n")
    assert SHA.sub("sha256 <hash>", block) == SHA.sub("sha256 <hash>", real)


def test_every_command_is_documented() -> None:
    """Every CLI command appears in the README's command table."""
    for command in ("b12ms assess FILE", "b12ms kb show", "b12ms kb validate", "b12ms --version"):
        assert f"`{command}" in README


def test_exit_codes_match() -> None:
    """The README's exit-code table lists exactly the codes in b12ms.errors."""
    codes = {v for k, v in vars(errors).items() if k.startswith("EXIT_")}
    table = README.split("### Exit codes")[1].split("\n## ")[0]
    documented = {int(m) for m in re.findall(r"^\| (\d) \|", table, re.MULTILINE)}
    assert documented == codes


def test_every_id_is_documented() -> None:
    """Every finding and recommendation id of the knowledge base is in the README's id table."""
    kb = load_knowledge()
    for fid in sorted(kb.finding_ids() | set(kb.recommendations)):
        assert f"`{fid}`" in README, fid
