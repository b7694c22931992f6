"""Benchmark: single-patient assessments per second, and their cost relative to json.loads.

For each bundle it measures, on one core, in-process and after warm-up:
  json.loads of the bundle bytes; FHIR extraction (dicts -> PatientRecord); the assessment;
  and the end-to-end path (bytes -> json.loads -> extract -> assess).
It prints a table and writes benchmarks/results/assess.json. Figures are measurements, not
targets; the target (5,000 assessments/s for a typical bundle) is checked here and reported,
never asserted in the test suite.

Usage: python benchmarks/bench_assess.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from b12ms.engine import assess
from b12ms.fhir.extract import record_from_resources
from b12ms.knowledge import load_knowledge

ROOT = Path(__file__).resolve().parent.parent
SYNTHEA = ROOT.parent / "shared" / "data" / "synthea-10"
EXAMPLE = ROOT / "examples" / "ms-numbness-metformin.json"
AS_OF = dt.date(2026, 11, 1)
TARGET_PER_SECOND = 5000


def _rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of fn, timed over about `seconds` after a warm-up."""
    for _ in range(50):
        fn()
    n, start = 0, time.perf_counter()
    batch = 50
    while True:
        for _ in range(batch):
            fn()
        n += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def _synthea_patient(patient_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name in ("Patient", "Condition", "MedicationRequest", "Procedure"):
        with (SYNTHEA / f"{name}.000.ndjson").open() as fh:
            for line in fh:
                r = json.loads(line)
                ref = r.get("subject", {}).get("reference", "")
                if r["id"] == patient_id or ref == f"Patient/{patient_id}":
                    out.append(r)
    return out


def _bundles() -> dict[str, bytes]:
    example = json.loads(EXAMPLE.read_text())
    labs = [e for e in example["entry"] if e["resource"]["resourceType"] == "Observation"]
    bundles = {"demo example (10 resources)": EXAMPLE.read_bytes()}
    if SYNTHEA.is_dir():
        for label, pid in (
            ("typical: median Synthea patient + 4 labs", "fb7c882a-f897-e7c5-67e0-825e7fd55d15"),
            ("largest Synthea patient + 4 labs", "79a66c97-6131-3213-f3c9-4606946ab056"),
        ):
            resources = _synthea_patient(pid)
            for e in labs:
                obs = dict(e["resource"])
                obs["subject"] = {"reference": f"Patient/{pid}"}
                resources.append(obs)
            bundle = {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": r} for r in resources],
            }
            bundles[f"{label} ({len(resources)} resources)"] = json.dumps(bundle).encode()
    return bundles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    kb = load_knowledge()
    rows = []
    for label, data in _bundles().items():
        doc = json.loads(data)
        resources = [e["resource"] for e in doc["entry"]]
        record = record_from_resources(resources)
        loads = _rate(lambda data=data: json.loads(data), args.seconds)
        extract = _rate(lambda r=resources: record_from_resources(r), args.seconds)
        assessing = _rate(lambda rec=record: assess(rec, kb, as_of=AS_OF), args.seconds)

        def end_to_end(data: bytes = data) -> object:
            d = json.loads(data)
            return assess(record_from_resources(e["resource"] for e in d["entry"]), kb, as_of=AS_OF)

        e2e = _rate(end_to_end, args.seconds)
        rows.append(
            {
                "bundle": label,
                "bytes": len(data),
                "json_loads_per_s": round(loads),
                "extract_per_s": round(extract),
                "assess_per_s": round(assessing),
                "end_to_end_per_s": round(e2e),
                "end_to_end_over_json_loads": round(loads / e2e, 2),
            }
        )
    print(
        f"b12ms assess benchmark, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, one core, knowledge base {kb.version}"
    )
    header = (
        f"{'bundle':<58} {'json.loads/s':>12} {'extract/s':>10} {'assess/s':>9} "
        f"{'e2e/s':>8} {'e2e/json':>9}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['bundle']:<58} {r['json_loads_per_s']:>12,} {r['extract_per_s']:>10,} "
            f"{r['assess_per_s']:>9,} {r['end_to_end_per_s']:>8,} "
            f"{r['end_to_end_over_json_loads']:>9}"
        )
    typical = next((r for r in rows if r["bundle"].startswith("typical")), rows[0])
    verdict = "meets" if typical["assess_per_s"] >= TARGET_PER_SECOND else "MISSES"
    print(
        f"typical bundle: {typical['assess_per_s']:,} assessments/s in-process "
        f"({verdict} the {TARGET_PER_SECOND:,}/s target); end to end "
        f"{typical['end_to_end_over_json_loads']}x the time of json.loads alone"
    )
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "assess.json").write_text(json.dumps({"rows": rows, "kb": kb.version}, indent=2) + "\n")


if __name__ == "__main__":
    main()
