"""Pretreatment: silhouette size normalisation (OpenGait / GaitSet style) and RGB person crops with ratios.

Differences from OpenGait's ``datasets/pretreatment.py`` (behaviour otherwise matched): a frame whose median
column is 0 is kept (OpenGait drops it through a falsy-zero test), and resampling is antialiased bilinear instead of
OpenCV's cubic. PNGs are read with OpenCV through :mod:`gaitedge.data.png`, as OpenGait does; like OpenGait, an
unreadable file is logged and skipped rather than ending the run.
"""

from __future__ import annotations

import logging
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from .._progress import progress_bar
from .._system import usable_cores
from .png import DEFAULT_MAX_DECODED_BYTES, read_png
from .resample import resample_matrix

logger = logging.getLogger(__name__)

__all__ = [
    "normalise_silhouette",
    "normalise_sequence",
    "box_from_mask",
    "crop_box",
    "pretreat_rgb_sequence",
    "find_png_sequences",
    "pretreat_silhouette_folders",
]


def normalise_silhouette(frame: np.ndarray, size: int = 64, min_sum: int = 10000) -> np.ndarray | None:
    """Size-normalise one silhouette: crop rows, resize to height ``size`` keeping aspect, centre on the median column.

    Args:
        frame: ``[H, W]`` (or ``[H, W, C]``, first channel used) silhouette, 0 background, up to 255 foreground.
        size: output height and width (64 for CASIA-B; cut to 44 columns at load time).
        min_sum: frames whose pixel sum is ``<= min_sum`` are dropped (OpenGait's 10000 ≈ 40 white pixels).

    Returns:
        uint8 ``[size, size]``, or None when the frame is (nearly) empty.
    """
    img = np.asarray(frame)
    if img.ndim == 3:
        img = img[..., 0]
    if img.ndim != 2:
        raise ValueError(f"frame must be [H, W] or [H, W, C], got shape {img.shape}")
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    # uint32 is exact for uint8 rows up to 16 million pixels wide, and twice as fast to accumulate as int64
    acc = np.uint32 if img.dtype == np.uint8 else np.float64 if img.dtype.kind == "f" else np.int64
    row_sums = img.sum(1, dtype=acc)
    if row_sums.sum() <= min_sum:
        return None
    rows = np.flatnonzero(row_sums > 0)
    crop = img[rows[0] : rows[-1] + 1]
    new_w = max(1, int(round(crop.shape[1] * size / crop.shape[0])))
    # Separable resize restricted to the non-empty columns: the empty ones add exact zeros, and the person is
    # usually a sixth of the frame's width, so this skips most of the work.
    cols = np.flatnonzero(crop.any(0))
    c0, c1 = int(cols[0]), int(cols[-1]) + 1
    wy = resample_matrix(crop.shape[0], size)  # [size, h]
    wx = resample_matrix(crop.shape[1], new_w)[:, c0:c1]  # [new_w, c1 - c0]
    resized = (wy @ crop[:, c0:c1].astype(np.float32)) @ wx.T
    resized += 0.5
    resized = np.clip(resized, 0, 255, out=resized).astype(np.uint8)
    mass = resized.sum(0, dtype=np.float64).cumsum()
    if mass[-1] <= 0:
        return None
    x_centre = int(np.argmax(mass > mass[-1] / 2))  # first column past half the mass; 0 is a valid answer
    # Columns [x_centre - size // 2, + size) of the resized image, zeros where that runs past either edge.
    start = x_centre - size // 2
    lo, hi = max(0, -start), min(size, new_w - start)
    out = np.zeros((size, size), np.uint8)
    out[:, lo:hi] = resized[:, start + lo : start + hi]
    return out


def normalise_sequence(frames, size: int = 64, min_sum: int = 10000) -> np.ndarray:
    """Normalise every frame; dropped frames are skipped. Returns uint8 ``[n, size, size]`` (n may be 0)."""
    out = [f for f in (normalise_silhouette(fr, size, min_sum) for fr in frames) if f is not None]
    return np.stack(out) if out else np.zeros((0, size, size), np.uint8)


