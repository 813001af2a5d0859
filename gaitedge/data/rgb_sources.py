"""Reading a user's RGB sequences from disk: full frames (image folder or video) with masks or boxes, and
CASIA-B*-style crop folders. One sequence at a time; every error names the file it comes from.

Layouts (``docs/data.md``, "Your own RGB data"):

- ``frames``: ``root/<id>/<type>/<view>/`` holds the RGB frames, either a folder ``frames/`` of images (``.png``,
  ``.jpg``, ``.jpeg``, ``.bmp``; sorted by name) or one video file ``video.<ext>`` (``.mp4``, ``.avi``, ``.mkv``,
  ``.mov``, read with OpenCV), and the person: a folder ``masks/`` of images (one per frame, in the same sorted
  order, matching each frame's size) and/or ``boxes.txt`` (one ``x0 y0 x1 y1`` line per frame, pixel edges).
- ``crops``: CASIA-B*'s ``root/crop_im/<id>/<type>/<view>/*`` person crops with the segmentation
  ``root/crop_seg/<id>/<type>/<view>/*`` of the same file stems, and the ratios file ``ratios.txt`` (one width/height
  per frame) in either sequence folder when one exists.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .png import DEFAULT_MAX_DECODED_BYTES, _cv2, read_png

__all__ = ["RGBSequence", "SequenceError", "find_rgb_sequences", "read_rgb_sequence", "IMAGE_SUFFIXES",
           "VIDEO_SUFFIXES", "LAYOUTS", "DEFAULT_MAX_SEQUENCE_BYTES"]

# The decoded frames and masks of one sequence stay under this: a long full-HD video would otherwise fill memory.
DEFAULT_MAX_SEQUENCE_BYTES = 2 * 2**30
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov")
LAYOUTS = ("frames", "crops")
Key = tuple[str, str, str]


class SequenceError(ValueError):
    """A sequence that cannot be used; the message names the offending file."""


class _Budget:
    """Bytes left for one sequence's decoded images."""

    def __init__(self, limit: int) -> None:
        self.left = limit
        self.limit = limit

    def take(self, arr: np.ndarray, path) -> np.ndarray:
        self.left -= arr.nbytes
        if self.left < 0:
            raise SequenceError(f"{path}: the sequence decodes to more than {self.limit / 2**20:.0f} MiB (the "
                                "per-sequence bound); split it or crop the frames first")
        return arr


@dataclass
class RGBSequence:
    """One sequence as read from disk, before cropping.

    ``frames`` uint8 ``[n, H, W, 3]`` RGB; ``masks`` uint8 ``[n, H, W]`` (0 background) or None; ``boxes`` float
    ``[n, 4]`` or None; ``ratios`` float32 ``[n]`` (crops layout: each crop's original box width/height) or None.
    ``names`` are the per-frame file names (or ``video.mp4#17``), so a later error can name the frame.
    """

    key: Key
    frames: np.ndarray
    names: list[str]
    masks: np.ndarray | None = None
    boxes: np.ndarray | None = None
    ratios: np.ndarray | None = None
    is_crop: bool = False
    notes: list[str] = field(default_factory=list)


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _videos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.stem == "video" and p.suffix.lower() in VIDEO_SUFFIXES)


def find_rgb_sequences(root: str | Path, layout: str) -> list[Key]:
    """Sequence keys ``(id, type, view)`` found under ``root`` for ``layout`` ("frames" or "crops"), sorted."""
    root = Path(root)
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if not root.is_dir():
        raise FileNotFoundError(f"input root is not a folder: {root}")
    if layout == "crops":
        base = root / "crop_im"
        if not base.is_dir():
            raise FileNotFoundError(f"{root} has no crop_im folder (the crops layout needs crop_im/ and crop_seg/)")
        return sorted(tuple(p.relative_to(base).parts) for p in base.glob("*/*/*") if p.is_dir())
    keys = []
    for seq in root.glob("*/*/*"):
        if seq.is_dir() and ((seq / "frames").is_dir() or _videos(seq)):
            keys.append(tuple(seq.relative_to(root).parts))
    return sorted(keys)


