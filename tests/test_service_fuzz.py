"""Schemathesis against the live service's own OpenAPI schema: no input may cause a 5xx."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_service_support import (
    Server,
)


@pytest.mark.slow
def test_schemathesis_finds_no_server_error(dev_server: Server) -> None:
    """Coverage, fuzzing and stateful phases over /cds-services* (auth off: --dev instance)."""
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("schemathesis is not installed")
    result = subprocess.run(
        [
            exe,
            "run",
            dev_server.url("/openapi.json"),
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "100",
            "--include-path-regex",
            "^/cds-services",
            "--generation-deterministic",
            "--request-timeout",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "passed" in result.stdout
    assert " 500 " not in dev_server.log() and "Traceback" not in dev_server.log()


pytest_plugins = ("test_service_support",)
