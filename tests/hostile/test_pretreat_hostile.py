"""Hostile input for ``gaitedge pretreat``, through the real command line.

Each case builds a small CASIA-B-shaped tree holding good frames and one hostile thing (a file, a link, a FIFO, an
extreme shape), or passes a bad option value, and runs ``python -m gaitedge pretreat`` in a subprocess with a time
limit and an address-space limit. Every case must end with its expected exit status and, for an error, one line
naming the file or option, with no Python traceback, and every good frame must still be written.

``python -m tests.hostile.test_pretreat_hostile`` runs the cases outside pytest and prints their counts (tried,
clean errors, tracebacks, hangs, lost data).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import pickle
import resource
import socket
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("cv2") is None, reason="needs the data extra (OpenCV)")

ROOT = Path(__file__).resolve().parents[2]
TIME_LIMIT_S = 60
MEMORY_LIMIT = 3 * 2**30  # address space of the CLI and of each worker it forks
GOOD = 5  # good frames in each of the two sequences


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bytes(width: int, height: int, rows: bytes, depth: int = 8, colour: int = 0) -> bytes:
    """A PNG of the given header and filtered scanlines (``rows``: filter byte + samples, per row)."""
    head = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", head) + _chunk(b"IDAT", zlib.compress(rows, 9))
            + _chunk(b"IEND", b""))


def white_row_png(width: int) -> bytes:
    """One row of ``width`` white pixels: a few hundred bytes on disk."""
    return png_bytes(width, 1, b"\x00" + b"\xff" * width)


def person(x0: int) -> np.ndarray:
    img = np.zeros((240, 320), np.uint8)  # [H, W]
    img[40:200, x0 : x0 + 40] = 255
    return img


def _set_limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_cli(args: list[str], timeout: float = TIME_LIMIT_S) -> subprocess.CompletedProcess | None:
    """``python -m gaitedge pretreat ARGS`` with the limits; None when it ran past ``timeout`` (a hang)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("GAITEDGE_DEBUG", None)
    try:
        return subprocess.run([sys.executable, "-m", "gaitedge", "pretreat", *args], capture_output=True, text=True,
                              timeout=timeout, cwd=ROOT, env=env, preexec_fn=_set_limits, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None


def good_tree(root: Path) -> tuple[Path, Path]:
    """Two sequences of ``GOOD`` frames; returns their folders."""
    cv2 = pytest.importorskip("cv2")
    folders = []
    for sid in ("001", "002"):
        folder = root / sid / "nm-01" / "090"
        folder.mkdir(parents=True)
        for i in range(GOOD):
            cv2.imwrite(str(folder / f"{i:03d}.png"), person(100 + 8 * i))
        folders.append(folder)
    return folders[0], folders[1]


# --- the hostile things, each placed as <first sequence>/<name> -------------------------------------------------


def _fifo(p: Path) -> None:
    os.mkfifo(p)


def _link_to(target: str) -> Callable[[Path], None]:
    return lambda p: os.symlink(target, p)


def _loop(p: Path) -> None:
    os.symlink(p.name, p)  # a link to itself


def _socket(p: Path) -> None:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(p))  # left bound: the socket file stays after the test process closes it
    s.close()


def _folder(p: Path) -> None:
    p.mkdir()
    (p / "inner.png").write_bytes(b"x")


