"""Pretreatment: silhouette size normalisation (OpenGait / GaitSet style) and RGB person crops with ratios.

The default normalisation (``resize="opengait"``) gives the same uint8 frames as OpenGait's
``datasets/pretreatment.py``: frames read by OpenCV as grey, OpenCV's cubic resize to the output height, the same
centring and the same drop rules. ``resize="antialias"`` resamples with antialiased bilinear weights instead and
keeps a frame whose median column is 0 (OpenGait drops it through a falsy-zero test). PNGs are read through
:mod:`gaitedge.data.png`; a file that cannot be read, or that would take more work than the bounds of
:mod:`gaitedge.limits` allow, is logged and skipped rather than ending the run.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np

from .._progress import progress_bar
from .._system import usable_cores
from ..limits import MAX_IMG_SIZE, MAX_RESAMPLE_ELEMENTS
from ._pool import worker_pool
from .png import DEFAULT_MAX_DECODED_BYTES, DEFAULT_MAX_FILE_BYTES, _cv2, read_png
from .resample import resample_matrix

logger = logging.getLogger(__name__)

__all__ = [
    "RESIZE_MODES",
    "normalise_silhouette",
    "normalise_sequence",
    "box_from_mask",
    "crop_box",
    "pretreat_rgb_sequence",
    "find_png_sequences",
    "pretreat_silhouette_folders",
]

RESIZE_MODES = ("opengait", "antialias")


def _as_grey(frame: np.ndarray, resize: str) -> np.ndarray:
    """``[H, W]`` view of a frame (first channel of ``[H, W, C]``); bool becomes 0/255, and for OpenCV's resize
    any other dtype is rounded and clipped to uint8. Non-finite values are refused."""
    img = np.asarray(frame)
    if img.ndim == 3:
        img = img[..., 0]
    if img.ndim != 2 or img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"frame must be a non-empty [H, W] or [H, W, C], got shape {np.shape(frame)}")
    if img.dtype == bool:
        return img.astype(np.uint8) * 255
    if img.dtype.kind not in "uif":
        raise ValueError(f"frame must hold numbers, got dtype {img.dtype}")
    if img.dtype.kind == "f" and not np.isfinite(img).all():
        raise ValueError("frame holds NaN or infinite values")
    if resize == "opengait" and img.dtype != np.uint8:
        img = np.clip(np.rint(img) if img.dtype.kind == "f" else img, 0, 255).astype(np.uint8)
    return img


def _check_resample(elements: int, what: str, limit: int) -> None:
    if elements > limit:
        raise ValueError(f"{what} builds an array of {elements} elements, over the limit of {limit} "
                         "(max_resample_elements)")


def _centre_window(resized: np.ndarray, x_centre: int, size: int, width: int) -> np.ndarray:
    """Columns ``[x_centre - size // 2, + width)`` of ``resized`` ``[size, new_w]``, zeros past either edge."""
    start = x_centre - size // 2
    lo, hi = max(0, -start), min(width, resized.shape[1] - start)
    out = np.zeros((size, width), np.uint8)  # [size, width]
    if hi > lo:
        out[:, lo:hi] = resized[:, start + lo : start + hi]
    return out


def _normalise_opengait(img: np.ndarray, size: int, min_sum: int, max_elements: int) -> np.ndarray | None:
    cv2 = _cv2()
    img = np.ascontiguousarray(img)
    # OpenCV's row sums are a tenth of numpy's time, and exact in int32 while a row's sum stays below 2^31
    if img.shape[1] * 255 < 2**31:
        row_sums = cv2.reduce(img, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S)[:, 0]  # [H]
    else:
        row_sums = img.sum(1, dtype=np.uint64)  # [H]
    if int(row_sums.sum(dtype=np.int64)) <= min_sum:
        return None
    rows = np.flatnonzero(row_sums)
    crop = img[rows[0] : rows[-1] + 1]  # [h, W], contiguous
    h, w = crop.shape
    new_w = int(size * (w / h))  # truncated, and computed in this order, as OpenGait does
    if new_w < 1:
        return None  # OpenCV cannot resize to zero columns (OpenGait's script stops there)
    _check_resample(size * new_w, f"resizing a {h}×{w} frame to height {size}", max_elements)
    resized = cv2.resize(crop, (new_w, size), interpolation=cv2.INTER_CUBIC)  # [size, new_w] uint8
    mass = cv2.reduce(resized, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S)[0].cumsum(dtype=np.int64)  # [new_w], exact
    past = mass > mass[-1] / 2
    x_centre = int(np.argmax(past))
    if not past[x_centre] or x_centre == 0:
        return None  # no centre, or a centre at column 0: OpenGait drops both
    # OpenGait takes size // 2 columns either side, so an odd size gives size - 1 columns
    return _centre_window(resized, x_centre, size, 2 * (size // 2))


def _normalise_antialias(img: np.ndarray, size: int, min_sum: int, max_elements: int) -> np.ndarray | None:
    # uint32 is exact for uint8 rows up to 16 million pixels wide, and twice as fast to accumulate as int64
    acc = np.uint32 if img.dtype == np.uint8 else np.float64 if img.dtype.kind == "f" else np.int64
    row_sums = img.sum(1, dtype=acc)
    if row_sums.sum() <= min_sum:
        return None
    rows = np.flatnonzero(row_sums > 0)
    crop = img[rows[0] : rows[-1] + 1]
    h, w = crop.shape
    new_w = max(1, int(round(w * size / h)))
    what = f"resizing a {h}×{w} frame to height {size}"
    _check_resample(max(size * h, new_w * w, size * new_w), what, max_elements)
    # Separable resize restricted to the non-empty columns: the empty ones add exact zeros, and the person is
    # usually a sixth of the frame's width, so this skips most of the work.
    cols = np.flatnonzero(crop.any(0))
    c0, c1 = int(cols[0]), int(cols[-1]) + 1
    wy = resample_matrix(h, size)  # [size, h]
    wx = resample_matrix(w, new_w)[:, c0:c1]  # [new_w, c1 - c0]
    resized = (wy @ crop[:, c0:c1].astype(np.float32)) @ wx.T  # [size, new_w]
    resized += 0.5
    resized = np.clip(resized, 0, 255, out=resized).astype(np.uint8)
    mass = resized.sum(0, dtype=np.float64).cumsum()
    if mass[-1] <= 0:
        return None
    x_centre = int(np.argmax(mass > mass[-1] / 2))  # first column past half the mass; 0 is a valid answer
    return _centre_window(resized, x_centre, size, size)


def normalise_silhouette(frame: np.ndarray, size: int = 64, min_sum: int = 10000, resize: str = "opengait",
                         max_resample_elements: int = MAX_RESAMPLE_ELEMENTS) -> np.ndarray | None:
    """Size-normalise one silhouette: crop rows, resize to height ``size`` keeping aspect, centre on the median column.

    Args:
        frame: ``[H, W]`` (or ``[H, W, C]``, first channel used) silhouette, 0 background, up to 255 foreground.
        size: output height (64 for CASIA-B; the loader cuts the 64 columns to 44).
        min_sum: frames whose pixel sum is ``<= min_sum`` are dropped (OpenGait's 10000 ≈ 40 white pixels).
        resize: ``"opengait"`` (default): OpenCV's cubic resize to width ``int(size · W / H)``, and the frame is
            dropped when its median column is 0 or the width truncates to 0: OpenGait's ``pretreatment.py``, frame
            for frame (needs OpenCV). ``"antialias"``: antialiased bilinear to the rounded width, median column 0
            kept.
        max_resample_elements: refuse (ValueError) a frame whose resize would build an array of more elements than
            this (an extreme shape such as 1×5000 pixels); see :mod:`gaitedge.limits`.

    Returns:
        uint8 ``[size, size]`` (``[size, size - 1]`` for an odd ``size`` in the ``"opengait"`` mode, as OpenGait),
        or None when the frame is dropped.
    """
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
    if not 2 <= size <= MAX_IMG_SIZE:
        raise ValueError(f"size must be in [2, {MAX_IMG_SIZE}], got {size}")
    img = _as_grey(frame, resize)
    if resize == "opengait":
        return _normalise_opengait(img, size, min_sum, max_resample_elements)
    return _normalise_antialias(img, size, min_sum, max_resample_elements)


def normalise_sequence(frames, size: int = 64, min_sum: int = 10000, resize: str = "opengait") -> np.ndarray:
    """Normalise every frame; dropped frames are skipped. Returns uint8 ``[n, size, width]`` (n may be 0; width as
    :func:`normalise_silhouette`)."""
    out = [f for f in (normalise_silhouette(fr, size, min_sum, resize) for fr in frames) if f is not None]
    width = 2 * (size // 2) if resize == "opengait" else size
    return np.stack(out) if out else np.zeros((0, size, width), np.uint8)


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
    frames: np.ndarray, masks: np.ndarray, boxes: np.ndarray | None = None, size: int = 128, aligned_size: int = 64,
    resize: str = "antialias",
) -> dict[str, np.ndarray]:
    """Build CASIA-B*'s four modalities from full RGB frames and person masks.

    Args:
        frames: uint8 ``[n, H, W, 3]`` RGB frames.
        masks: ``[n, H, W]`` person masks (bool or 0/255).
        boxes: optional ``[n, 4]`` detector boxes ``(x0, y0, x1, y1)``; the masks' tight boxes when omitted.
        size: crop side (128).
        aligned_size: size-normalised silhouette side before the 64 → 44 cut.
        resize: the aligned silhouettes' resampling (:func:`normalise_silhouette`); ``"antialias"`` needs no
            OpenCV, and keeps every frame with a non-empty mask.

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
        aligned = normalise_silhouette(binary, aligned_size, min_sum=0, resize=resize)
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


def find_png_sequences(root: str | Path, errors: dict[str, str] | None = None) -> list[tuple[str, str, str]]:
    """Sequences ``(id, type, view)`` under ``root/<id>/<type>/<view>/*.png``, sorted.

    A folder that cannot be listed is left out; its path and the reason go into ``errors`` when it is given.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"input root is not a directory: {root}")

    def entries(path: str) -> list[os.DirEntry]:
        try:
            with os.scandir(path) as it:
                return list(it)
        except OSError as e:
            if errors is None:
                raise
            errors[str(path)] = f"folder cannot be listed ({e.strerror or e})"
            return []

    def folders(path: str) -> list[os.DirEntry]:
        out = []
        for e in entries(path):
            try:
                if e.is_dir():
                    out.append(e)
            except OSError:  # a broken or looping link is not a folder
                pass
        return out

    # Three levels of folders, stopping at the first PNG of each view: globbing every frame costs a Path object
    # per file, a tenth of a second per 10,000 frames.
    keys = []
    for sid in folders(root):
        for seq in folders(sid.path):
            for view in folders(seq.path):
                if any(e.name.endswith(".png") for e in entries(view.path)):
                    keys.append((sid.name, seq.name, view.name))
    return sorted(keys)


def _pretreat_one(job) -> dict:
    """Worker: normalise one PNG folder and write it. A file that cannot be read, or that is over a bound, is
    skipped and reported, never fatal."""
    root, out_root, key, size, min_sum, fmt, resize, bounds = job
    from .formats import native, opengait  # late import keeps worker start-up small

    folder = os.path.join(root, *key)
    result = {"key": key, "read": 0, "kept": 0, "dropped": 0, "skipped": {}}
    try:
        with os.scandir(folder) as it:  # name order, as OpenGait; plain strings are cheaper than Paths per frame
            files = [os.path.join(folder, n) for n in sorted(e.name for e in it)
                     if n.endswith(".png") and "gei.png" not in n]  # OpenGait: any name containing it
    except OSError as e:
        result["skipped"][folder] = f"folder cannot be listed ({e.strerror or e})"
        return result
    kept = []
    for p in files:
        try:
            frame = read_png(p, bounds["max_decoded_bytes"], bounds["max_file_bytes"], grey=resize == "opengait")
            out = normalise_silhouette(frame, size, min_sum, resize, bounds["max_resample_elements"])
        except (ValueError, OSError) as e:
            reason = str(e)  # the path is the summary's key: not repeated in its reason
            result["skipped"][p] = reason[len(p) + 2 :] if reason.startswith(f"{p}: ") else reason
            continue
        except MemoryError:
            result["skipped"][p] = "out of memory while reading or resizing it"
            continue
        result["read"] += 1
        if out is not None:
            kept.append(out)
    result["kept"], result["dropped"] = len(kept), result["read"] - len(kept)
    if kept:
        arr = np.stack(kept)  # [n, size, width]
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
    resize: str = "opengait",
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_resample_elements: int = MAX_RESAMPLE_ELEMENTS,
) -> dict:
    """Size-normalise CASIA-B-style PNG silhouette folders in parallel.

    Reads ``input_root/<id>/<type>/<view>/*.png`` (``gei.png`` skipped) and writes either OpenGait's layout
    (``output_root/<id>/<type>/<view>/<view>.pkl``, uint8 ``[n, size, size]``) or gaitedge's native format
    (``aligned_sils.npy`` per sequence plus ``index.json``). A PNG that cannot be read (not a regular file, corrupt,
    truncated, or over a bound) or whose resize would be over ``max_resample_elements`` is skipped with a logged
    warning naming it; the run goes on and the summary lists it.

    Args:
        input_root: folder of PNG sequences.
        output_root: destination (created).
        size: normalised side: 64, the height the ``aligned_sils`` format holds (the loader cuts 64 columns to 44).
        workers: processes, one sequence at a time each, one thread each (1 = in-process); None = the usable cores.
        fmt: "opengait" or "native".
        min_sum: per-frame pixel-sum threshold below which a frame is dropped.
        progress: show a tqdm progress bar (on stderr, when it is a terminal).
        partition: optional ``{"TRAIN_SET": [...], "TEST_SET": [...]}`` written next to the data.
        max_decoded_bytes: per-file bound on the decoded image size, checked from the PNG header before decoding
            (see :func:`gaitedge.data.png.read_png`; the default holds a 4096×4096 RGBA frame).
        resize: ``"opengait"`` (OpenGait's ``pretreatment.py`` output, frame for frame) or ``"antialias"``; see
            :func:`normalise_silhouette`.
        max_file_bytes: per-file bound on the bytes read.
        max_resample_elements: per-frame bound on the arrays resizing builds.

    Returns:
        ``{"sequences": written, "read": frames decoded, "frames": frames kept and written, "dropped": (nearly)
        empty frames, "empty": [keys with no frame kept], "skipped": {path: reason} for files refused}``.
    """
    if fmt not in ("opengait", "native"):
        raise ValueError(f"fmt must be 'opengait' or 'native', got {fmt!r}")
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
    if size != 64:  # checked before any work: the formats' schema refuses every other height when writing
        raise ValueError(f"size must be 64: aligned_sils are stored [n, 64, 64] (cut to 64×44 when loaded), "
                         f"got {size}")
    bounds = {"max_decoded_bytes": max_decoded_bytes, "max_file_bytes": max_file_bytes,
              "max_resample_elements": max_resample_elements}
    for name, v in bounds.items():
        if not (isinstance(v, int) and v >= 1):
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    _cv2()  # a missing decoder is one clear ImportError here, not one per file in every worker
    unlisted: dict[str, str] = {}
    keys = find_png_sequences(input_root, errors=unlisted)
    output_root = Path(output_root)
    output_root.mkdir(parents=True, exist_ok=True)
    jobs = [(str(input_root), str(output_root), key, size, min_sum, fmt, resize, bounds) for key in keys]
    summary = {"sequences": 0, "read": 0, "frames": 0, "dropped": 0, "empty": [], "skipped": dict(unlisted)}
    for path, reason in unlisted.items():
        logger.warning("skipped %s: %s", path, reason)
    written = []
    bar = progress_bar(len(jobs), enabled=progress, unit="seq")
    workers = min(workers, max(1, len(jobs)))
    if workers == 1:
        results = map(_pretreat_one, jobs)
        pool = None
    else:
        pool = worker_pool(workers)
        # Several sequences per task amortise the inter-process round trip; small enough to keep all cores busy.
        results = pool.map(_pretreat_one, jobs, chunksize=max(1, min(16, len(jobs) // (8 * workers))))
    try:
        for r in results:
            bar.update(1)
            name = "/".join(r["key"])
            for path, reason in r["skipped"].items():
                logger.warning("skipped %s: %s", path, reason)
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