def box_from_mask(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """Tight box ``(x0, y0, x1, y1)`` (pixel edges, exclusive end) of the non-zero pixels, or None if empty."""
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m[..., 0]
    ys = np.flatnonzero(m.any(1))
    xs = np.flatnonzero(m.any(0))
    if ys.size == 0:
        return None
    return float(xs[0]), float(ys[0]), float(xs[-1] + 1), float(ys[-1] + 1)


def crop_box(image: np.ndarray, box, size: int = 128) -> tuple[np.ndarray, float]:
    """Crop a box and stretch it to ``size × size`` (CASIA-B* style), returning the box's width/height ratio.

    Args:
        image: ``[H, W]`` or ``[H, W, C]`` frame.
        box: ``(x0, y0, x1, y1)`` in pixel-edge coordinates; may extend past the frame (edges are renormalised,
            far-outside samples are 0).
        size: output side.

    Returns:
        ``(crop, ratio)``: float32 ``[size, size(, C)]`` and ``(x1 - x0) / (y1 - y0)``.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0) or not np.isfinite([x0, y0, x1, y1]).all():
        raise ValueError(f"box must be finite (x0, y0, x1, y1) with x1 > x0 and y1 > y0, got {box}")
    img = np.asarray(image, dtype=np.float32)
    wy = resample_matrix(img.shape[0], size, y0, y1)
    wx = resample_matrix(img.shape[1], size, x0, x1)
    out = np.tensordot(wy, img, axes=(1, 0))  # [size, W, (C)]
    out = np.swapaxes(np.tensordot(wx, out, axes=(1, 1)), 0, 1)  # [size, size, (C)]
    return out.astype(np.float32), (x1 - x0) / (y1 - y0)


def pretreat_rgb_sequence(
    frames: np.ndarray, masks: np.ndarray, boxes: np.ndarray | None = None, size: int = 128, aligned_size: int = 64
) -> dict[str, np.ndarray]:
    """Build CASIA-B*'s four modalities from full RGB frames and person masks.

    Args:
        frames: uint8 ``[n, H, W, 3]`` RGB frames.
        masks: ``[n, H, W]`` person masks (bool or 0/255).
        boxes: optional ``[n, 4]`` detector boxes ``(x0, y0, x1, y1)``; the masks' tight boxes when omitted.
        size: crop side (128).
        aligned_size: size-normalised silhouette side before the 64 → 44 cut.

    Returns:
        ``{"rgbs": uint8 [m, 3, size, size], "sils": uint8 [m, size, size] 0/255, "ratios": float32 [m],
        "aligned_sils": uint8 [m, 64, 44]}``; frames with an empty mask are dropped (m <= n).
    """
    frames = np.asarray(frames)
    masks = np.asarray(masks)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be [n, H, W, 3], got shape {frames.shape}")
    if masks.shape != frames.shape[:3]:
        raise ValueError(f"masks must be [n, H, W] matching frames {frames.shape[:3]}, got {masks.shape}")
    if boxes is not None and np.shape(boxes) != (len(frames), 4):
        raise ValueError(f"boxes must be [n, 4], got shape {np.shape(boxes)}")
    cut = (aligned_size // 64) * 10
    out = {"rgbs": [], "sils": [], "ratios": [], "aligned_sils": []}
    for i in range(len(frames)):
        binary = (masks[i] > 0).astype(np.uint8) * 255
        aligned = normalise_silhouette(binary, aligned_size, min_sum=0)
        box = box_from_mask(binary) if boxes is None else boxes[i]
        if aligned is None or box is None:
            continue
        rgb, ratio = crop_box(frames[i], box, size)
        sil, _ = crop_box(binary, box, size)
        out["rgbs"].append(np.clip(rgb + 0.5, 0, 255).astype(np.uint8).transpose(2, 0, 1))
        out["sils"].append(np.where(sil >= 127.5, 255, 0).astype(np.uint8))
        out["ratios"].append(ratio)
        out["aligned_sils"].append(aligned[:, cut : aligned_size - cut])
    shapes = {"rgbs": (3, size, size), "sils": (size, size), "ratios": (), "aligned_sils": (aligned_size, aligned_size - 2 * cut)}
    dtypes = {"rgbs": np.uint8, "sils": np.uint8, "ratios": np.float32, "aligned_sils": np.uint8}
    return {
        k: (np.stack(v).astype(dtypes[k]) if v else np.zeros((0, *shapes[k]), dtypes[k])) for k, v in out.items()
    }


def find_png_sequences(root: str | Path) -> list[tuple[str, str, str]]:
    """Sequences ``(id, type, view)`` under ``root/<id>/<type>/<view>/*.png``, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"input root is not a directory: {root}")

    def folders(path: str) -> list[os.DirEntry]:
        with os.scandir(path) as it:
            return [e for e in it if e.is_dir()]

    # Three levels of folders, stopping at the first PNG of each view: globbing every frame costs a Path object
    # per file, a tenth of a second per 10,000 frames.
    keys = []
    for sid in folders(root):
        for seq in folders(sid.path):
            for view in folders(seq.path):
                with os.scandir(view.path) as it:
                    if any(e.name.endswith(".png") for e in it):
                        keys.append((sid.name, seq.name, view.name))
    return sorted(keys)


def _pretreat_one(job) -> dict:
    """Worker: normalise one PNG folder and write it. Unreadable files are skipped and reported, never fatal."""
    root, out_root, key, size, min_sum, fmt, max_decoded_bytes = job
    from .formats import native, opengait  # late import keeps worker start-up small

    folder = Path(root).joinpath(*key)
    with os.scandir(folder) as it:
        files = sorted(folder / e.name for e in it if e.name.endswith(".png") and e.name != "gei.png")
    frames, skipped = [], {}
    for p in files:
        try:
            frames.append(read_png(p, max_decoded_bytes))
        except (ValueError, OSError) as e:
            skipped[str(p)] = str(e)
    kept = [f for f in (normalise_silhouette(fr, size, min_sum) for fr in frames) if f is not None]
    result = {"key": key, "read": len(frames), "kept": len(kept), "dropped": len(frames) - len(kept),
              "skipped": skipped}
    if kept:
        arr = np.stack(kept)  # [n, size, size]
        if fmt == "opengait":
            opengait.write_sequence(out_root, key, {"aligned_sils": arr}, layout="casiab")
        else:
            native.write_sequence(out_root, key, {"aligned_sils": arr})
    return result


def default_workers() -> int:
    """One worker process per usable core."""
    return usable_cores()


def pretreat_silhouette_folders(
    input_root: str | Path,
    output_root: str | Path,
    size: int = 64,
    workers: int | None = None,
    fmt: str = "opengait",
    min_sum: int = 10000,
    progress: bool = False,
    partition: dict[str, list[str]] | None = None,
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
) -> dict:
    """Size-normalise CASIA-B-style PNG silhouette folders in parallel.

    Reads ``input_root/<id>/<type>/<view>/*.png`` (``gei.png`` skipped) and writes either OpenGait's layout
    (``output_root/<id>/<type>/<view>/<view>.pkl``, uint8 ``[n, size, size]``) or gaitedge's native format
    (``aligned_sils.npy`` per sequence plus ``index.json``). A PNG that cannot be read (corrupt, truncated, or over
    ``max_decoded_bytes``) is skipped with a logged warning naming it; the run goes on and the summary lists it.

    Args:
        input_root: folder of PNG sequences.
        output_root: destination (created).
        size: normalised side (64; cut to 44 columns at load time).
        workers: processes, one sequence at a time each (1 = in-process); None = the usable cores.
        fmt: "opengait" or "native".
        min_sum: per-frame pixel-sum threshold below which a frame is dropped.
        progress: show a tqdm progress bar (on stderr, when it is a terminal).
        partition: optional ``{"TRAIN_SET": [...], "TEST_SET": [...]}`` written next to the data.
        max_decoded_bytes: per-file bound on the decoded image size, checked from the PNG header before decoding
            (see :func:`gaitedge.data.png.read_png`; the default holds a 4096×4096 RGBA frame).

    Returns:
        ``{"sequences": written, "read": frames decoded, "frames": frames kept and written, "dropped": (nearly)
        empty frames, "empty": [keys with no frame kept], "skipped": {path: reason} for unreadable files}``.
    """
    if fmt not in ("opengait", "native"):
        raise ValueError(f"fmt must be 'opengait' or 'native', got {fmt!r}")
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    from .png import _cv2

    _cv2()  # a missing decoder is one clear ImportError here, not one per file in every worker
    keys = find_png_sequences(input_root)
    output_root = Path(output_root)
    output_root.mkdir(parents=True, exist_ok=True)
    jobs = [(str(input_root), str(output_root), key, size, min_sum, fmt, max_decoded_bytes) for key in keys]
    summary = {"sequences": 0, "read": 0, "frames": 0, "dropped": 0, "empty": [], "skipped": {}}
    written = []
    bar = progress_bar(len(jobs), enabled=progress, unit="seq")
    workers = min(workers, max(1, len(jobs)))
    if workers == 1:
        results = map(_pretreat_one, jobs)
        pool = None
    else:
        pool = ProcessPoolExecutor(max_workers=workers)
        # Several sequences per task amortise the inter-process round trip; small enough to keep all cores busy.
        results = pool.map(_pretreat_one, jobs, chunksize=max(1, min(16, len(jobs) // (8 * workers))))
    try:
        for r in results:
            bar.update(1)
            name = "/".join(r["key"])
            for path, reason in r["skipped"].items():
                logger.warning("skipped unreadable PNG %s: %s", path, reason)
            summary["skipped"].update(r["skipped"])
            summary["read"] += r["read"]
            summary["frames"] += r["kept"]
            summary["dropped"] += r["dropped"]
            if r["kept"] == 0:
                summary["empty"].append(name)
            else:
                summary["sequences"] += 1
                written.append((r["key"], r["kept"]))
                if r["kept"] < 5:
                    warnings.warn(f"{name}: only {r['kept']} frame(s) after pretreatment", stacklevel=2)
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
    from .formats import native, opengait

    if fmt == "native":
        native.write_index(output_root, [(k, n) for k, n in written], partition=partition, meta={"source": "png"})
    elif partition is not None:
        opengait.write_partition(output_root / "partition.json", partition)
    logger.info("pretreated %d sequences: %d frames read, %d kept, %d dropped as empty, %d files skipped",
                summary["sequences"], summary["read"], summary["frames"], summary["dropped"], len(summary["skipped"]))
    return summary
