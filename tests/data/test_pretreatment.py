"""Pretreatment: size normalisation (OpenGait's and the antialiased mode), PNG folders, RGB crops, PNG I/O."""

import importlib.util

import numpy as np
import pytest

from gaitedge.data import (
    GaitDataset,
    crop_box,
    normalise_silhouette,
    pretreat_rgb_sequence,
    pretreat_silhouette_folders,
)
from gaitedge.data.png import read_png, write_png

needs_cv2 = pytest.mark.skipif(importlib.util.find_spec("cv2") is None, reason="needs the data extra (OpenCV)")


def _person(h=240, w=320, x0=140, y0=40, bw=40, bh=160):
    img = np.zeros((h, w), np.uint8)
    img[y0 : y0 + bh, x0 : x0 + bw] = 255
    return img


def test_normalise_silhouette_fills_height_and_centres():
    out = normalise_silhouette(_person())
    assert out.shape == (64, 64) and out.dtype == np.uint8
    rows = np.flatnonzero(out.any(1))
    assert rows[0] == 0 and rows[-1] == 63
    cols = np.flatnonzero(out[32] > 127)
    assert len(cols) == 16  # 40/160 · 64 keeps the aspect ratio
    assert abs((cols[0] + cols[-1]) / 2 - 32) <= 1


def test_normalise_antialias_keeps_frame_with_median_column_zero():
    img = np.zeros((100, 100), np.uint8)
    img[10:90, 0:1] = 255  # a one-pixel-wide person on the left border: median column 0
    out = normalise_silhouette(img, min_sum=0, resize="antialias")
    assert out is not None and out[:, 32].max() > 0
    if importlib.util.find_spec("cv2") is not None:
        assert normalise_silhouette(img, min_sum=0) is None  # the default follows OpenGait, which drops it
    assert normalise_silhouette(np.zeros((50, 50), np.uint8)) is None
    assert normalise_silhouette(_person(bw=2, bh=4)) is None  # sum 2040 <= 10000


@needs_cv2
def test_png_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    for img in (rng.integers(0, 256, (7, 5), dtype=np.uint8), rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)):
        write_png(tmp_path / "x.png", img)
        np.testing.assert_array_equal(read_png(tmp_path / "x.png"), img)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="bad.png"):
        read_png(tmp_path / "bad.png")


@needs_cv2
def test_png_filters_decoded(tmp_path):
    import struct
    import zlib

    # Hand-made 3×2 grey image using Sub, Up and Paeth filters.
    rows = [[1, 10, 5, 7], [2, 1, 1, 1], [4, 3, 0, 250]]  # filter byte + 3 bytes
    raw = bytes(sum(rows, []))

    def chunk(k, b):
        return struct.pack(">I", len(b)) + k + b + struct.pack(">I", zlib.crc32(k + b))

    blob = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 3, 3, 8, 0, 0, 0, 0))
    blob += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    (tmp_path / "f.png").write_bytes(blob)
    row0 = [10, 15, 22]
    row1 = [11, 16, 23]
    row2 = []
    for x, v in enumerate([3, 0, 250]):  # Paeth
        left = row2[x - 1] if x else 0
        up, ul = row1[x], (row1[x - 1] if x else 0)
        p = left + up - ul
        pred = min((abs(p - left), 0, left), (abs(p - up), 1, up), (abs(p - ul), 2, ul))[2]
        row2.append((v + pred) & 255)
    np.testing.assert_array_equal(read_png(tmp_path / "f.png"), np.array([row0, row1, row2], np.uint8))


@needs_cv2
@pytest.mark.parametrize("fmt", ["opengait", "native"])
def test_pretreat_png_folders(tmp_path, fmt):
    src = tmp_path / "in"
    for sid, view, n in (("001", "000", 3), ("002", "090", 4)):
        folder = src / sid / "nm-01" / view
        folder.mkdir(parents=True)
        for i in range(n):
            write_png(folder / f"{sid}-nm-01-{view}-{i:03d}.png", _person(x0=100 + 10 * i))
        write_png(folder / f"{sid}-nm-01-{view}-999.png", np.zeros((240, 320), np.uint8))  # empty: dropped
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="only 3 frame"):
        summary = pretreat_silhouette_folders(
            src, out, workers=2, fmt=fmt, partition={"TRAIN_SET": ["001"], "TEST_SET": ["002"]}
        )
    assert summary["sequences"] == 2 and summary["frames"] == 7 and summary["dropped"] == 2
    ds = GaitDataset(out, modalities=("aligned_sils",), split="TEST_SET", partition=None if fmt == "native" else out / "partition.json")
    x, label, _, view = ds[0]
    assert (label, view) == ("002", "090") and x["aligned_sils"].shape == (4, 64, 64)
    np.testing.assert_array_equal(x["aligned_sils"][0], normalise_silhouette(_person(x0=100)))


