"""Pretreatment: size normalisation (incl. OpenGait's x_center == 0 bug fixed), PNG folders, RGB crops, PNG I/O."""

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


def test_normalise_keeps_frame_with_median_column_zero():
    img = np.zeros((100, 100), np.uint8)
    img[10:90, 0:1] = 255  # a one-pixel-wide person on the left border: median column 0
    out = normalise_silhouette(img, min_sum=0)
    assert out is not None and out[:, 32].max() > 0  # OpenGait would drop this frame
    assert normalise_silhouette(np.zeros((50, 50), np.uint8)) is None
    assert normalise_silhouette(_person(bw=2, bh=4)) is None  # sum 2040 <= 10000


def test_png_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    for img in (rng.integers(0, 256, (7, 5), dtype=np.uint8), rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)):
        write_png(tmp_path / "x.png", img)
        np.testing.assert_array_equal(read_png(tmp_path / "x.png"), img)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="bad.png"):
        read_png(tmp_path / "bad.png")


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
