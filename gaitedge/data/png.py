"""Minimal PNG reader/writer on the standard library (zlib), so pretreatment needs no Pillow or OpenCV.

Reads non-interlaced PNGs of every colour type (grey, RGB, palette, grey+alpha, RGBA) at bit depths 1-16;
writes 8-bit grey or RGB(A). 16-bit images are reduced to 8 bits (high byte), palette images are expanded to RGB.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["read_png", "write_png"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _unfilter(raw: bytes, height: int, stride: int, bpp: int, path) -> np.ndarray:
    """Undo the per-scanline PNG filters. Returns ``[height, stride]`` uint8."""
    data = np.frombuffer(raw, np.uint8)
    if data.size != height * (stride + 1):
        raise ValueError(f"{path}: corrupt PNG: image data has {data.size} bytes, expected {height * (stride + 1)}")
    data = data.reshape(height, stride + 1)
    out = np.zeros((height, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(height):
        kind = data[y, 0]
        line = data[y, 1:].astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 2:
            cur = (line + prev) & 0xFF
        elif kind in (1, 3, 4):
            # Sub/Average/Paeth depend on the reconstructed byte to the left: sequential over pixels.
            cur = np.empty(stride, np.int32)
            for x in range(stride):
                left = cur[x - bpp] if x >= bpp else 0
                if kind == 1:
                    pred = left
                elif kind == 3:
                    pred = (left + prev[x]) >> 1
                else:
                    up, up_left = prev[x], (prev[x - bpp] if x >= bpp else 0)
                    p = left + up - up_left
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                    pred = left if pa <= pb and pa <= pc else (up if pb <= pc else up_left)
                cur[x] = (line[x] + pred) & 0xFF
        else:
            raise ValueError(f"{path}: corrupt PNG: unknown filter type {kind} on row {y}")
        out[y] = cur
        prev = cur
    return out


def read_png(path: str | Path) -> np.ndarray:
    """Read a PNG file.

    Args:
        path: file to read.

    Returns:
        uint8 ``[H, W]`` for grey images, ``[H, W, 3]`` for RGB/palette, ``[H, W, 2]`` / ``[H, W, 4]`` with alpha.

    Raises:
        ValueError: the file is not a PNG, is truncated or corrupt, or uses interlacing.
        FileNotFoundError: the file does not exist.
    """
    path = Path(path)
    blob = path.read_bytes()
    if blob[:8] != _SIGNATURE:
        raise ValueError(f"{path}: not a PNG file (bad signature)")
    pos, idat, header, palette = 8, [], None, None
    while pos + 8 <= len(blob):
        (length,) = struct.unpack(">I", blob[pos : pos + 4])
        kind = blob[pos + 4 : pos + 8]
        body = blob[pos + 8 : pos + 8 + length]
        if len(body) != length:
            raise ValueError(f"{path}: corrupt PNG: truncated {kind!r} chunk")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = np.frombuffer(body, np.uint8).reshape(-1, 3)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None or not idat:
        raise ValueError(f"{path}: corrupt PNG: missing IHDR or IDAT")
    width, height, depth, colour, _, _, interlace = header
    if colour not in _CHANNELS or depth not in (1, 2, 4, 8, 16):
        raise ValueError(f"{path}: unsupported PNG colour type {colour} / bit depth {depth}")
    if interlace:
        raise ValueError(f"{path}: interlaced PNGs are not supported")
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as e:
        raise ValueError(f"{path}: corrupt PNG: {e}") from None
    channels = _CHANNELS[colour]
    bits = channels * depth
    stride = (width * bits + 7) // 8
    rows = _unfilter(raw, height, stride, max(1, bits // 8), path)
    if depth < 8:
        values = np.unpackbits(rows, axis=1).reshape(height, -1, depth)[:, :width]
        weights = 1 << np.arange(depth - 1, -1, -1)
        img = (values * weights).sum(-1).astype(np.uint8)  # [H, W]
        if colour == 0:
            img = (img.astype(np.uint16) * 255 // ((1 << depth) - 1)).astype(np.uint8)
    elif depth == 16:
        img = rows.reshape(height, width * channels, 2)[..., 0].reshape(height, width, channels)
    else:
        img = rows.reshape(height, width, channels)
    if colour == 3:
        if palette is None:
            raise ValueError(f"{path}: corrupt PNG: palette image without PLTE")
        idx = img.reshape(height, width)
        if idx.max(initial=0) >= len(palette):
            raise ValueError(f"{path}: corrupt PNG: palette index out of range")
        return palette[idx]
    img = img.reshape(height, width, channels)
    return img[..., 0] if channels == 1 else img


def write_png(path: str | Path, image: np.ndarray, compress_level: int = 6) -> None:
    """Write an 8-bit PNG.

    Args:
        path: output file.
        image: uint8 (or bool) ``[H, W]`` grey, ``[H, W, 3]`` RGB or ``[H, W, 4]`` RGBA.
        compress_level: zlib level 0-9.
    """
    img = np.asarray(image)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.dtype != np.uint8:
        raise TypeError(f"image must be uint8 or bool, got {img.dtype}")
    if img.ndim == 2:
        colour = 0
    elif img.ndim == 3 and img.shape[2] in (3, 4):
        colour = 2 if img.shape[2] == 3 else 6
    else:
        raise ValueError(f"image must be [H, W], [H, W, 3] or [H, W, 4], got shape {img.shape}")
    h, w = img.shape[:2]
    if h == 0 or w == 0:
        raise ValueError(f"image must be non-empty, got shape {img.shape}")
    rows = img.reshape(h, -1)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], 1).tobytes()  # filter 0 on every row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    blob = _SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0))
    blob += chunk(b"IDAT", zlib.compress(raw, compress_level)) + chunk(b"IEND", b"")
    Path(path).write_bytes(blob)
