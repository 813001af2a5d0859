"""RGB pretreatment: a user's RGB sequences (:mod:`gaitedge.data.rgb_sources`) -> CASIA-B*'s four modalities.

Per kept frame: ``rgbs`` uint8 ``[3, S, S]`` (the person box stretched to a square), ``sils`` uint8 ``[S, S]`` 0/255
(the mask, same crop), ``ratios`` float32 (width/height of the person box in the original frame, the ratio
GaitAlign restores), ``aligned_sils`` uint8 ``[64, 44]``: GaitAlign (``mode="opengait"``) of ``sils`` with the
ratio, which is what phase 2 computes from a perfect segmentation and what SynthGait stores. With boxes but no
masks only ``rgbs`` and ``ratios`` can be made (enough for ``gaitedge embed``, which segments the crops itself).

Masks are binarised at ``> 127``. A frame whose mask is empty is dropped and reported by name.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .._progress import progress_bar
from .._system import usable_cores
from ._pool import worker_pool
from .png import DEFAULT_MAX_DECODED_BYTES
from .pretreatment import crop_box, pretreat_rgb_sequence
from .rgb_sources import LAYOUTS, RGBSequence, SequenceError, find_rgb_sequences, read_rgb_sequence

logger = logging.getLogger(__name__)

__all__ = ["crop_modalities", "load_rgb_modalities", "pretreat_rgb_folders", "MASK_THRESHOLD"]

MASK_THRESHOLD = 127


def _aligned(sils: np.ndarray, ratios: np.ndarray) -> np.ndarray:
    from .synth.generator import _gait_align_sils  # the one GaitAlign-of-silhouettes helper; loads torch

    return _gait_align_sils(sils > 0, ratios)


def crop_modalities(seq: RGBSequence, size: int = 128) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The modalities of one sequence plus ``{frame name: reason}`` for every frame dropped.

    Raises :class:`SequenceError` (naming the sequence's first frame file) when no frame is left.
    """
    dropped: dict[str, str] = {}
    masks = None if seq.masks is None else np.where(seq.masks > MASK_THRESHOLD, 255, 0).astype(np.uint8)
    if masks is not None:
        empty = ~masks.reshape(len(masks), -1).any(1)  # [n]
        dropped.update({seq.names[i]: "empty mask, frame dropped" for i in np.flatnonzero(empty)})
        keep = np.flatnonzero(~empty)
    else:
        keep = np.arange(len(seq.frames))
    if keep.size == 0:
        raise SequenceError(f"{seq.names[0]}: every mask of the sequence is empty")
    if seq.is_crop:
        # A crop is the person box already: resample it whole to size x size; the ratio comes with it.
        full = (0.0, 0.0, float(seq.frames.shape[2]), float(seq.frames.shape[1]))
        rgbs = np.stack([crop_box(seq.frames[i], full, size)[0] for i in keep])  # [m, S, S, 3]
        sils = np.stack([crop_box(masks[i], full, size)[0] for i in keep])  # [m, S, S]
        out = {"rgbs": np.clip(rgbs + 0.5, 0, 255).astype(np.uint8).transpose(0, 3, 1, 2),
               "sils": np.where(sils >= 127.5, 255, 0).astype(np.uint8),
               "ratios": seq.ratios[keep].astype(np.float32)}
    elif masks is not None:
        boxes = None if seq.boxes is None else seq.boxes[keep]
        out = pretreat_rgb_sequence(seq.frames[keep], masks[keep], boxes, size=size)
        out.pop("aligned_sils")  # OpenGait-style size normalisation; replaced by GaitAlign below
    else:
        crops = [crop_box(seq.frames[i], seq.boxes[i], size) for i in keep]
        out = {"rgbs": np.stack([np.clip(c + 0.5, 0, 255).astype(np.uint8).transpose(2, 0, 1) for c, _ in crops]),
               "ratios": np.array([r for _, r in crops], np.float32)}
    if "sils" in out:
        out["aligned_sils"] = _aligned(out["sils"], out["ratios"])
    return out, dropped


