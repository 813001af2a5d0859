"""Write SynthGait to disk in gaitedge's native format or OpenGait's CASIA-B* layout."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from ..formats import native, opengait
from .generator import VIEWS, SynthGait

__all__ = ["generate_synthgait"]

log = logging.getLogger(__name__)


def generate_synthgait(
    out_dir: str | Path,
    domain: str = "indoor",
    subjects: int = 16,
    seed: int = 0,
    fmt: str = "native",
    views: tuple[int, ...] | list[int] = VIEWS,
    frames: int | tuple[int, int] = 30,
    conditions: dict[str, int] | None = None,
    size: int = 128,
    jitter_prob: float = 0.0,
    jitter_pixels: float = 16.0,
    backgrounds: int | None = None,
    camera: str | None = None,
    train_fraction: float = 0.6,
    include_boxes: bool = False,
    overwrite: bool = False,
    progress: bool = False,
) -> dict:
    """Generate a SynthGait dataset on disk.

    Args:
        out_dir: destination folder (created; must be empty or absent unless ``overwrite``).
        domain: "indoor" (CASIA-B-like) or "outdoor" (TTG-200-like).
        subjects: number of identities.
        seed: master seed (same arguments → identical bytes).
        fmt: "native" (``<id>/<type>/<view>/<modality>.npy`` + ``index.json``) or "opengait" (CASIA-B* pickles
            ``<view>-{aligned-sils,ratios,rgbs,sils}.pkl`` + ``partition.json``).
        views: view angles in degrees.
        frames: frames per sequence (int or inclusive ``(low, high)``).
        conditions: sequences per condition, default ``{"nm": 6, "bg": 2, "cl": 2}``.
        size: RGB / silhouette crop side.
        jitter_prob: per-frame probability of a shifted crop box (alignment ablation); 0 disables.
        jitter_pixels: largest shift in crop pixels.
        backgrounds: scenes per domain (None: a new scene for every sequence); see :class:`SynthGait`.
        camera: the domain whose camera films the sequences (None: ``domain``'s own); see :class:`SynthGait`.
        train_fraction: share of ids in TRAIN_SET (the first ones).
        include_boxes: also store the crop boxes (native format only).
        overwrite: allow writing into a non-empty folder.
        progress: log one INFO line per subject (frames so far, seconds).

    Returns:
        Summary: ``{"root", "format", "sequences", "frames", "seconds", "frames_per_second", "partition"}``.
    """
    if fmt not in ("native", "opengait"):
        raise ValueError(f"fmt must be 'native' or 'opengait', got {fmt!r}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"output folder is not empty: {out} (pass overwrite=True)")
    out.mkdir(parents=True, exist_ok=True)
    synth = SynthGait(
        domain, subjects, seed, views=views, frames=frames, conditions=conditions, size=size,
        jitter_prob=jitter_prob, jitter_pixels=jitter_pixels, backgrounds=backgrounds, camera=camera,
    )  # fmt: skip
    partition = synth.partition(train_fraction)
    keep = ["rgbs", "sils", "ratios", "aligned_sils"] + (["boxes"] if include_boxes and fmt == "native" else [])
    written, total, start = [], 0, time.perf_counter()
    for key in synth.keys():
        seq = synth.sequence(*key)
        arrays = {k: seq[k] for k in keep}
        if fmt == "native":
            n = native.write_sequence(out, key, arrays)
        else:
            n = opengait.write_sequence(out, key, arrays, layout="casiab-star")
        written.append((key, n))
        total += n
        if progress and key[1] == synth.types[-1] and key[2] == synth.views[-1]:
            log.info("subject %s: %d frames, %.1fs", key[0], total, time.perf_counter() - start)
    seconds = time.perf_counter() - start
    meta = {
        "dataset": f"SynthGait-{domain}",
        "generator": {
            "domain": domain, "subjects": subjects, "seed": seed, "views": list(synth.view_angles),
            "frames": list(synth.frames), "conditions": synth.conditions, "size": size,
            "jitter_prob": jitter_prob, "jitter_pixels": jitter_pixels, "backgrounds": backgrounds,
            "camera": synth.camera,
        },
        "protocols": synth.protocols(),
    }  # fmt: skip
    if fmt == "native":
        native.write_index(out, written, partition=partition, meta=meta, modalities=keep)
    else:
        opengait.write_partition(out / "partition.json", partition)
        (out / "synthgait.json").write_text(json.dumps(meta, indent=1))
    return {
        "root": str(out), "format": fmt, "sequences": len(written), "frames": total, "seconds": seconds,
        "frames_per_second": total / max(seconds, 1e-9), "partition": partition,
    }  # fmt: skip
