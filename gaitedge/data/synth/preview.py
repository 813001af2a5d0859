"""A contact sheet of SynthGait frames (RGB next to its silhouette) per domain and condition, for the docs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..png import write_png
from .generator import SynthGait

__all__ = ["preview_sheet", "write_preview"]


def preview_sheet(
    seed: int = 0, subject: int = 0, types=("nm-01", "bg-01", "cl-01"), views=(0, 54, 90, 144), frame: int = 8,
    size: int = 96,
) -> np.ndarray:  # fmt: skip
    """uint8 ``[rows·size, cols·2·size, 3]``: one row per (domain, type), one RGB|silhouette pair per view."""
    rows = []
    for domain in ("indoor", "outdoor"):
        synth = SynthGait(domain, subjects=subject + 1, seed=seed, views=views, frames=frame + 1, size=size,
                          conditions={"nm": 1, "bg": 1, "cl": 1})  # fmt: skip
        for t in types:
            cells = []
            for v in views:
                seq = synth.sequence(subject, t, v)
                rgb = seq["rgbs"][frame].transpose(1, 2, 0)  # [S, S, 3]
                sil = np.repeat(seq["sils"][frame][..., None], 3, 2)
                cells += [rgb, sil, np.full((size, 2, 3), 255, np.uint8)]
            rows += [np.concatenate(cells, 1), np.full((2, cells[0].shape[1] * 0 + sum(c.shape[1] for c in cells), 3), 255, np.uint8)]
    return np.concatenate(rows, 0)


def write_preview(path: str | Path, **kwargs) -> None:
    """Write :func:`preview_sheet` as a PNG."""
    write_png(path, preview_sheet(**kwargs))