def test_crop_box_and_rgb_sequence():
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[40:200, 140:180] = (200, 50, 20)
    crop, ratio = crop_box(frame, (140, 40, 180, 200), size=32)
    assert crop.shape == (32, 32, 3) and ratio == pytest.approx(0.25)
    np.testing.assert_allclose(crop[16, 16], (200, 50, 20), atol=1e-3)
    masks = np.zeros((2, 240, 320), bool)
    masks[:, 40:200, 140:180] = True
    masks[1] = False  # an empty mask: the frame is dropped
    out = pretreat_rgb_sequence(np.stack([frame, frame]), masks, size=32)
    assert out["rgbs"].shape == (1, 3, 32, 32) and out["sils"].shape == (1, 32, 32)
    assert out["aligned_sils"].shape == (1, 64, 44) and out["ratios"][0] == pytest.approx(0.25)
    assert (out["sils"] == 255).all()  # the tight box is all person
    with pytest.raises(ValueError, match="box"):
        crop_box(frame, (10, 10, 5, 20))


def _bad_pngs():
    """Three damaged files: a 4-byte IHDR, a PLTE not a multiple of 3 long, and a header promising 1 GiB."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    def png(ihdr, extra=b""):
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(bytes(64)))
                + chunk(b"IEND", b""))

    return {
        "short-ihdr.png": png(b"\x00\x00\x01\x40"),
        "bad-plte.png": png(struct.pack(">IIBBBBB", 4, 4, 8, 3, 0, 0, 0), chunk(b"PLTE", bytes(8))),
        "bomb.png": png(struct.pack(">IIBBBBB", 16384, 16384, 8, 6, 0, 0, 0)),
    }


@needs_cv2
@pytest.mark.parametrize("workers", [1, 2])
def test_pretreat_skips_malformed_pngs_and_reports_them(tmp_path, caplog, workers):
    src = tmp_path / "in"
    bad = _bad_pngs()
    placed = {}
    for sid, n, names in (("001", 5, ["short-ihdr.png"]), ("002", 6, ["bad-plte.png", "bomb.png"])):
        folder = src / sid / "nm-01" / "090"
        folder.mkdir(parents=True)
        for i in range(n):
            write_png(folder / f"{i:03d}.png", _person(x0=100 + 5 * i))
        for name in names:
            (folder / name).write_bytes(bad[name])
            placed[name] = str(folder / name)
    with caplog.at_level("WARNING", logger="gaitedge.data.pretreatment"):
        summary = pretreat_silhouette_folders(src, tmp_path / "out", workers=workers, fmt="native")
    assert summary["sequences"] == 2 and summary["read"] == 11 and summary["frames"] == 11
    assert set(summary["skipped"]) == set(placed.values())
    assert "limit" in summary["skipped"][placed["bomb.png"]]
    for path in placed.values():
        assert any(path in r.getMessage() for r in caplog.records), path
    ds = GaitDataset(tmp_path / "out", modalities=("aligned_sils",), split=None)
    assert [ds[i][0]["aligned_sils"].shape[0] for i in range(len(ds))] == [5, 6]


@needs_cv2
def test_cli_pretreat_prints_the_summary(tmp_path, capsys):
    from gaitedge.cli import build_parser, main

    src = tmp_path / "in"
    folder = src / "001" / "nm-01" / "000"
    folder.mkdir(parents=True)
    for i in range(5):
        write_png(folder / f"{i:03d}.png", _person(x0=100 + 5 * i))
    (folder / "zz.png").write_bytes(_bad_pngs()["short-ihdr.png"])
    assert main(["pretreat", "-i", str(src), "-o", str(tmp_path / "out"), "-n", "1"]) == 1  # a file was skipped
    out = capsys.readouterr()
    text = out.out + out.err
    assert "5 frames read" in text and "1 file skipped" in text and str(folder / "zz.png") in text
    a = build_parser().parse_args(["pretreat", "-i", "x", "-o", "y"])
    assert a.workers is None and a.max_decoded_mib is not None  # workers default: the usable cores


def test_pretreatment_starts_without_torch():
    """Pretreatment and PNG I/O need no torch, and importing it costs seconds per `gaitedge pretreat` run."""
    import subprocess
    import sys

    code = ("import sys\nfrom gaitedge.data import pretreat_silhouette_folders\nimport gaitedge.data.png\n"
            "from gaitedge.cli import build_parser\nprint(sorted(m for m in ('torch',) if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", (out.stdout, out.stderr[-2000:])


@needs_cv2
def test_bench_pretreat_smoke(tmp_path):
    """The pretreatment benchmark runs end to end on a tiny tree and both tools write every sequence."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "r.json"
    cmd = [sys.executable, "-m", "benchmarks.bench_pretreat", "--tree", str(tmp_path / "tree"), "--ids", "1",
           "--types", "1", "--views", "2", "--frames", "6", "--rounds", "1", "--workers", "1", "--decode",
           "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(out.read_text())
    assert r["frames"] == 12 and r["sequences_written"] == {"opengait-style baseline": 2, "gaitedge pretreat": 2}
    assert r["identical_frames"] is True and r["cpu_model"]
    assert {d["decoder"] for d in r["decode"]} >= {"cv2.imread (OpenGait)"}


@pytest.mark.parametrize("h,w,out_h,out_w", [(240, 180, 64, 48), (100, 37, 64, 24), (30, 20, 64, 43), (64, 44, 64, 44)])
def test_resample_matrix_equals_torch_antialiased_bilinear(h, w, out_h, out_w):
    # pretreatment's separable weights are torch's antialiased bilinear resize, written as matrices so that only
    # the silhouette's non-empty columns are multiplied
    import torch
    import torch.nn.functional as F

    from gaitedge.data.resample import resample_matrix

    img = np.random.default_rng(h * w).random((h, w)).astype(np.float32) * 255  # [h, w]
    ours = (resample_matrix(h, out_h) @ img) @ resample_matrix(w, out_w).T  # [out_h, out_w]
    ref = F.interpolate(torch.from_numpy(img)[None, None], size=(out_h, out_w), mode="bilinear",
                        align_corners=False, antialias=True)[0, 0].numpy()
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-3)