def _bytes(blob: bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(blob)


def _big_file(p: Path) -> None:
    with open(p, "wb") as f:  # 3 MiB of a valid-looking PNG start, over --max-file-mib 2
        f.write(white_row_png(64))
        f.truncate(3 * 2**20)


@dataclasses.dataclass
class FileCase:
    name: str
    make: Callable[[Path], None]
    reason: str  # a word the skip reason must contain
    args: tuple[str, ...] = ()


FILE_CASES = [
    # class 1: memory amplification (tiny files whose resize would be huge)
    FileCase("row-1x5000.png", _bytes(white_row_png(5000)), "max_resample_elements"),
    FileCase("row-1x5000-antialias.png", _bytes(white_row_png(5000)), "max_resample_elements",
             ("--resize", "antialias")),
    FileCase("row-1x200000.png", _bytes(white_row_png(200_000)), "max_resample_elements"),
    FileCase("row-1x1048577.png", _bytes(white_row_png(2**20 + 1)), "PNG"),  # wider than OpenCV accepts
    FileCase("bomb-8192.png", _bytes(png_bytes(8192, 8192, b"\x00" * 100, colour=6)), "limit"),  # 256 MiB decoded
    # class 2: things that are not regular files, and files over the size bound
    FileCase("fifo.png", _fifo, "FIFO"),
    FileCase("zero.png", _link_to("/dev/zero"), "character device"),
    FileCase("urandom.png", _link_to("/dev/urandom"), "character device"),
    FileCase("dangling.png", _link_to("/nonexistent/target.png"), "No such file"),
    FileCase("loop.png", _loop, "symbolic links"),
    FileCase("socket.png", _socket, "socket"),
    FileCase("folder.png", _folder, "folder"),
    FileCase("big.png", _big_file, "limit", ("--max-file-mib", "2")),
    # files that are plainly broken
    FileCase("empty.png", _bytes(b""), "not a PNG"),
    FileCase("text.png", _bytes(b"hello, world\n"), "not a PNG"),
    FileCase("truncated.png", _bytes(white_row_png(300)[:40]), "truncated"),
    FileCase("bad-idat.png", _bytes(white_row_png(64)[:41] + b"\x00" * 30 + white_row_png(64)[-12:]), "PNG"),
]


@dataclasses.dataclass
class Outcome:
    tried: int = 0
    clean: int = 0  # ended as expected, with one-line messages
    tracebacks: int = 0
    hangs: int = 0
    lost: int = 0  # a good frame or sequence was not written

    def add(self, other: "Outcome") -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def _frames_written(out: Path, folder: Path) -> int:
    key = folder.relative_to(folder.parents[2]).parts
    pkl = out.joinpath(*key) / f"{key[2]}.pkl"
    if not pkl.is_file():
        return 0
    with open(pkl, "rb") as f:  # written by this run, trusted
        return len(pickle.load(f))


def run_file_case(case: FileCase, tmp: Path, workers: int = 1) -> tuple[Outcome, str]:
    """One run over a tree of two good sequences with ``case`` placed in the first; the outcome and a diagnosis."""
    src, out = tmp / "in", tmp / "out"
    first, second = good_tree(src)
    hostile = first / case.name
    case.make(hostile)
    proc = run_cli(["-i", str(src), "-o", str(out), "-n", str(workers), *case.args])
    o = Outcome(tried=1)
    if proc is None:
        o.hangs = 1
        return o, "hang"
    text = proc.stdout + proc.stderr
    if "Traceback" in text:
        o.tracebacks = 1
        return o, text[-1500:]
    if _frames_written(out, first) != GOOD or _frames_written(out, second) != GOOD:
        o.lost = 1
        return o, f"lost frames: {text[-1500:]}"
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip().startswith(f"skipped {hostile}:")]
    if proc.returncode != 1 or len(lines) != 1 or case.reason not in lines[0]:
        return o, f"exit {proc.returncode}, skip lines {lines}: {text[-1500:]}"
    o.clean = 1
    return o, ""


# class 7: option values; each must be an argparse error (exit 2) naming the option, before any work
BAD_OPTIONS = [
    ["-r", "0"], ["-r", "-5"], ["-r", "1"], ["-r", "63"], ["-r", "128"], ["-r", "100000"], ["-r", "abc"],
    ["-r", "1e3"],
    ["--max-decoded-mib", "inf"], ["--max-decoded-mib", "nan"], ["--max-decoded-mib", "-1"],
    ["--max-decoded-mib", "0"], ["--max-decoded-mib", "1e400"], ["--max-file-mib", "nan"], ["--max-file-mib", "-inf"],
    ["-n", "0"], ["-n", "-1"], ["-n", "1000000"], ["-n", "two"],
    ["--max-resample-elements", "0"], ["--max-resample-elements", "-3"], ["--resize", "bicubic"],
    ["--format", "hdf5"],
]


LONG_NAMES = {"-r": "--img-size", "-n": "--workers"}


def run_option_case(opts: list[str], tmp: Path) -> tuple[Outcome, str]:
    """The options on a good tree: refused before anything is written, or the outcome says why not."""
    src = tmp / "in"
    good_tree(src)
    proc = run_cli(["-i", str(src), "-o", str(tmp / "out"), *opts], timeout=30)
    o = Outcome(tried=1)
    if proc is None:
        o.hangs = 1
        return o, "hang"
    if "Traceback" in proc.stderr:
        o.tracebacks = 1
        return o, proc.stderr[-1500:]
    errors = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    named = opts[0] in errors[0] or LONG_NAMES.get(opts[0], opts[0]) in errors[0] if errors else False
    if proc.returncode != 2 or len(errors) != 1 or not named or (tmp / "out").exists():
        return o, f"exit {proc.returncode}: {proc.stderr[-800:]}"
    o.clean = 1
    return o, ""


# output folders that cannot be made: a file in the way, a path under a file, a place nothing may be created
BAD_OUTPUTS = ["a-file", "a-file/sub", "/proc/gaitedge-hostile-out"]


def run_output_case(output: str, tmp: Path) -> tuple[Outcome, str]:
    src = tmp / "in"
    good_tree(src)
    (tmp / "a-file").write_text("user data\n")
    out = output if output.startswith("/") else str(tmp / output)
    proc = run_cli(["-i", str(src), "-o", out], timeout=30)
    o = Outcome(tried=1)
    if proc is None:
        o.hangs = 1
        return o, "hang"
    if "Traceback" in proc.stderr:
        o.tracebacks = 1
        return o, proc.stderr[-1500:]
    if (tmp / "a-file").read_text() != "user data\n":
        o.lost = 1
        return o, "the file in the way was changed"
    errors = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    if proc.returncode != 2 or len(errors) != 1 or out not in errors[0]:
        return o, f"exit {proc.returncode}: {proc.stderr[-800:]}"
    o.clean = 1
    return o, ""