def _header_size(blob: bytes, suffix: str) -> tuple[int, int] | None:
    """``(width, height)`` from a JPEG's frame header or a BMP's info header; None when not found."""
    if suffix == ".bmp":
        if blob[:2] != b"BM" or len(blob) < 26:
            return None
        w, h = struct.unpack("<ii", blob[18:26])
        return abs(w), abs(h)
    i = 2 if blob[:2] == b"\xff\xd8" else len(blob)
    while i + 9 <= len(blob):
        if blob[i] != 0xFF:
            return None
        marker = blob[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if 0xD0 <= marker <= 0xD9 or marker == 0x01:  # markers without a length
            i += 2
            continue
        length = struct.unpack(">H", blob[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            h, w = struct.unpack(">HH", blob[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None


def _check_size(path: Path, max_decoded_bytes: int) -> None:
    """Refuse a JPEG or BMP whose header promises more than ``max_decoded_bytes`` of RGB, before decoding it."""
    try:
        with open(path, "rb") as f:
            blob = f.read(1 << 20)  # the frame header follows the tables and metadata (EXIF, ICC): 1 MiB holds them
    except OSError as e:
        raise SequenceError(f"{path}: unreadable ({e})") from None
    size = _header_size(blob, path.suffix.lower())
    if size is None:
        raise SequenceError(f"{path}: not a readable image (no {path.suffix.lower()[1:].upper()} size header)")
    if size[0] * size[1] * 3 > max_decoded_bytes:
        raise SequenceError(f"{path}: {size[0]}x{size[1]} decodes to more than the {max_decoded_bytes} byte limit")


def _read_image(path: Path, grey: bool, max_decoded_bytes: int, budget: _Budget) -> np.ndarray:
    """uint8 ``[H, W, 3]`` RGB, or ``[H, W]`` for ``grey`` (first channel of a colour file)."""
    if path.suffix.lower() == ".png":
        img = read_png(path, max_decoded_bytes)
    else:
        _check_size(path, max_decoded_bytes)
        cv2 = _cv2()
        img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR)
        if img is None:
            raise SequenceError(f"{path}: not a readable image")
        if img.ndim == 3:
            img = img[..., ::-1]  # BGR -> RGB
    if grey:
        return budget.take(np.ascontiguousarray(img if img.ndim == 2 else img[..., 0]), path)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return budget.take(np.ascontiguousarray(img[..., :3]), path)


def _read_video(path: Path, max_frames: int, max_decoded_bytes: int, budget: _Budget) -> np.ndarray:
    """All frames of a video as uint8 ``[n, H, W, 3]`` RGB (OpenCV); at most ``max_frames``."""
    cv2 = _cv2()
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise SequenceError(f"{path}: not a readable video")
        frames = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if frame.nbytes > max_decoded_bytes:
                raise SequenceError(f"{path}: a frame of {frame.shape[1]}x{frame.shape[0]} is over the "
                                    f"{max_decoded_bytes} byte limit")
            frames.append(budget.take(frame[..., ::-1], path))  # BGR -> RGB, [H, W, 3]
            if len(frames) > max_frames:
                raise SequenceError(f"{path}: more than {max_frames} frames")
    finally:
        cap.release()
    if not frames:
        raise SequenceError(f"{path}: not a readable video (no frame decoded)")
    return np.ascontiguousarray(np.stack(frames))


def _read_numbers(path: Path, columns: int, n: int) -> np.ndarray:
    """``n`` lines of ``columns`` finite numbers (separated by spaces or commas) as float64 ``[n, columns]``."""
    rows = []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise SequenceError(f"{path}: unreadable ({e})") from None
    for i, line in enumerate(ln for ln in text.splitlines() if ln.strip()):
        try:
            vals = [float(v) for v in line.replace(",", " ").split()]
        except ValueError:
            raise SequenceError(f"{path}: line {i + 1} is not {columns} numbers: {line[:60]!r}") from None
        if len(vals) != columns or not all(math.isfinite(v) for v in vals):
            raise SequenceError(f"{path}: line {i + 1} must hold {columns} finite numbers, got {line[:60]!r}")
        rows.append(vals)
    if len(rows) != n:
        raise SequenceError(f"{path}: {len(rows)} lines for {n} frames")
    return np.asarray(rows, np.float64).reshape(n, columns)


def _stack(images: list[np.ndarray], paths: list[Path]) -> np.ndarray:
    for img, p in zip(images, paths):
        if img.shape != images[0].shape:
            raise SequenceError(f"{p}: size {img.shape[1]}x{img.shape[0]} differs from the sequence's first frame "
                                f"({images[0].shape[1]}x{images[0].shape[0]}, {paths[0].name})")
    return np.stack(images)


def read_rgb_sequence(root: str | Path, key: Key, layout: str, max_frames: int = 10000,
                      max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
                      max_sequence_bytes: int = DEFAULT_MAX_SEQUENCE_BYTES) -> RGBSequence:
    """Read one sequence of ``layout`` (module docstring). Raises :class:`SequenceError` (or ``OSError`` /
    ``ValueError`` from the PNG reader) naming the file that is missing, unreadable, or does not fit its frame.

    ``max_decoded_bytes`` bounds one PNG or video frame (checked before decoding a PNG), ``max_sequence_bytes`` the
    decoded frames and masks of the whole sequence, ``max_frames`` its frame count."""
    root = Path(root)
    budget = _Budget(max_sequence_bytes)
    if layout == "crops":
        return _read_crops(root, key, max_frames, max_decoded_bytes, budget)
    seq = root.joinpath(*key)
    if (seq / "frames").is_dir():
        paths = _images(seq / "frames")[: max_frames + 1]
        if len(paths) > max_frames:
            raise SequenceError(f"{seq / 'frames'}: more than {max_frames} frames")
        if not paths:
            raise SequenceError(f"{seq / 'frames'}: no image")
        frames = _stack([_read_image(p, False, max_decoded_bytes, budget) for p in paths], paths)
        names = [f"frames/{p.name}" for p in paths]
    else:
        videos = _videos(seq)
        if len(videos) != 1:
            raise SequenceError(f"{seq}: needs a frames/ folder or exactly one video.<ext> file")
        frames = _read_video(videos[0], max_frames, max_decoded_bytes, budget)
        names = [f"{videos[0].name}#{i}" for i in range(len(frames))]
    n, h, w = frames.shape[:3]
    out = RGBSequence(key, frames, names)
    if (seq / "masks").is_dir():
        mpaths = _images(seq / "masks")
        if len(mpaths) != n:
            raise SequenceError(f"{seq / 'masks'}: {len(mpaths)} masks for {n} frames")
        masks = []
        for p in mpaths:
            m = _read_image(p, True, max_decoded_bytes, budget)
            if m.shape != (h, w):
                raise SequenceError(f"{p}: mask is {m.shape[1]}x{m.shape[0]} but its frame is {w}x{h}")
            masks.append(m)
        out.masks = np.stack(masks)  # [n, H, W]
    if (seq / "boxes.txt").is_file():
        boxes = _read_numbers(seq / "boxes.txt", 4, n)
        bad = np.flatnonzero(~((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])))
        if bad.size:
            raise SequenceError(f"{seq / 'boxes.txt'}: line {bad[0] + 1} is not a box (x0 y0 x1 y1 with x1 > x0, "
                                "y1 > y0)")
        out.boxes = boxes
    if out.masks is None and out.boxes is None:
        raise SequenceError(f"{seq}: needs a masks/ folder or a boxes.txt file to find the person")
    return out


def _read_crops(root: Path, key: Key, max_frames: int, max_decoded_bytes: int, budget: _Budget) -> RGBSequence:
    im_dir, seg_dir = root.joinpath("crop_im", *key), root.joinpath("crop_seg", *key)
    paths = _images(im_dir)[: max_frames + 1]
    if len(paths) > max_frames:
        raise SequenceError(f"{im_dir}: more than {max_frames} frames")
    if not paths:
        raise SequenceError(f"{im_dir}: no image")
    segs = {p.stem: p for p in _images(seg_dir)} if seg_dir.is_dir() else {}
    frames = _stack([_read_image(p, False, max_decoded_bytes, budget) for p in paths], paths)
    n, h, w = frames.shape[:3]
    masks = []
    for p in paths:
        s = segs.get(p.stem)
        if s is None:
            raise SequenceError(f"{seg_dir / p.stem}.*: no segmentation for the crop {p}")
        m = _read_image(s, True, max_decoded_bytes, budget)
        if m.shape != (h, w):
            raise SequenceError(f"{s}: mask is {m.shape[1]}x{m.shape[0]} but its crop is {w}x{h}")
        masks.append(m)
    out = RGBSequence(key, frames, [f"crop_im/{'/'.join(key)}/{p.name}" for p in paths], masks=np.stack(masks),
                      is_crop=True)
    for folder in (im_dir, seg_dir):
        if (folder / "ratios.txt").is_file():
            r = _read_numbers(folder / "ratios.txt", 1, n)[:, 0]
            if not (r > 0).all():
                raise SequenceError(f"{folder / 'ratios.txt'}: ratios must be positive (width/height)")
            out.ratios = r.astype(np.float32)
            break
    else:
        # Without the ratios file the original box is unknown: a crop that kept its aspect ratio gives it exactly,
        # a stretched (square) crop does not. Said in every summary, never assumed silently.
        out.ratios = np.full(n, w / h, np.float32)
        out.notes.append(f"{im_dir}: no ratios.txt; ratio taken as the crop's width/height ({w}/{h}), right only "
                         "for crops that were not stretched")
    return out