def load_rgb_modalities(root: str | Path, key, layout: str, size: int = 128,
                        max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES) -> tuple[dict, dict, list[str]]:
    """Read and crop one sequence: ``(modalities, dropped frames, notes)``; errors name the file."""
    seq = read_rgb_sequence(root, key, layout, max_decoded_bytes=max_decoded_bytes)
    arrays, dropped = crop_modalities(seq, size)
    return arrays, dropped, seq.notes


def _pretreat_one(job) -> dict:
    """Worker: one sequence; any error in it is reported, never fatal to the run."""
    root, out_root, key, layout, size, fmt, max_decoded_bytes = job
    from .formats import native, opengait

    result = {"key": key, "kept": 0, "dropped": {}, "notes": [], "error": None, "box": None}
    try:
        arrays, result["dropped"], result["notes"] = load_rgb_modalities(root, key, layout, size, max_decoded_bytes)
    except (SequenceError, ValueError, OSError) as e:
        result["error"] = str(e)
        return result
    result["kept"] = len(arrays["rgbs"])
    result["modalities"] = sorted(arrays)
    if fmt == "opengait":
        opengait.write_sequence(out_root, key, arrays, layout="casiab-star")
    else:
        native.write_sequence(out_root, key, arrays)
    return result


def pretreat_rgb_folders(input_root: str | Path, output_root: str | Path, layout: str = "frames", size: int = 128,
                         workers: int | None = None, fmt: str = "opengait", progress: bool = False,
                         max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES) -> dict:
    """Pretreat every RGB sequence under ``input_root`` (``layout``: "frames" or "crops", see
    :mod:`gaitedge.data.rgb_sources`) into OpenGait's CASIA-B* pickles or the native layout.

    A sequence that cannot be used (unreadable video or image, a mask that does not match its frame, every mask
    empty, a bad boxes or ratios file) is skipped with a logged warning naming the file; the others are written.

    Returns:
        ``{"sequences": written, "frames": frames written, "dropped": {frame: reason}, "failed": {key: reason},
        "notes": [...]}``.
    """
    if fmt not in ("opengait", "native"):
        raise ValueError(f"fmt must be 'opengait' or 'native', got {fmt!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    workers = usable_cores() if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    from .png import _cv2

    _cv2()  # a missing decoder is one clear ImportError here, not one per sequence
    keys = find_rgb_sequences(input_root, layout)
    output_root = Path(output_root)
    output_root.mkdir(parents=True, exist_ok=True)
    jobs = [(str(input_root), str(output_root), key, layout, size, fmt, max_decoded_bytes) for key in keys]
    summary = {"sequences": 0, "frames": 0, "dropped": {}, "failed": {}, "notes": []}
    written, modalities = [], set()
    bar = progress_bar(len(jobs), enabled=progress, unit="seq")
    workers = min(workers, max(1, len(jobs)))
    pool = worker_pool(workers) if workers > 1 else None
    try:
        for r in (pool.map(_pretreat_one, jobs) if pool else map(_pretreat_one, jobs)):
            bar.update(1)
            name = "/".join(r["key"])
            summary["notes"] += r["notes"]
            summary["dropped"].update({f"{name}/{k}": v for k, v in r["dropped"].items()})
            if r["error"]:
                logger.warning("skipped sequence %s: %s", name, r["error"])
                summary["failed"][name] = r["error"]
                continue
            summary["sequences"] += 1
            summary["frames"] += r["kept"]
            modalities.update(r["modalities"])
            written.append((r["key"], r["kept"]))
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
    for note in summary["notes"]:
        logger.warning("%s", note)
    if fmt == "native":
        from .formats import native

        native.write_index(output_root, written, meta={"source": f"rgb-{layout}"}, modalities=sorted(modalities))
    logger.info("pretreated %d RGB sequences (%d frames); %d frames dropped, %d sequences failed",
                summary["sequences"], summary["frames"], len(summary["dropped"]), len(summary["failed"]))
    return summary
