"""``python -m services.evidence match`` end to end, in a subprocess, on a generated corpus."""

import io
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image

from load_tests.photo_corpus import write_corpus
from services.evidence.core.matching import UnreadablePhoto, decode

ROOT = Path(__file__).resolve().parents[3]


def _bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` × ``height`` pixels."""
    out = io.BytesIO()
    Image.new("L", (1, 1)).save(out, "PNG")
    data = bytearray(out.getvalue())
    ihdr = 8 + 8  # signature, then the IHDR chunk's length and type
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr - 4 : ihdr + 13]))
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


def _run(index: Path, query: Path, out: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "services.evidence", "match"]
    command += ["--index", str(index), "--query", str(query), "--out", str(out)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("size", [(40_000, 40_000), (10_000, 10_000)])  # error, warning
def test_decompression_bombs_are_unreadable(size):
    with pytest.raises(UnreadablePhoto):
        decode(_bomb(*size))


def test_exif_orientation_is_applied():
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90° clockwise
    Image.new("RGB", (40, 20)).save(out, "JPEG", exif=exif)
    assert decode(out.getvalue()).size == (20, 40)


def test_match_command_end_to_end(tmp_path):
    index, query, truth_path = write_corpus(tmp_path, 14, seed=5, unrelated=4)
    for folder in (index, query):
        (folder / "notes.txt").write_text("not a photo")
        (folder / "bomb.png").write_bytes(_bomb(40_000, 40_000))
    out = tmp_path / "out.jsonl"
    result = _run(index, query, out)
    assert result.returncode == 0, result.stderr
    assert "notes.txt" in result.stderr and "bomb.png" in result.stderr

    lines = [json.loads(line) for line in out.read_text().splitlines()]
    names = [line["query"] for line in lines]
    assert names == sorted(p.name for p in query.iterdir())
    assert all(set(line) == {"query", "match", "distance"} for line in lines)
    got = {line["query"]: line for line in lines}
    for name in ("notes.txt", "bomb.png"):
        assert got[name]["match"] is None and got[name]["distance"] is None

    truth = [json.loads(line) for line in truth_path.read_text().splitlines()]
    reuses = [t for t in truth if t["kind"] == "reuse"]
    negatives = [t for t in truth if t["kind"] != "reuse"]
    assert reuses and negatives
    assert all(got[t["query"]]["match"] is None for t in negatives)
    found = [t for t in reuses if got[t["query"]]["match"] == t["match"]]
    assert len(found) >= len(reuses) // 2
    assert all(isinstance(got[t["query"]]["distance"], int) for t in found)


def test_empty_folders_give_an_empty_file(tmp_path):
    (tmp_path / "i").mkdir()
    (tmp_path / "q").mkdir()
    out = tmp_path / "out.jsonl"
    result = _run(tmp_path / "i", tmp_path / "q", out)
    assert result.returncode == 0, result.stderr
    assert out.read_text() == ""


def test_a_missing_folder_is_refused(tmp_path):
    result = _run(tmp_path / "nope", tmp_path, tmp_path / "out.jsonl")
    assert result.returncode == 2 and "not a folder" in result.stderr
