"""Benchmark: the CDS Hooks service under load, on loopback, against a real server process.

patient-view with full prefetch (the demo patient, examples/ms-numbness-metformin.json) at 1, 10
and 50 concurrent clients (closed loop: each client sends its next request when the previous
answer arrives), with authentication on (pre-minted ES384 tokens, a unique jti per request) and
in --dev mode. Reports p50 and p99 latency and requests per second, prints a table and writes
benchmarks/results/service.json. The load tool is `wrk` (Debian package `wrk`) driven by a Lua
script; without wrk a bounded asyncio/httpx client does the same job (slower, so it measures
less). Target: p99 <= 50 ms at 50 clients; reported, never asserted.

Usage: python benchmarks/bench_service.py [--seconds 10] [--workers 1]
Results go to benchmarks/results/service.json (service-workersN.json for N > 1).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "ms-numbness-metformin.json"
RESULTS = ROOT / "benchmarks" / "results" / "service.json"
PATH = "/cds-services/b12ms-patient-view"
ISSUER = "https://bench.ehr.example"
CONCURRENCY = (1, 10, 50)
TARGET_P99_MS = 50.0

LUA = r"""
local tokens = {}
local body
local counter = 0
local step = 1
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end
function init(args)
  local f = io.open(args[1], "rb"); body = f:read("*a"); f:close()
  if args[2] ~= "-" then
    for line in io.lines(args[2]) do tokens[#tokens + 1] = line end
  end
  step = tonumber(args[3])
  counter = id
end
function request()
  local headers = {["Content-Type"] = "application/json"}
  if #tokens > 0 then
    headers["Authorization"] = "Bearer " .. tokens[counter % #tokens + 1]
    counter = counter + step
  end
  return wrk.format("POST", nil, headers, body)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"p50_us": %d, "p99_us": %d, "requests": %d, "duration_us": %d, "non2xx": %d, ' ..
    '"socket_errors": %d}\n',
    latency:percentile(50), latency:percentile(99), summary.requests, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request_body() -> bytes:
    """A patient-view request whose prefetch holds the whole demo record."""
    bundle = json.loads(DEMO.read_text(encoding="utf-8"))
    res = [e["resource"] for e in bundle["entry"]]

    def of(rtype: str) -> dict[str, Any]:
        found = [r for r in res if r["resourceType"] == rtype]
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": r} for r in found],
        }

    patient = next(r for r in res if r["resourceType"] == "Patient")
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/example", "patientId": patient["id"]},
        "prefetch": {
            "patient": patient,
            "observations": of("Observation"),
            "conditions": of("Condition"),
            "medicationRequests": of("MedicationRequest"),
            "medicationStatements": None,
            "procedures": None,
        },
    }
    return json.dumps(body).encode()


class Service:
    """`b12ms serve` (or uvicorn with workers) in a subprocess on a free loopback port."""

    def __init__(self, work: Path, *, dev: bool, jwks: dict[str, Any], workers: int) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        (work / "bench.jwks.json").write_text(json.dumps(jwks))
        config = work / "bench.toml"
        config.write_text(
            'feedback_db = "bench-feedback.sqlite3"\nas_of = "2026-11-01"\n'
            'log_level = "warning"\n'
            f'[issuers."{ISSUER}"]\njwks_file = "bench.jwks.json"\n'
        )
        args = [sys.executable, "-m", "b12ms", "serve", "--port", str(self.port)]
        args += ["--config", str(config), "--workers", str(workers)] + (["--dev"] if dev else [])
        self.log = open(work / f"server-{'dev' if dev else 'auth'}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.base + "/openapi.json", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("service did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


def mint(key: ec.EllipticCurvePrivateKey, aud: str, n: int) -> list[str]:
    now = int(time.time())
    out = []
    for _ in range(n):
        claims = {
            "iss": ISSUER,
            "aud": aud,
            "iat": now,
            "exp": now + 3000,
            "jti": str(uuid.uuid4()),
        }
        out.append(
            jwt.encode(claims, key, algorithm="ES384", headers={"kid": "bench", "typ": "JWT"})
        )
    return out


def run_wrk(
    url: str, clients: int, seconds: float, body_file: Path, tokens_file: Path | None, lua: Path
) -> dict[str, Any]:
    threads = min(2, clients)
    args = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(clients),
        "-d",
        f"{seconds:g}s",
        "--timeout",
        "10s",
    ]
    args += ["-s", str(lua), url, "--", str(body_file), str(tokens_file or "-"), str(threads)]
    out = subprocess.run(args, capture_output=True, text=True, check=True, timeout=seconds + 60)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("{"))
    raw = json.loads(line)
    rps = raw["requests"] / (raw["duration_us"] / 1e6)
    return {
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "rps": rps,
        "requests": raw["requests"],
        "non2xx": raw["non2xx"],
        "socket_errors": raw["socket_errors"],
    }


