"""SynthGait written as a user's RGB files would be: the inputs of ``gaitedge pretreat --rgb`` and ``gaitedge embed``.

SynthGait renders each frame straight into its person box, stretched to ``size × size``; it keeps the box's
width/height as ``ratios``. The two layouts (:mod:`gaitedge.data.rgb_sources`) are written from that:

- ``crops`` (CASIA-B*): ``crop_im/<id>/<type>/<view>/NNNN.png`` (the RGB crops), ``crop_seg/...`` (the 0/255
  silhouettes) and ``crop_im/.../ratios.txt``, exactly SynthGait's arrays.
- ``frames``: a full frame per crop, rebuilt by stretching the crop back to its box's aspect (height ``size``,
  width ``round(size · ratio)``, bilinear; the mask bilinear, then cut at 128) onto a black canvas with a ``size // 8``
  margin: ``frames/NNNN.png`` (or one ``video.mp4`` / ``video.mkv``), ``masks/NNNN.png`` and ``boxes.txt`` (the
  pasted box, a detector's output). Pretreating them resamples every crop twice, so they come back within the
  tolerances of ``tests/data/test_pretreat_rgb.py`` rather than bit for bit.

``partition.json`` (OpenGait's ``TRAIN_SET`` / ``TEST_SET``) is written at the root.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..png import _cv2, write_png
from .generator import SynthGait

__all__ = ["write_rgb_files", "VIDEO_CODECS"]

# container suffix -> OpenCV fourcc: MPEG-4 part 2 (lossy, everywhere) and FFV1 (lossless)
VIDEO_CODECS = {"mp4": "mp4v", "mkv": "FFV1"}


def _write_video(path: Path, frames: np.ndarray, codec: str) -> None:
    """uint8 ``[n, H, W, 3]`` RGB frames into one video file."""
    cv2 = _cv2()
    n, h, w, _ = frames.shape
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), 25.0, (w, h))
    if not writer.isOpened():
        raise OSError(f"{path}: OpenCV cannot write {codec} video here")
    try:
        for f in frames:
            writer.write(np.ascontiguousarray(f[..., ::-1]))  # RGB -> BGR
    finally:
        writer.release()


def _full_frames(seq: dict, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames uint8 ``[n, H, W, 3]``, masks uint8 ``[n, H, W]`` and the pasted boxes ``[n, 4]`` of one sequence."""
    cv2 = _cv2()
    m = size // 8
    widths = np.maximum(1, np.rint(size * seq["ratios"].astype(np.float64)).astype(int))  # [n]
    n = len(widths)
    # even sides: MPEG-4 encoders drop an odd last column or row
    frames = np.zeros((n, (size + 2 * m + 1) // 2 * 2, (int(widths.max()) + 2 * m + 1) // 2 * 2, 3), np.uint8)
    masks = np.zeros(frames.shape[:3], np.uint8)
    for i, w in enumerate(widths):
        rgb = np.ascontiguousarray(seq["rgbs"][i].transpose(1, 2, 0))  # [S, S, 3]
        frames[i, m : m + size, m : m + w] = cv2.resize(rgb, (int(w), size), interpolation=cv2.INTER_LINEAR)
        sil = cv2.resize(seq["sils"][i], (int(w), size), interpolation=cv2.INTER_LINEAR)
        masks[i, m : m + size, m : m + w] = np.where(sil >= 128, 255, 0)
    boxes = np.stack([np.full(n, m), np.full(n, m), m + widths, np.full(n, m + size)], 1)  # [n, 4]
    return frames, masks, boxes


def write_rgb_files(out_dir: str | Path, synth: SynthGait, layout: str = "frames", video: str | None = None,
                    keys=None) -> dict:
    """Write ``synth``'s sequences (all, or ``keys``) under ``out_dir`` in ``layout`` ("frames" or "crops").

    ``video`` ("mp4" or "mkv", frames layout only) writes each sequence's frames as one video instead of PNGs.
    Returns ``{"root", "sequences", "frames"}``.
    """
    if layout not in ("frames", "crops"):
        raise ValueError(f"layout must be 'frames' or 'crops', got {layout!r}")
    if video is not None and (layout != "frames" or video not in VIDEO_CODECS):
        raise ValueError(f"video must be one of {sorted(VIDEO_CODECS)} with the frames layout, got {video!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keys = synth.keys() if keys is None else list(keys)
    total = 0
    for key in keys:
        seq = synth.sequence(*key)
        n = len(seq["ratios"])
        total += n
        if layout == "crops":
            im, seg = out.joinpath("crop_im", *key), out.joinpath("crop_seg", *key)
            for i in range(n):
                write_png(im / f"{i:04d}.png", np.ascontiguousarray(seq["rgbs"][i].transpose(1, 2, 0)))
                write_png(seg / f"{i:04d}.png", seq["sils"][i])
            (im / "ratios.txt").write_text("".join(f"{float(r)!r}\n" for r in seq["ratios"]))
            continue
        folder = out.joinpath(*key)
        frames, masks, boxes = _full_frames(seq, synth.size)
        for i in range(n):
            if video is None:
                write_png(folder / "frames" / f"{i:04d}.png", frames[i])
            write_png(folder / "masks" / f"{i:04d}.png", masks[i])
        if video is not None:
            _write_video(folder / f"video.{video}", frames, VIDEO_CODECS[video])
        (folder / "boxes.txt").write_text("".join(" ".join(str(int(v)) for v in b) + "\n" for b in boxes))
    (out / "partition.json").write_text(json.dumps(synth.partition()))
    return {"root": str(out), "sequences": len(keys), "frames": total}