def _opengait_reference():
    """The tests' statement of OpenGait's per-frame pretreatment (benchmarks/opengait_pretreat_baseline.py)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from benchmarks.opengait_pretreat_baseline import normalise

    return normalise


@needs_cv2
def test_default_normalisation_equals_opengait_on_walking_figures():
    from benchmarks.bench_pretreat import _figure

    reference = _opengait_reference()
    for subject in range(5):
        for t in np.linspace(0, 1, 23):
            frame = _figure(float(t), subject)
            ours, theirs = normalise_silhouette(frame), reference(frame)
            assert (ours is None) == (theirs is None)
            if ours is not None:
                assert ours.dtype == theirs.dtype == np.uint8
                np.testing.assert_array_equal(ours, theirs)


@needs_cv2
def test_default_normalisation_equals_opengait_property():
    """Random blobs of any size and place, thin, wide, touching a border or not, grey levels included: the default
    mode gives OpenGait's frame or drops it exactly when OpenGait does."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    reference = _opengait_reference()

    @hypothesis.given(h=st.integers(8, 300), w=st.integers(8, 400), boxes=st.lists(
        st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.integers(1, 255)),
        min_size=1, max_size=4), size=st.sampled_from([64, 63, 32]))
    @hypothesis.settings(max_examples=60)
    def check(h, w, boxes, size):
        img = np.zeros((h, w), np.uint8)  # [H, W]
        for y, x, bh, bw, v in boxes:
            y0, x0 = int(y * (h - 1)), int(x * (w - 1))
            img[y0 : y0 + 1 + int(bh * h), x0 : x0 + 1 + int(bw * w / 4)] = v
        try:
            theirs = reference(img, size)
        except Exception:  # OpenGait's script stops on a frame whose width truncates to 0; ours drops it
            theirs = None
        ours = normalise_silhouette(img, size=size)
        assert (ours is None) == (theirs is None)
        if ours is not None:
            np.testing.assert_array_equal(ours, theirs)

    check()


