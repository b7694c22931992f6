"""Benchmark: the population screen on synthetic exports, against DuckDB's bare read.

For each population size it generates a synthetic FHIR Bulk export (`b12ms synth`, cached
under benchmarks/.data/), then measures in separate processes:
  - DuckDB's bare `SELECT count(*) FROM read_ndjson(...)` over the same files (the floor);
  - `b12ms screen` with the DuckDB engine: wall time, resources per second, peak RSS;
  - `b12ms screen --engine spark` (unless --no-spark): wall time and peak RSS.
It prints a table, the ratios (screen over bare read; Spark over DuckDB) and writes
benchmarks/results/screen.json. Figures are measurements; the targets (ratio <= 1.5) are
reported, never asserted in tests.

Usage: python benchmarks/bench_screen.py [--patients 10000 100000] [--no-spark]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / ".data"
RESULTS = ROOT / "benchmarks" / "results"
B12MS = [sys.executable, "-m", "b12ms"]
AS_OF = "2026-11-01"


def run(cmd: list[str]) -> tuple[float, float]:
    """Run a command; return its wall time (s) and peak RSS (MiB) of the process tree's
    largest process, as the kernel accounts it for a child."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 4):  # 4: assessed, with malformed lines skipped (synth adds a few)
        raise SystemExit(f"{' '.join(cmd)} failed ({code}): {stderr[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def export(patients: int) -> Path:
    """The synthetic export for this size, generated once and cached."""
    folder = DATA / f"synth-{patients}"
    if not (folder / "manifest.json").exists():
        DATA.mkdir(parents=True, exist_ok=True)
        print(f"generating {patients:,} patients into {folder} ...", flush=True)
        wall, _ = run(
            [
                *B12MS,
                "synth",
                "--patients",
                str(patients),
                "--seed",
                "1",
                "--out",
                str(folder),
                "--force",
                "--quiet",
            ]
        )
        print(f"  generated in {wall:.1f} s", flush=True)
    return folder


def bare_count(folder: Path) -> tuple[float, float, int]:
    """DuckDB's bare count(*) over the export's NDJSON files, in a fresh process."""
    code = (
        "import duckdb, glob, sys; files = sorted(glob.glob(sys.argv[1] + '/*.ndjson'));"
        "files = [f for f in files if not f.endswith(('ground_truth.ndjson',))];"
        "con = duckdb.connect();"
        "sql = 'SELECT count(*) FROM read_ndjson(?, ignore_errors=true, union_by_name=true)';"
        "n = con.execute(sql, [files]).fetchone()[0]; print(n)"
    )
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code, str(folder)], capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - start
    return wall, 0.0, int(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--no-spark", action="store_true", help="skip the Spark engine")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for n in args.patients:
        folder = export(n)
        manifest = json.loads((folder / "manifest.json").read_text())
        resources = sum(o.get("count", 0) for o in manifest["output"])
        size_mb = sum(p.stat().st_size for p in folder.glob("*.ndjson")) / 2**20
        bare, _, counted = bare_count(folder)
        out = DATA / f"worklist-{n}.csv"
        duck, duck_rss = run(
            [*B12MS, "screen", str(folder), "--as-of", AS_OF, "--out", str(out), "--quiet"]
        )
        row: dict[str, Any] = {
            "patients": n,
            "resources": resources,
            "export_mib": round(size_mb),
            "bare_count_s": round(bare, 2),
            "bare_counted_rows": counted,
            "duckdb_s": round(duck, 2),
            "duckdb_resources_per_s": round(resources / duck),
            "duckdb_peak_rss_mib": round(duck_rss),
            "screen_over_bare": round(duck / bare, 2),
        }
        if not args.no_spark:
            spark_out = DATA / f"worklist-{n}-spark.csv"
            spark, spark_rss = run(
                [
                    *B12MS,
                    "screen",
                    str(folder),
                    "--engine",
                    "spark",
                    "--as-of",
                    AS_OF,
                    "--out",
                    str(spark_out),
                    "--quiet",
                ]
            )
            row |= {
                "spark_s": round(spark, 2),
                "spark_driver_peak_rss_mib": round(spark_rss),
                "spark_over_duckdb": round(spark / duck, 2),
                "same_worklist": spark_out.read_bytes() == out.read_bytes(),
            }
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    print(f"b12ms screen benchmark, {machine}, Python {platform.python_version()}")
    header = (
        f"{'patients':>9} {'resources':>10} {'MiB':>6} {'bare s':>7} {'duckdb s':>9} "
        f"{'res/s':>9} {'RSS MiB':>8} {'screen/bare':>11}"
    )
    if not args.no_spark:
        header += f" {'spark s':>8} {'spark/duckdb':>12}"
    print(header)
    for r in rows:
        line = (
            f"{r['patients']:>9,} {r['resources']:>10,} {r['export_mib']:>6} "
            f"{r['bare_count_s']:>7} "
            f"{r['duckdb_s']:>9} {r['duckdb_resources_per_s']:>9,} "
            f"{r['duckdb_peak_rss_mib']:>8} "
            f"{r['screen_over_bare']:>11}"
        )
        if "spark_s" in r:
            line += f" {r['spark_s']:>8} {r['spark_over_duckdb']:>12}"
        print(line)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "screen.json").write_text(json.dumps({"rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
