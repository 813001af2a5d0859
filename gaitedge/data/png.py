"""PNG reading and writing through OpenCV (``pip install 'gaitedge[data]'``, which installs opencv-python-headless).

OpenCV is what OpenGait's pretreatment reads frames with, and the fastest of the decoders measured
(``benchmarks/bench_pretreat.py --decode``). Everything in gaitedge that reads or writes a PNG goes through
:func:`read_png` / :func:`write_png`, so they share one set of conventions:

- channels come back in RGB order (OpenCV's own BGR is swapped), grey as ``[H, W]``, grey+alpha as ``[H, W, 2]``;
- palette images are expanded to RGB, or RGBA when they carry transparency (``tRNS``);
- 16-bit samples are reduced to their high byte and 1/2/4-bit grey is scaled to 0-255, so the result is uint8;
- bool images are written as 0/255.

Reading is bounded before it starts (the defaults are in :mod:`gaitedge.limits`): only a regular file is opened
(a FIFO, a device or a folder named ``*.png`` is refused, and is opened non-blocking in case it is swapped in after
the check), at most ``max_file_bytes`` are read, and the header's decoded size (width × height × channels × bytes
per sample) is compared with ``max_decoded_bytes`` before any pixel data is inflated: a few hundred kilobytes of PNG
can otherwise inflate to gigabytes.
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

import numpy as np

from ..limits import MAX_DECODED_BYTES, MAX_FILE_BYTES

__all__ = ["read_png", "read_bounded", "write_png", "DEFAULT_MAX_DECODED_BYTES", "DEFAULT_MAX_FILE_BYTES"]

DEFAULT_MAX_DECODED_BYTES = MAX_DECODED_BYTES
DEFAULT_MAX_FILE_BYTES = MAX_FILE_BYTES

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# colour type: (name, channels OpenCV decodes it to, allowed bit depths). OpenCV widens grey+alpha to 4 channels,
# and a palette may become RGBA, so the bound counts what the decoder allocates, not what is finally returned.
_COLOUR = {0: ("grey", 1, (1, 2, 4, 8, 16)), 2: ("RGB", 3, (8, 16)), 3: ("palette", 4, (1, 2, 4, 8)),
           4: ("grey+alpha", 4, (8, 16)), 6: ("RGBA", 4, (8, 16))}  # fmt: skip


def _cv2():
    try:
        import cv2
    except ImportError as e:
        raise ImportError(
            f"reading and writing PNG files needs OpenCV, which is not installed ({e}): pip install 'gaitedge[data]'"
        ) from None
    return cv2


def _check_header(blob: bytes, path, max_decoded_bytes: int) -> tuple[int, int, int, int]:
    """Validate the signature, IHDR and the chunks before the image data; returns (width, height, depth, colour)."""
    if blob[:8] != _SIGNATURE:
        raise ValueError(f"{path}: not a PNG file (bad signature)")
    if len(blob) < 8 + 8 + 13 or blob[8:16] != b"\x00\x00\x00\x0dIHDR":
        raise ValueError(f"{path}: corrupt PNG: the first chunk must be a 13-byte IHDR")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", blob[16:29])
    if width == 0 or height == 0 or width >= 2**31 or height >= 2**31:
        raise ValueError(f"{path}: corrupt PNG: image size {width}×{height}")
    if colour not in _COLOUR or depth not in _COLOUR[colour][2]:
        raise ValueError(f"{path}: corrupt PNG: invalid colour type {colour} with bit depth {depth}")
    if compression or filtering or interlace > 1:
        raise ValueError(f"{path}: corrupt PNG: unknown compression/filter/interlace method")
    name, channels, _ = _COLOUR[colour]
    decoded = width * height * channels * (2 if depth == 16 else 1)
    if decoded > max_decoded_bytes:
        raise ValueError(f"{path}: {width}×{height} {depth}-bit {name} PNG decodes to {decoded} bytes, over the "
                         f"limit of {max_decoded_bytes} bytes (max_decoded_bytes)")
    # The chunks up to the image data are few and small; checking their framing and the palette here gives a
    # message naming the problem (OpenCV only says that decoding failed).
    pos = 33
    while True:
        if pos + 8 > len(blob):
            raise ValueError(f"{path}: corrupt PNG: truncated before the image data")
        (length,) = struct.unpack(">I", blob[pos : pos + 4])
        kind = blob[pos + 4 : pos + 8]
        if pos + 12 + length > len(blob):
            raise ValueError(f"{path}: corrupt PNG: truncated {kind!r} chunk")
        if kind == b"IDAT":
            break
        if kind == b"PLTE" and (length == 0 or length % 3 or length > 768):
            raise ValueError(f"{path}: corrupt PNG: PLTE chunk of {length} bytes (must be 3 to 768, a multiple of 3)")
        pos += 12 + length
    return width, height, depth, colour


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _check_regular(mode: int, size: int, path, max_file_bytes: int) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a plain file")
        raise ValueError(f"{path}: not a regular file ({kind})")
    if size > max_file_bytes:
        raise ValueError(f"{path}: file of {size} bytes, over the limit of {max_file_bytes} bytes (max_file_bytes)")


def read_bounded(path: str | Path, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``max_file_bytes``; anything else is refused without blocking.

    Raises:
        ValueError: ``path`` is a FIFO, device, socket or folder, or is larger than ``max_file_bytes`` (checked
            before reading and again while reading, in case it grows); the message names it.
        OSError: it cannot be opened (missing, no permission).
    """
    st = os.stat(path)  # follows links: a link to a device is refused as the device
    _check_regular(st.st_mode, st.st_size, path, max_file_bytes)
    # O_NONBLOCK: a FIFO put in its place after the check must not block the open; fstat then refuses it
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        _check_regular(st.st_mode, st.st_size, path, max_file_bytes)
        chunks, total = [], 0
        want = st.st_size + 1  # os.read allocates what it is asked for: ask for the file, then for any growth
        while True:
            chunk = os.read(fd, min(want, max_file_bytes + 1 - total))
            want = 1 << 20
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_file_bytes:
                raise ValueError(f"{path}: grew past the limit of {max_file_bytes} bytes while being read "
                                 "(max_file_bytes)")
    finally:
        os.close(fd)
    return b"".join(chunks)


