"""``python -m services.evidence match --index DIR --query DIR --out OUT.jsonl``

Indexes every image file of the index folder (its id is its file name), then writes one JSON
line per file of the query folder, sorted by name: ``{"query", "match", "distance"}`` — the
indexed photo judged to be the same photo and the hash distance, or nulls. An index file that
is not a readable image is skipped with a warning on stderr; such a query file gets nulls.

Decoding, hashing and feature detection run on every core (a process pool); aligning each
query with its few candidates runs in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

from services.evidence.core.matching import PhotoMatcher, PhotoPrint, UnreadablePhoto, print_of

T = TypeVar("T")
_POOL_FROM = 32  # fewer files are hashed in-process: starting workers would cost more


def _files(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_file()), key=lambda p: p.name)


def _print_job(path: Path) -> PhotoPrint | str:
    """The photo's print, or why it cannot be read."""
    try:
        return print_of(path.read_bytes())
    except (UnreadablePhoto, OSError) as error:
        return str(error)


def _map(job: Callable[[Path], T], paths: Sequence[Path]) -> list[T]:
    workers = os.cpu_count() or 1
    if len(paths) < _POOL_FROM or workers == 1:
        return [job(p) for p in paths]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(job, paths, chunksize=max(1, len(paths) // (8 * workers))))


def run(index_dir: Path, query_dir: Path, out: Path) -> int:
    """Match every query file against the index folder; write ``out``; the number of matches."""
    matcher = PhotoMatcher()
    index_files = _files(index_dir)
    for path, photo in zip(index_files, _map(_print_job, index_files), strict=True):
        if isinstance(photo, str):
            print(f"warning: {path.name}: not indexed, unreadable ({photo})", file=sys.stderr)
        else:
            matcher.add(path.name, photo)
    query_files = _files(query_dir)
    matches = 0
    with out.open("w", encoding="utf-8") as lines:
        for path, query in zip(query_files, _map(_print_job, query_files), strict=True):
            found = None if isinstance(query, str) else matcher.match(query)
            matches += found is not None
            line = {
                "query": path.name,
                "match": None if found is None else found.photo_id,
                "distance": None if found is None else found.distance,
            }
            lines.write(json.dumps(line, ensure_ascii=False) + "\n")
    return matches


def main(args: argparse.Namespace) -> int:
    """The ``match`` subcommand: arguments ``index``, ``query``, ``out``; exit status."""
    for folder in (args.index, args.query):
        if not folder.is_dir():
            print(f"match: {folder} is not a folder", file=sys.stderr)
            return 2
    run(args.index, args.query, args.out)
    return 0
