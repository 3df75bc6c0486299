"""Reading the trace files the `file` exporter writes: `python -m devstack traces`.

With ``OTEL_TRACES_EXPORTER=file`` every service appends its finished spans to
``build/traces/<service>.jsonl`` (``shared.telemetry``). A trace is spread over those files,
one piece per service; this module joins them and prints one trace as an indented tree, each
span with its service, duration and the attributes a person looks for (the claim id, the RPC
status, the SQL statement's first words, the S3 object)::

    python -m devstack traces --claim clm_...          # the traces that carry this claim id
    python -m devstack traces --trace 4bf92f35...      # one trace by id
    python -m devstack traces                          # a list of the last traces

Pure functions over dicts (the lines of the files), so the trace test and a developer read
traces the same way.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

Span = Mapping[str, Any]

TRACE_DIR = Path(__file__).resolve().parent.parent / "build" / "traces"
CLAIM_ATTRIBUTE = "elevins.claim_id"
# The attributes worth a place on the span's line, in this order; the rest stay in the file.
_SHOWN = (
    CLAIM_ATTRIBUTE,
    "rpc.grpc.status_code",
    "elevins.claim_state",
    "elevins.approved_total_fen",
    "db.statement",
    "aws.s3.key",
)
_STATEMENT_WORDS = 6


def read_spans(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every span in ``paths`` (JSON lines); a line cut short by a killed process is skipped."""
    spans: list[dict[str, Any]] = []
    for path in paths:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    spans.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return spans


def by_trace(spans: Iterable[Span]) -> dict[str, list[Span]]:
    traces: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        traces[span["trace_id"]].append(span)
    return dict(traces)


def traces_of_claim(spans: Iterable[Span], claim_id: str) -> list[str]:
    """Trace ids with a span that names ``claim_id``, oldest first."""
    found: dict[str, str] = {}
    for span in spans:
        if span.get("attributes", {}).get(CLAIM_ATTRIBUTE) == claim_id:
            start = found.get(span["trace_id"])
            found[span["trace_id"]] = min(start, span["start"]) if start else span["start"]
    return sorted(found, key=found.__getitem__)


def children(spans: Sequence[Span]) -> dict[str | None, list[Span]]:
    """parent span id → its child spans by start time; a span whose parent is in no file
    (the caller was not traced, or its file is missing) is listed under None, as a root."""
    ids = {s["span_id"] for s in spans}
    tree: dict[str | None, list[Span]] = defaultdict(list)
    for span in spans:
        parent = span.get("parent_span_id")
        tree[parent if parent in ids else None].append(span)
    for kids in tree.values():
        kids.sort(key=lambda s: s["start"])
    return dict(tree)


def _label(span: Span) -> str:
    attributes = span.get("attributes", {})
    shown = []
    for key in _SHOWN:
        if key not in attributes:
            continue
        value = attributes[key]
        if key == "db.statement":
            value = " ".join(str(value).split()[:_STATEMENT_WORDS])
        shown.append(f"{key.removeprefix('elevins.')}={value}")
    status = "" if span.get("status") in (None, "UNSET", "OK") else f" [{span['status']}]"
    extra = f"  {' '.join(shown)}" if shown else ""
    return (
        f"{span['name']}  ({span.get('service')}, {span['kind']}, {span['duration_ms']:.1f} ms)"
        f"{status}{extra}"
    )


def render(spans: Sequence[Span]) -> str:
    """One trace as an indented tree, children under their parents in start order."""
    tree = children(spans)
    lines: list[str] = []

    def walk(span: Span, depth: int) -> None:
        lines.append("  " * depth + _label(span))
        for child in tree.get(span["span_id"], []):
            walk(child, depth + 1)

    for root in tree.get(None, []):
        walk(root, 0)
    return "\n".join(lines)


def summary(traces: Mapping[str, Sequence[Span]], limit: int = 20) -> str:
    """The last ``limit`` traces: id, start, root span, services, span count."""
    rows = []
    for trace_id, spans in traces.items():
        roots = children(spans).get(None, [])
        first = min(spans, key=lambda s: s["start"])
        root = roots[0]["name"] if roots else first["name"]
        services = sorted({str(s.get("service")) for s in spans})
        rows.append((first["start"], trace_id, root, ",".join(services), len(spans)))
    rows.sort()
    return "\n".join(
        f"{start}  {trace_id}  {root}  [{services}] {count} spans"
        for start, trace_id, root, services, count in rows[-limit:]
    )


def main(argv: Sequence[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m devstack traces", description=__doc__)
    parser.add_argument("--dir", type=Path, default=TRACE_DIR, help="where the .jsonl files are")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--trace", help="print this trace id")
    which.add_argument("--claim", help="print the traces that carry this claim id")
    args = parser.parse_args(argv)
    spans = read_spans(sorted(args.dir.glob("*.jsonl")))
    if not spans:
        print(f"no spans under {args.dir}: run with OTEL_TRACES_EXPORTER=file", file=sys.stderr)
        return 1
    traces = by_trace(spans)
    if args.trace:
        chosen = [args.trace] if args.trace in traces else []
    elif args.claim:
        chosen = traces_of_claim(spans, args.claim)
    else:
        print(summary(traces))
        return 0
    if not chosen:
        print("no such trace in the files", file=sys.stderr)
        return 1
    for trace_id in chosen:
        print(f"trace {trace_id}\n{render(traces[trace_id])}\n")
    return 0