def read_png(path: str | Path, max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
             max_file_bytes: int = DEFAULT_MAX_FILE_BYTES, grey: bool = False) -> np.ndarray:
    """Read a PNG file.

    Args:
        path: file to read.
        max_decoded_bytes: refuse (before decoding) an image whose header says it decodes to more bytes than this
            (width × height × channels × bytes per sample). The default, 64 MiB, holds a 4096×4096 RGBA frame.
        max_file_bytes: refuse a file larger than this (64 MiB) before reading it.
        grey: decode to one channel with OpenCV's ``IMREAD_GRAYSCALE``, as OpenGait's pretreatment reads frames
            (colour is converted with OpenCV's weights, alpha ignored).

    Returns:
        uint8 ``[H, W]`` for grey (and for every image when ``grey``), ``[H, W, 2]`` grey+alpha, ``[H, W, 3]`` RGB
        (and palette), ``[H, W, 4]`` RGBA (and palette with transparency).

    Raises:
        ValueError: the file is not a regular file, is over a limit, is not a PNG, is truncated or corrupt, or
            OpenCV refuses it; the message names the file.
        FileNotFoundError: the file does not exist.
        ImportError: OpenCV (the ``data`` extra) is not installed.
    """
    cv2 = _cv2()
    blob = read_bounded(path, max_file_bytes)
    width, height, depth, colour = _check_header(blob, path, max_decoded_bytes)
    try:
        img = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_UNCHANGED)
    except cv2.error as e:  # OpenCV's own limits (e.g. a side over 2^20 pixels) and decoder failures
        reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path}: OpenCV refused the PNG ({reason})") from None
    if img is None or img.shape[:2] != (height, width):
        raise ValueError(f"{path}: corrupt PNG: the image data could not be decoded")
    if grey:
        return img if img.dtype == np.uint8 else (img >> 8).astype(np.uint8)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if img.ndim == 3 and img.shape[2] == 4:
        if colour == 4:  # grey+alpha, widened by OpenCV to BGRA
            return np.ascontiguousarray(img[..., [0, 3]])
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    return img


def write_png(path: str | Path, image: np.ndarray, compress_level: int = 6) -> Path:
    """Write an 8-bit PNG (creating the parent folder).

    Args:
        path: output file.
        image: uint8 or bool ``[H, W]`` grey, ``[H, W, 3]`` RGB or ``[H, W, 4]`` RGBA; bool is written as 0/255.
        compress_level: zlib level 0-9.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    img = np.asarray(image)
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.dtype != np.uint8:
        raise TypeError(f"image must be uint8 or bool, got {img.dtype}")
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (3, 4))):
        raise ValueError(f"image must be [H, W], [H, W, 3] or [H, W, 4], got shape {img.shape}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"image must be non-empty, got shape {img.shape}")
    cv2 = _cv2()
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR if img.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, int(compress_level)])
    if not ok:
        raise ValueError(f"{path}: OpenCV could not encode a {img.shape} image as PNG")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.tobytes())
    return path
