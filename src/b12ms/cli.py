"""The `b12ms` command: a thin layer that turns arguments into library calls.

One error path: every `B12msError` becomes a one-line message on stderr and its stable exit
code (see `b12ms.errors`); an unexpected exception is reported as an internal error without a
traceback unless B12MS_DEBUG=1. Heavy imports stay inside the commands that need them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence

from b12ms import __version__
from b12ms.errors import (
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_SKIPPED,
    B12msError,
)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="b12ms",
        description=(
            "Look for, read and act on vitamin B12 deficiency in people with MS or MS-like "
            "symptoms (NICE NG239), with every statement sourced."
        ),
        epilog="Exit codes: 0 ok; 1 internal error; 2 usage; 3 unreadable input; "
        "4 assessed with skipped entries; 5 knowledge base invalid.",
    )
    parser.add_argument("--version", action="version", version=f"b12ms {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    assess = sub.add_parser(
        "assess",
        help="assess one patient from a FHIR R4 Bundle/NDJSON file or a b12ms patient form",
        description=(
            "Assess one patient. Input: a FHIR R4 Bundle (any type), NDJSON with one resource "
            "per line, or a b12ms patient form (YAML or JSON).\n\n"
            "Example:\n  b12ms assess examples/ms-numbness-metformin.json --as-of 2026-11-01"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    assess.add_argument("file", help="input file")
    assess.add_argument(
        "--as-of",
        type=_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="assess as on this date (default: today); later results are ignored",
    )
    assess.add_argument(
        "--format",
        choices=("text", "json", "markdown", "html"),
        default="text",
        help="output format (default: text; json is the stable contract; html is the "
        "self-contained report page)",
    )
    assess.add_argument(
        "--guideline", default=None, help="guideline profile id (default: nice-ng239)"
    )

    synth = sub.add_parser(
        "synth",
        help="write a deterministic synthetic population as FHIR R4 Bulk Data NDJSON",
        description=(
            "Write a synthetic population (FHIR R4 NDJSON per resource type, a Bulk Data "
            "manifest, and the ground truth per patient). Same arguments, same bytes.\n\n"
            "Example:\n  b12ms synth --patients 10000 --seed 1 --out pop"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    synth.add_argument("--patients", type=int, required=True, metavar="N")
    synth.add_argument("--seed", type=int, required=True, metavar="S")
    synth.add_argument("--out", required=True, metavar="DIR", help="output folder (new or empty)")
    synth.add_argument(
        "--as-of",
        type=_date,
        default=dt.date(2026, 11, 1),
        metavar="YYYY-MM-DD",
        help="every date is relative to this one (default: 2026-11-01)",
    )
    synth.add_argument(
        "--max-file-mb",
        type=float,
        default=64.0,
        metavar="MB",
        help="start a new numbered file past this size (default: 64)",
    )
    synth.add_argument(
        "--force", action="store_true", help="replace DIR if it holds an earlier population"
    )
    synth.add_argument("--quiet", action="store_true", help="no progress bar and no summary")

    screen = sub.add_parser(
        "screen",
        help="screen a FHIR Bulk Data export folder: care-gap worklist, summary and report",
        description=(
            "Assess every patient of a FHIR R4 Bulk Data export (a folder of NDJSON files, "
            "optionally gzipped) and write the care-gap worklist: one row per patient who "
            "needs action, most urgent first. Each patient is assessed exactly as by "
            "`b12ms assess`. Malformed lines are skipped and listed (exit 4).\n\n"
            "Example:\n  b12ms screen export/ --as-of 2026-11-01 --out worklist.csv "
            "--summary summary.json --report report.html"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    screen.add_argument("folder", metavar="DIR", help="the export folder")
    screen.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        default="duckdb",
        help="duckdb (embedded, default) or spark (the `spark` extra; master from "
        "$B12MS_SPARK_MASTER, default local[*])",
    )
    screen.add_argument(
        "--as-of",
        type=_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="assess as on this date (default: today)",
    )
    screen.add_argument(
        "--out", required=True, metavar="FILE", help="worklist: FILE.csv or FILE.parquet"
    )
    screen.add_argument("--report", metavar="FILE.html", help="also write an HTML report")
    screen.add_argument("--summary", metavar="FILE.json", help="also write the summary as JSON")
    screen.add_argument("--quiet", action="store_true", help="no progress bar and no summary line")

    kb = sub.add_parser("kb", help="show or validate the knowledge base")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True, metavar="KB_COMMAND")
    show = kb_sub.add_parser(
        "show",
        help="list thresholds, risk factors, findings, recommendations and sources",
        description="Example:\n  b12ms kb show --format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("--format", choices=("text", "json"), default="text")
    kb_sub.add_parser(
        "validate",
        help="load and check the knowledge base; print its version and hash",
        description="Example:\n  b12ms kb validate",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve = sub.add_parser(
        "serve",
        help="run the CDS Hooks service (needs the service extras: fastapi, uvicorn, ...)",
        description=(
            "Run the CDS Hooks 2.0 service with OpenAPI docs at /docs.\n\n"
            "Example:\n  b12ms serve --config service.toml --port 8080"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    serve.add_argument("--config", default=None, metavar="FILE", help="service config (TOML)")
    serve.add_argument(
        "--dev", action="store_true", help="development only: turn client authentication OFF"
    )
    serve.add_argument(
        "--workers", type=int, default=1, help="worker processes (default: 1; try one per core)"
    )
    return parser


def _cmd_serve(args: argparse.Namespace) -> int:
    from b12ms.service.app import run

    return run(
        host=args.host,
        port=args.port,
        config_path=args.config,
        dev=args.dev,
        workers=args.workers,
    )


def _cmd_assess(args: argparse.Namespace) -> int:
    from b12ms.engine import assess
    from b12ms.inputs import load_record
    from b12ms.knowledge import load_knowledge
    from b12ms.render import to_json, to_markdown, to_text

    kb = load_knowledge()
    as_of = args.as_of or dt.date.today()
    record = load_record(args.file, today=as_of)
    assessment = assess(record, kb, as_of=as_of, guideline=args.guideline)
    if args.format == "json":
        sys.stdout.write(to_json(assessment))
    elif args.format == "markdown":
        sys.stdout.write(to_markdown(assessment, kb))
    elif args.format == "html":
        from b12ms.web.render import patient_report_html

        sys.stdout.write(patient_report_html(assessment, kb, form_link=False))
    else:
        sys.stdout.write(to_text(assessment, kb))
    for skip in assessment.skipped:
        print(f"b12ms: skipped {skip.resource}: {skip.reason}", file=sys.stderr)
    return EXIT_SKIPPED if assessment.skipped else EXIT_OK


def _kb_json() -> dict[str, object]:
    from b12ms.knowledge import load_knowledge

    kb = load_knowledge()
    return {
        "name": kb.name,
        "version": kb.version,
        "sha256": kb.sha256,
        "clinical_review": kb.clinical_review,
        "guidelines": {
            gid: {
                "title": g.title,
                "bands": [
                    {
                        "lab": b.lab,
                        "unit": kb.labs[b.lab].families[b.family].unit,
                        "band": b.band,
                        "nice_label": b.nice_label,
                        "below": b.below,
                        "from": b.lower,
                        "to": b.upper,
                        "above": b.above,
                        "sources": list(b.sources),
                    }
                    for b in g.bands
                ],
                "settings": {
                    k: {"value": s.value, "sources": list(s.sources)} for k, s in g.settings.items()
                },
            }
            for gid, g in kb.guidelines.items()
        },
        "risk_factors": [
            {
                "id": rf.id,
                "label": rf.label,
                "routes": [
                    {"what": r.what, "nice_box2": r.nice_box2, "sources": list(r.sources)}
                    for r in rf.routes
                ],
            }
            for rf in kb.risk_factors
        ],
        "symptoms": [
            {"id": s.id, "label": s.label, "ms_overlap": s.ms_overlap, "sources": list(s.sources)}
            for s in kb.symptoms
        ],
        "findings": {
            fid: {"kind": f.kind, "evidence_status": f.evidence_status, "sources": list(f.sources)}
            for fid, f in kb.findings.items()
        },
        "recommendations": {
            rid: {"urgency": r.urgency, "text": r.text, "sources": list(r.sources)}
            for rid, r in kb.recommendations.items()
        },
        "sources": {
            sid: {"citation": s.citation, "url": s.url, "evidence": s.evidence}
            for sid, s in kb.sources.items()
        },
    }


def _cmd_kb(args: argparse.Namespace) -> int:
    from b12ms.knowledge import load_knowledge
    from b12ms.render import kb_summary

    kb = load_knowledge()
    if args.kb_command == "validate":
        print(
            f"knowledge base {kb.version} is valid: {len(kb.sources)} sources, "
            f"{len(kb.valuesets)} value sets, {len(kb.risk_factors)} risk factors, "
            f"{len(kb.symptoms)} symptoms, {len(kb.findings)} findings, "
            f"{len(kb.recommendations)} recommendations; sha256 {kb.sha256}"
        )
    elif args.format == "json":
        print(json.dumps(_kb_json(), indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(kb_summary(kb))
    return EXIT_OK


def _cmd_synth(args: argparse.Namespace) -> int:
    from pathlib import Path

    from b12ms.synth import generate, progress_bar

    show = not args.quiet and sys.stderr.isatty()
    with progress_bar(args.patients, enabled=show) as progress:
        summary = generate(
            Path(args.out),
            patients=args.patients,
            seed=args.seed,
            as_of=args.as_of,
            max_file_bytes=int(args.max_file_mb * (1 << 20)),
            progress=progress,
            force=args.force,
        )
    if not args.quiet:
        print(summary.describe())
    return EXIT_OK


def _cmd_screen(args: argparse.Namespace) -> int:
    import contextlib

    from b12ms.population.screen import (
        NoProgress,
        Progress,
        RichProgress,
        malformed_messages,
        screen,
    )

    show = not args.quiet and sys.stderr.isatty()
    with contextlib.ExitStack() as stack:
        progress: Progress = stack.enter_context(RichProgress()) if show else NoProgress()
        result = screen(
            args.folder,
            out=args.out,
            engine=args.engine,
            as_of=args.as_of,
            summary_path=args.summary,
            report_path=args.report,
            progress=progress,
        )
    for message in malformed_messages(result.engine_result):
        print(f"b12ms: {message}", file=sys.stderr)
    if not args.quiet:
        s = result.summary
        print(
            f"b12ms screen: {s.patients:,} patients ({s.resources_read:,} resources in "
            f"{s.files_read} files) in {s.seconds} s; {result.worklist_rows:,} on the "
            f"worklist, written to {result.out}",
            file=sys.stderr,
        )
    return EXIT_SKIPPED if result.engine_result.malformed_total else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "assess":
            return _cmd_assess(args)
        if args.command == "serve":
            return _cmd_serve(args)
        if args.command == "synth":
            return _cmd_synth(args)
        if args.command == "screen":
            return _cmd_screen(args)
        return _cmd_kb(args)
    except B12msError as exc:
        print(f"b12ms: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # one error path: never a traceback for users
        if os.environ.get("B12MS_DEBUG"):
            raise
        print(
            f"b12ms: internal error: {type(exc).__name__}: {exc} "
            "(set B12MS_DEBUG=1 for details and please report it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