@pytest.mark.parametrize("output", BAD_OUTPUTS)
def test_output_that_cannot_be_made_is_one_line(output, tmp_path):
    outcome, why = run_output_case(output, tmp_path)
    assert outcome.clean == 1, why


@pytest.mark.parametrize("case", FILE_CASES, ids=lambda c: c.name)
def test_hostile_file_is_skipped_and_the_good_frames_written(case, tmp_path):
    outcome, why = run_file_case(case, tmp_path)
    assert outcome.clean == 1, why


def test_every_hostile_file_at_once_with_worker_processes(tmp_path):
    """All the file cases in one tree (one per sequence beside a good one), two worker processes."""
    src, out = tmp_path / "in", tmp_path / "out"
    good_tree(src)
    placed = []
    for i, case in enumerate(c for c in FILE_CASES if not c.args):
        folder = src / f"1{i:02d}" / "nm-01" / "000"
        folder.mkdir(parents=True)
        case.make(folder / case.name)
        pytest.importorskip("cv2").imwrite(str(folder / "000.png"), person(120))
        placed.append(folder / case.name)
    proc = run_cli(["-i", str(src), "-o", str(out), "-n", "2"])
    assert proc is not None, "hang"
    assert "Traceback" not in proc.stderr and proc.returncode == 1, proc.stderr[-2000:]
    for p in placed:
        assert f"skipped {p}:" in proc.stderr, p
        assert _frames_written(out, p.parent) == 1, p  # the good frame beside it
    assert f"{len(placed)} files skipped" in proc.stdout
    assert all(_frames_written(out, src / sid / "nm-01" / "090") == GOOD for sid in ("001", "002"))


@pytest.mark.parametrize("opts", BAD_OPTIONS, ids=lambda o: " ".join(o))
def test_bad_option_value_is_an_argparse_error(opts, tmp_path):
    outcome, why = run_option_case(opts, tmp_path)
    assert outcome.clean == 1, why


def test_extreme_shapes_are_refused_quickly_in_process():
    """Hypothesis over frame shapes: a frame either normalises within the bound or is refused with a ValueError
    naming the bound, in both resize modes; never a multi-gigabyte allocation."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    from gaitedge.data.pretreatment import normalise_silhouette

    @hypothesis.given(h=st.integers(1, 4000), w=st.integers(1, 4000), tall=st.booleans(),
                      mode=st.sampled_from(["opengait", "antialias"]), size=st.sampled_from([2, 64, 1024]))
    def check(h, w, tall, mode, size):
        shape = (h * 40, w) if tall else (h, w * 40)  # [H, W], up to 160,000 on the long side
        img = np.full(shape, 255, np.uint8)
        try:
            out = normalise_silhouette(img, size=size, resize=mode, max_resample_elements=2**22)
        except ValueError as e:
            assert "max_resample_elements" in str(e)
            return
        assert out is None or (out.dtype == np.uint8 and out.shape[0] == size)

    check()


def count_all() -> Outcome:
    """Runs every case once (file cases with 1 and 2 workers) and returns the totals."""
    total = Outcome()
    with tempfile.TemporaryDirectory(prefix="hostile_pretreat_") as d:
        runs = [(c, w) for c in FILE_CASES for w in (1, 2)]
        for i, (case, workers) in enumerate(runs):
            tmp = Path(d) / f"f{i}"
            tmp.mkdir()
            o, why = run_file_case(case, tmp, workers)
            total.add(o)
            if not o.clean:
                print(f"NOT CLEAN {case.name} (-n {workers}): {why}", file=sys.stderr)
        for i, opts in enumerate(BAD_OPTIONS):
            tmp = Path(d) / f"o{i}"
            tmp.mkdir()
            o, why = run_option_case(opts, tmp)
            total.add(o)
            if not o.clean:
                print(f"NOT CLEAN {' '.join(opts)}: {why}", file=sys.stderr)
        for i, output in enumerate(BAD_OUTPUTS):
            tmp = Path(d) / f"d{i}"
            tmp.mkdir()
            o, why = run_output_case(output, tmp)
            total.add(o)
            if not o.clean:
                print(f"NOT CLEAN -o {output}: {why}", file=sys.stderr)
    return total


if __name__ == "__main__":
    t = count_all()
    print(f"tried {t.tried}, clean errors {t.clean}, tracebacks {t.tracebacks}, hangs {t.hangs}, lost data {t.lost}")
    sys.exit(0 if t.clean == t.tried else 1)