@needs_cv2
def test_pretreat_workers_run_one_thread_each():
    """OpenCV's threads are limited in each worker, and the CLI sets the BLAS/OpenMP variables before numpy loads,
    so a process per core does not become a thread per core per process."""
    import subprocess
    import sys

    code = ("import os, sys\nfrom gaitedge.cli import main\n"
            "try:\n    main(['pretreat', '-i', sys.argv[1], '-o', sys.argv[2]])\nexcept SystemExit:\n    pass\n"
            "import cv2\nfrom gaitedge.data._pool import _init_worker\n_init_worker()\n"
            "print(os.environ.get('OPENBLAS_NUM_THREADS'), os.environ.get('OMP_NUM_THREADS'), cv2.getNumThreads())")
    env = {k: v for k, v in __import__("os").environ.items() if not k.endswith("_NUM_THREADS")}
    proc = subprocess.run([sys.executable, "-c", code, "/nonexistent-in", "/nonexistent-out"], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.stdout.split() == ["1", "1", "1"], proc.stdout + proc.stderr[-2000:]


def test_resize_bound_refuses_extreme_shapes_before_allocating():
    row = np.full((1, 5000), 255, np.uint8)  # 5 KB of pixels; resized to height 64 it would be 64 × 320,000
    with pytest.raises(ValueError, match="max_resample_elements"):
        normalise_silhouette(row, resize="antialias")
    if importlib.util.find_spec("cv2") is not None:
        with pytest.raises(ValueError, match="max_resample_elements"):
            normalise_silhouette(row)
    tall = np.full((5000, 1), 255, np.uint8)  # width truncates to 0: dropped (OpenGait's script stops there)
    if importlib.util.find_spec("cv2") is not None:
        assert normalise_silhouette(tall) is None
    with pytest.raises(ValueError, match="non-finite|NaN"):
        normalise_silhouette(np.full((10, 10), np.nan, np.float32))


def test_limits_is_a_leaf_module():
    """Every layer reads its bounds from gaitedge.limits, so it must import nothing from gaitedge."""
    import ast
    from pathlib import Path

    import gaitedge.limits as limits

    tree = ast.parse(Path(limits.__file__).read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module != "__future__"]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    relative = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
    assert not relative and not [m for m in imported if m.startswith("gaitedge")], imported
    assert all(isinstance(getattr(limits, name), int) and getattr(limits, name) > 0 for name in limits.__all__)


@needs_cv2
def test_worker_initialiser_limits_blas_threads():
    """With threadpoolctl (the data extra), each worker's BLAS runs one thread even when numpy was loaded first."""
    pytest.importorskip("threadpoolctl")
    import subprocess
    import sys

    code = ("import numpy\nfrom threadpoolctl import threadpool_info\nfrom gaitedge.data._pool import "
            "_init_worker\n_init_worker()\nprint(sorted({i['num_threads'] for i in threadpool_info()}))")
    env = {k: v for k, v in __import__("os").environ.items() if not k.endswith("_NUM_THREADS")}  # BLAS's default
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.stdout.strip() in ("[1]", "[]"), proc.stdout + proc.stderr[-2000:]


def _worker_that_dies(job):
    import os

    os._exit(3)  # as a worker killed by the system's out-of-memory handler ends


@needs_cv2
def test_cli_pretreat_reports_a_worker_that_died_in_one_line(tmp_path, capsys, monkeypatch):
    import multiprocessing

    from gaitedge.cli import main
    from gaitedge.data import pretreatment

    if multiprocessing.get_start_method() != "fork":
        pytest.skip("the replaced worker reaches the pool only through fork")
    src = tmp_path / "in"
    for sid in ("001", "002"):
        folder = src / sid / "nm-01" / "000"
        folder.mkdir(parents=True)
        write_png(folder / "000.png", _person())
    monkeypatch.setattr(pretreatment, "_pretreat_one", _worker_that_dies)
    assert main(["pretreat", "-i", str(src), "-o", str(tmp_path / "out"), "-n", "2"]) == 2
    err = capsys.readouterr().err
    assert "worker process ended abruptly" in err and "Traceback" not in err


@needs_cv2
def test_pretreat_workers_start_in_a_process_that_ran_torch(tmp_path):
    """A caller that has run torch ops on several threads (a notebook, a training script, a test session) still gets
    its sequences: its workers are not forked from a process whose OpenMP threads may hold a lock."""
    import subprocess
    import sys

    src = tmp_path / "in"
    for sid in ("001", "002"):
        folder = src / sid / "nm-01" / "000"
        folder.mkdir(parents=True)
        for i in range(5):
            write_png(folder / f"{i:03d}.png", _person(x0=100 + 10 * i))
    code = ("import sys, torch\ntorch.set_num_threads(2)\nx = torch.randn(256, 256)\n"
            "for _ in range(20):\n    x = torch.tanh(x @ x)\n"
            "from gaitedge.data import pretreat_silhouette_folders\n"
            "print(pretreat_silhouette_folders(sys.argv[1], sys.argv[2], workers=2)['frames'])")
    proc = subprocess.run([sys.executable, "-c", code, str(src), str(tmp_path / "out")], capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0 and proc.stdout.split()[-1] == "10", proc.stdout + proc.stderr[-2000:]


def test_worker_pool_never_forks_a_process_that_imported_torch():
    """Forking after torch has started threads can leave a worker waiting forever on a lock held at the fork (seen:
    pretreatment hung in a test session after an AOTInductor export); such a process starts its workers fresh."""
    import sys

    from gaitedge.data._pool import worker_pool

    assert "torch" in sys.modules  # the test session imported it
    pool = worker_pool(2)
    try:
        assert pool._mp_context.get_start_method() == "spawn"
    finally:
        pool.shutdown()
