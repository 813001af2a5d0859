"""PNG reading and writing (gaitedge.data.png, through the ``data`` extra's OpenCV).

The PNGs here are assembled byte by byte with zlib, independently of the library under test, so every colour type,
bit depth and kind of damage is exactly what the test says it is.
"""

import importlib.util
import struct
import sys
import time
import tracemalloc
import zlib

import numpy as np
import pytest

from gaitedge.data import png

needs_cv2 = pytest.mark.skipif(importlib.util.find_spec("cv2") is None, reason="needs the data extra (OpenCV)")


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width, height, depth, colour, rows, before_idat=b"", ihdr=None, idat=None) -> bytes:
    """A PNG with filter 0 on every row; ``rows`` are the packed scanlines (without the filter byte)."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0) if ihdr is None else ihdr
    data = zlib.compress(b"".join(b"\x00" + bytes(r) for r in rows)) if idat is None else idat
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + before_idat + _chunk(b"IDAT", data)
            + _chunk(b"IEND", b""))


def _adam7(img: np.ndarray) -> bytes:
    """An interlaced (Adam7) 8-bit grey PNG of ``img``: seven passes of sub-images, filter 0 on every row."""
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        sub = img[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\x00" + row.tobytes() for row in sub)
    h, w = img.shape
    return _png(w, h, 8, 0, [], ihdr=struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 1), idat=zlib.compress(raw))


PALETTE = bytes([255, 0, 0, 0, 255, 0, 0, 0, 255])
INDICES = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
RGB_OF = np.frombuffer(PALETTE, np.uint8).reshape(3, 3)


def _cases():
    grey = np.array([[0, 100, 255], [7, 8, 9]], np.uint8)
    grey_alpha = np.stack([grey, 255 - grey], -1)
    rgb = (np.arange(18).reshape(2, 3, 3) * 10).astype(np.uint8)
    rgba = (np.arange(24).reshape(2, 3, 4) * 10).astype(np.uint8)
    g16 = np.array([[0, 1000, 65535], [256, 512, 40000]], ">u2")
    rgb16 = (np.arange(18).reshape(2, 3, 3) * 3000).astype(">u2")
    plte = _chunk(b"PLTE", PALETTE)
    return {
        "grey": (_png(3, 2, 8, 0, grey), grey),
        "grey+alpha": (_png(3, 2, 8, 4, grey_alpha.reshape(2, -1)), grey_alpha),
        "rgb": (_png(3, 2, 8, 2, rgb.reshape(2, -1)), rgb),
        "rgba": (_png(3, 2, 8, 6, rgba.reshape(2, -1)), rgba),
        "palette": (_png(3, 2, 8, 3, INDICES, plte), RGB_OF[INDICES]),
        "palette 2-bit": (_png(3, 2, 2, 3, [[0b00011000], [0b10010000]], plte), RGB_OF[INDICES]),
        "palette+tRNS": (_png(3, 2, 8, 3, INDICES, plte + _chunk(b"tRNS", bytes([0, 128]))),
                         np.concatenate([RGB_OF[INDICES], np.array([0, 128, 255], np.uint8)[INDICES][..., None]], -1)),
        "grey 16-bit": (_png(3, 2, 16, 0, g16.view(np.uint8)), (g16 >> 8).astype(np.uint8)),
        "rgb 16-bit": (_png(3, 2, 16, 2, rgb16.reshape(2, -1).view(np.uint8)), (rgb16 >> 8).astype(np.uint8)),
        "grey interlaced": (_adam7(np.arange(99, dtype=np.uint8).reshape(9, 11) * 2),
                            np.arange(99, dtype=np.uint8).reshape(9, 11) * 2),
        # low bit depths are scaled to 0-255
        "grey 1-bit": (_png(3, 2, 1, 0, [[0b10100000], [0b01000000]]),
                       np.array([[255, 0, 255], [0, 255, 0]], np.uint8)),
        "grey 4-bit": (_png(3, 2, 4, 0, [[0x0F, 0x70], [0x12, 0x30]]),
                       np.array([[0, 255, 119], [17, 34, 51]], np.uint8)),
    }


@needs_cv2
@pytest.mark.parametrize("name", sorted(_cases()))
def test_colour_types_and_depths(tmp_path, name):
    data, want = _cases()[name]
    (tmp_path / "x.png").write_bytes(data)
    got = png.read_png(tmp_path / "x.png")
    assert got.dtype == np.uint8 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@needs_cv2
def test_malformed_files_raise_value_errors_naming_the_file(tmp_path):
    grey = np.zeros((2, 3), np.uint8)
    bad = {
        "ihdr4.png": _png(3, 2, 8, 0, grey, ihdr=b"\x00\x00\x00\x03"),  # a 4-byte IHDR
        "plte8.png": _png(3, 2, 8, 3, INDICES, _chunk(b"PLTE", PALETTE[:8])),  # not a multiple of 3
        "truncated.png": _png(3, 2, 8, 0, grey)[:-20],
        "notpng.png": b"GIF89a" + bytes(40),
        "empty.png": b"",
        "zero.png": _png(0, 2, 8, 0, []),
        "colour5.png": _png(3, 2, 8, 5, grey),
        "depth3.png": _png(3, 2, 3, 0, grey),
        "badzlib.png": _png(3, 2, 8, 0, grey, idat=b"\x78\x9c garbage"),
    }
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=name.replace(".", r"\.")):
            png.read_png(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        png.read_png(tmp_path / "missing.png")


@needs_cv2
def test_decoded_size_is_bounded_before_decoding(tmp_path):
    # A real decompression bomb, small: 4096×4096 zeros, 16 MiB decoded from ~16 KB.
    side = 4096
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(bytes(side + 1)) for _ in range(side)) + comp.flush()
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png(side, side, 8, 0, [], idat=idat))
    assert bomb.stat().st_size < 64 * 1024
    with pytest.raises(ValueError, match=r"bomb\.png.*16777216 bytes.*limit"):
        png.read_png(bomb, max_decoded_bytes=8 * 2**20)
    assert png.read_png(bomb, max_decoded_bytes=32 * 2**20).shape == (side, side)
    # With the default limit a header promising 16384×16384 RGBA (1 GiB) is refused from the header alone:
    # no pixel data is ever inflated, so this costs neither time nor memory.
    huge = tmp_path / "huge.png"
    huge.write_bytes(_png(16384, 16384, 8, 6, [], idat=zlib.compress(bytes(1000))))
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(ValueError, match=r"huge\.png.*limit"):
            png.read_png(huge)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 1.0 and peak < 4 * 2**20
    assert png.DEFAULT_MAX_DECODED_BYTES >= 3840 * 2160 * 4 * 2  # a 4K UHD frame, RGBA, 16 bits per sample


@needs_cv2
def test_write_png_round_trip_and_bool(tmp_path):
    rng = np.random.default_rng(0)
    for img in (rng.integers(0, 256, (7, 5), dtype=np.uint8), rng.integers(0, 256, (4, 6, 3), dtype=np.uint8),
                rng.integers(0, 256, (4, 6, 4), dtype=np.uint8)):
        png.write_png(tmp_path / "sub" / "x.png", img)
        np.testing.assert_array_equal(png.read_png(tmp_path / "sub" / "x.png"), img)
    mask = rng.random((5, 6)) > 0.5
    png.write_png(tmp_path / "mask.png", mask)
    np.testing.assert_array_equal(png.read_png(tmp_path / "mask.png"), np.where(mask, 255, 0))
    with pytest.raises(TypeError, match="uint8 or bool"):
        png.write_png(tmp_path / "f.png", np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="shape"):
        png.write_png(tmp_path / "f.png", np.zeros((2, 2, 2), np.uint8))


@needs_cv2
def test_report_writes_pngs_through_the_same_function(tmp_path):
    from gaitedge.evaluation import report

    assert report.write_png is png.write_png
    mask = np.zeros((4, 5), bool)
    mask[1:3, 2:4] = True
    out = report.write_png(tmp_path / "m.png", mask)  # bool: 0/255 in both places
    np.testing.assert_array_equal(png.read_png(out), np.where(mask, 255, 0))
    grid = report.image_grid([[np.zeros((4, 4)), np.ones((3, 4, 4))]], tmp_path / "g.png", cell=(8, 6))
    assert png.read_png(grid).shape == (2 + 8 + 2, 2 + 2 * (6 + 2), 3)


def test_missing_library_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "x.png").write_bytes(_png(3, 2, 8, 0, np.zeros((2, 3), np.uint8)))
    monkeypatch.setitem(sys.modules, "cv2", None)  # makes `import cv2` raise ImportError
    with pytest.raises(ImportError, match=r"pip install 'gaitedge\[data\]'"):
        png.read_png(tmp_path / "x.png")
    with pytest.raises(ImportError, match=r"pip install 'gaitedge\[data\]'"):
        png.write_png(tmp_path / "y.png", np.zeros((2, 2), np.uint8))