async def _httpx_load(
    url: str, clients: int, seconds: float, body: bytes, tokens: list[str] | None
) -> dict[str, Any]:
    latencies: list[float] = []
    bad = 0
    deadline = time.perf_counter() + seconds
    it = iter(tokens or [])
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:

        async def one_client() -> None:
            nonlocal bad
            while time.perf_counter() < deadline:
                headers = {"Content-Type": "application/json"}
                if tokens is not None:
                    headers["Authorization"] = f"Bearer {next(it)}"
                start = time.perf_counter()
                r = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - start)
                bad += r.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    qs = statistics.quantiles(latencies, n=100)
    return {
        "p50_ms": qs[49] * 1000,
        "p99_ms": qs[98] * 1000,
        "rps": len(latencies) / elapsed,
        "requests": len(latencies),
        "non2xx": bad,
        "socket_errors": 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement (default 10)")
    parser.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    args = parser.parse_args()
    have_wrk = shutil.which("wrk") is not None
    key = ec.generate_private_key(ec.SECP384R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="bench", alg="ES384", use="sig")
    body = request_body()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        body_file = work / "body.json"
        body_file.write_bytes(body)
        lua = work / "post.lua"
        lua.write_text(LUA)
        for mode in ("auth", "dev"):
            service = Service(work, dev=mode == "dev", jwks={"keys": [jwk]}, workers=args.workers)
            url = service.base + PATH
            try:
                for clients in CONCURRENCY:
                    tokens: list[str] | None = None
                    tokens_file: Path | None = None
                    if mode == "auth":
                        # Enough unique tokens for the warm-up and the run at 3,000 requests/s.
                        tokens = mint(key, url, int(3000 * (args.seconds + 2)))
                        tokens_file = work / "tokens.txt"
                        tokens_file.write_text("\n".join(tokens) + "\n")
                    if have_wrk:
                        run_wrk(url, clients, 2, body_file, tokens_file, lua)  # warm-up
                        if tokens is not None:  # fresh tokens: the warm-up used some
                            tokens = mint(key, url, int(3000 * args.seconds))
                            tokens_file = work / "tokens.txt"
                            tokens_file.write_text("\n".join(tokens) + "\n")
                        row = run_wrk(url, clients, args.seconds, body_file, tokens_file, lua)
                    else:
                        row = asyncio.run(_httpx_load(url, clients, args.seconds, body, tokens))
                    row.update(
                        mode=mode,
                        clients=clients,
                        workers=args.workers,
                        tool="wrk" if have_wrk else "httpx",
                    )
                    results.append(row)
                    print(
                        f"{mode:4}  {clients:3} clients  p50 {row['p50_ms']:7.2f} ms  "
                        f"p99 {row['p99_ms']:7.2f} ms  {row['rps']:8.0f} req/s  "
                        f"non-2xx {row['non2xx']}  socket errors {row['socket_errors']}",
                        flush=True,
                    )
            finally:
                service.stop()
    at50 = [r for r in results if r["clients"] == 50]
    for r in at50:
        verdict = "meets" if r["p99_ms"] <= TARGET_P99_MS else "MISSES"
        print(f"{r['mode']}: p99 at 50 clients {r['p99_ms']:.1f} ms {verdict} the target")
    out = RESULTS if args.workers == 1 else RESULTS.with_name(f"service-workers{args.workers}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "machine": {
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "cpus": os.cpu_count(),
                },
                "request_bytes": len(body),
                "seconds": args.seconds,
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
